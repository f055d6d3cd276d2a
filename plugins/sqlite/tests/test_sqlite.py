"""Tests of the sqlite plugin: in process through a Runner, and over stdio through the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from mcp_runner import Runner
from mcp_runner.config import Settings
from mcp_runner_sqlite import plugin


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A small shop: customers, orders (30 rows), an odd table name, and a blob."""
    path = tmp_path / "shop.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            '''
            CREATE TABLE customers (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                city TEXT DEFAULT 'Oslo'
            );
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER REFERENCES customers(id),
                total REAL NOT NULL
            );
            CREATE TABLE "odd ""name""" (data BLOB);
            CREATE INDEX orders_customer ON orders(customer_id);
            '''
        )
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(1, "Ada", "London"), (2, "Linus", "Helsinki")],
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)", [(i, 1 + i % 2, i * 1.5) for i in range(1, 31)]
        )
        conn.execute('INSERT INTO "odd ""name""" VALUES (?)', (b"\x00\x01\xff",))
        conn.commit()
    return path


def make_runner(database: Path | None, **options: Any) -> Runner:
    section = {"database": str(database) if database else None, **options}
    settings = Settings(plugins={"sqlite": {k: v for k, v in section.items() if v is not None}})
    return Runner(settings, plugins={"sqlite": plugin}, entry_points=False).start()


def call(runner: Runner, tool: str, **arguments: Any) -> dict[str, Any]:
    return asyncio.run(runner.call_tool(tool, arguments))


def ok(runner: Runner, tool: str, **arguments: Any) -> Any:
    result = call(runner, tool, **arguments)
    assert not result.get("isError"), result
    return result["structuredContent"]


def error(runner: Runner, tool: str, **arguments: Any) -> str:
    result = call(runner, tool, **arguments)
    assert result.get("isError"), result
    text: str = result["content"][0]["text"]
    return text


def request(runner: Runner, method: str, **params: Any) -> dict[str, Any]:
    return asyncio.run(runner.request(method, params))


def rows(path: Path, sql: str) -> list[Any]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


# -- tools ------------------------------------------------------------------------------------


def test_tools_are_typed(db: Path) -> None:
    tools = request(make_runner(db), "tools/list")["result"]["tools"]
    assert {t["name"] for t in tools} == {"list_tables", "describe_table", "query"}
    assert all("outputSchema" in t and t["annotations"]["readOnlyHint"] for t in tools)


def test_list_tables(db: Path) -> None:
    listing = ok(make_runner(db), "list_tables")
    assert listing["database"] == str(db)
    assert listing["tables"] == [
        {"name": "customers", "type": "table"},
        {"name": 'odd "name"', "type": "table"},
        {"name": "orders", "type": "table"},
    ]


def test_describe_table(db: Path) -> None:
    info = ok(make_runner(db), "describe_table", table="ORDERS")
    assert info["name"] == "orders" and info["type"] == "table"
    assert info["row_count"] == 30
    assert info["columns"] == [
        {"name": "id", "type": "INTEGER", "not_null": False, "default": None, "primary_key": True},
        {
            "name": "customer_id",
            "type": "INTEGER",
            "not_null": False,
            "default": None,
            "primary_key": False,
        },
        {"name": "total", "type": "REAL", "not_null": True, "default": None, "primary_key": False},
    ]
    assert info["foreign_keys"] == [
        {"column": "customer_id", "references_table": "customers", "references_column": "id"}
    ]
    assert info["sql"].startswith("CREATE TABLE orders")
    customers = ok(make_runner(db), "describe_table", table="customers")
    assert customers["columns"][2]["default"] == "'Oslo'"
    odd = ok(make_runner(db), "describe_table", table='odd "name"')
    assert odd["row_count"] == 1


def test_describe_unknown_table(db: Path) -> None:
    message = error(make_runner(db), "describe_table", table="nope")
    assert message == """No table or view named 'nope'; tables: customers, odd "name", orders"""


def test_query(db: Path) -> None:
    runner = make_runner(db)
    result = ok(runner, "query", sql="SELECT id, name FROM customers ORDER BY id")
    assert result == {
        "columns": ["id", "name"],
        "rows": [[1, "Ada"], [2, "Linus"]],
        "row_count": 2,
        "truncated": False,
    }
    found = ok(
        runner,
        "query",
        sql="SELECT name FROM customers WHERE city = ? AND id > ?",
        params=["Helsinki", 1],
    )
    assert found["rows"] == [["Linus"]]
    blob = ok(runner, "query", sql='SELECT data FROM "odd ""name"""')
    assert blob["rows"] == [["X'0001ff'"]]
    empty = ok(runner, "query", sql="SELECT * FROM orders WHERE id < 0")
    assert empty["columns"] == ["id", "customer_id", "total"] and empty["rows"] == []


def test_query_is_bounded_by_max_rows(db: Path) -> None:
    result = ok(make_runner(db, max_rows=10), "query", sql="SELECT id FROM orders ORDER BY id")
    assert result["rows"] == [[i] for i in range(1, 11)]
    assert result["row_count"] == 10 and result["truncated"]
    exact = ok(make_runner(db, max_rows=30), "query", sql="SELECT id FROM orders")
    assert exact["row_count"] == 30 and not exact["truncated"]


def test_query_errors(db: Path, tmp_path: Path) -> None:
    runner = make_runner(db)
    assert error(runner, "query", sql="SELEC 1").startswith('SQL error: near "SELEC"')
    assert error(runner, "query", sql="SELECT 1; SELECT 2").startswith("SQL error:")
    assert "bindings" in error(runner, "query", sql="SELECT ?", params=[])
    missing = tmp_path / "missing.db"
    assert error(make_runner(missing), "list_tables").startswith(f"Cannot open database {missing}")
    assert not missing.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers (name) VALUES ('Eve')",
        "UPDATE orders SET total = 0",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "PRAGMA user_version = 7",
        "VACUUM",
    ],
)
def test_writes_are_refused_by_sqlite(db: Path, sql: str) -> None:
    before = db.read_bytes()
    message = error(make_runner(db), "query", sql=sql)
    assert message.startswith("The database is read-only: ")
    if sql != "VACUUM":  # VACUUM attaches a scratch database, which is disabled
        assert f"{db} is opened with mode=ro" in message
        assert message.endswith("(SQLite: attempt to write a readonly database)")
    assert db.read_bytes() == before


def test_attach_is_refused(db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    message = error(make_runner(db), "query", sql=f"ATTACH '{other}' AS other")
    assert message == (
        "The database is read-only: statements that attach a database (ATTACH, VACUUM) are "
        "disabled (SQLite: too many attached databases - max 0)"
    )
    assert not other.exists()


def test_long_queries_are_interrupted(db: Path) -> None:
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    message = error(make_runner(db, query_timeout=0.2), "query", sql=endless)
    assert message == "The query was interrupted after 0.2 s (query_timeout)"


# -- the demo database ------------------------------------------------------------------------


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_demo_database_is_created_once(temp_dir: Path) -> None:
    demo = temp_dir / "mcp-runner-sqlite-demo.db"
    runner = make_runner(None)
    listing = ok(runner, "list_tables")
    assert listing["database"] == str(demo)
    assert [t["name"] for t in listing["tables"]] == ["authors", "book_revenue", "books", "sales"]
    counts = ok(
        runner,
        "query",
        sql="SELECT (SELECT count(*) FROM authors), (SELECT count(*) FROM books), "
        "(SELECT count(*) FROM sales)",
    )
    assert counts["rows"] == [[6, 10, 20]]
    stamp = demo.stat().st_mtime_ns
    ok(make_runner(None), "list_tables")
    assert demo.stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in temp_dir.iterdir()] == [demo.name]  # no leftovers
    assert "read-only" in error(runner, "query", sql="DELETE FROM sales")


def test_stale_demo_database_is_rebuilt(temp_dir: Path) -> None:
    demo = temp_dir / "mcp-runner-sqlite-demo.db"
    demo.write_text("not a database")
    assert ok(make_runner(None), "describe_table", table="books")["row_count"] == 10
    assert rows(demo, "PRAGMA user_version") == [(1,)]


def test_lifespan_creates_the_demo_database(temp_dir: Path) -> None:
    async def serve() -> None:
        async with make_runner(None).lifespan():
            assert (temp_dir / "mcp-runner-sqlite-demo.db").is_file()

    asyncio.run(serve())


# -- resources, prompt, completion ------------------------------------------------------------


def test_resource_listing(db: Path) -> None:
    runner = make_runner(db)
    resources = request(runner, "resources/list")["result"]["resources"]
    assert [(r["uri"], r["mimeType"]) for r in resources] == [
        ("sqlite://schema", "application/sql")
    ]
    templates = request(runner, "resources/templates/list")["result"]["resourceTemplates"]
    assert [t["uriTemplate"] for t in templates] == ["sqlite://tables/{table}"]


def test_schema_resource(db: Path) -> None:
    [content] = request(make_runner(db), "resources/read", uri="sqlite://schema")["result"][
        "contents"
    ]
    assert content["mimeType"] == "application/sql"
    text = content["text"]
    assert text.index("CREATE TABLE customers") < text.index("CREATE TABLE orders")
    assert "CREATE INDEX orders_customer ON orders(customer_id);" in text
    assert "sqlite_autoindex" not in text


def test_table_resource(db: Path) -> None:
    runner = make_runner(db)
    [content] = request(runner, "resources/read", uri="sqlite://tables/orders")["result"][
        "contents"
    ]
    assert content["mimeType"] == "application/json"
    table = json.loads(content["text"])
    assert table["name"] == "orders" and table["row_count"] == 30
    assert [c["name"] for c in table["columns"]] == ["id", "customer_id", "total"]
    assert table["sample"]["rows"][:2] == [[1, 2, 1.5], [2, 1, 3.0]]
    assert table["sample"]["row_count"] == 5 and table["sample"]["truncated"]
    quoted = request(runner, "resources/read", uri="sqlite://tables/odd%20%22name%22")
    assert json.loads(quoted["result"]["contents"][0]["text"])["sample"]["rows"] == [["X'0001ff'"]]


def test_table_resource_unknown(db: Path) -> None:
    answer = request(make_runner(db), "resources/read", uri="sqlite://tables/nope")
    assert answer["error"]["code"] == -32602
    assert answer["error"]["message"].startswith(
        "Resource not found: sqlite://tables/nope: No table"
    )


def test_write_query_prompt(db: Path) -> None:
    runner = make_runner(db)
    [prompt] = request(runner, "prompts/list")["result"]["prompts"]
    assert prompt["name"] == "write_query"
    assert prompt["arguments"] == [
        {
            "name": "question",
            "description": "What you want to know, in plain words.",
            "required": True,
        }
    ]
    result = request(
        runner, "prompts/get", name="write_query", arguments={"question": "Who spent most?"}
    )
    [message] = result["result"]["messages"]
    text = message["content"]["text"]
    assert message["role"] == "user"
    assert "CREATE TABLE orders" in text and "`query` tool" in text
    assert text.endswith("Question: Who spent most?")


def test_table_completion(db: Path) -> None:
    runner = make_runner(db)
    params = {
        "ref": {"type": "ref/resource", "uri": "sqlite://tables/{table}"},
        "argument": {"name": "table", "value": "o"},
    }

    async def complete() -> Any:
        return (await runner.request("completion/complete", params))["result"]["completion"]

    async def complete_while_serving() -> Any:
        async with runner.lifespan():
            return await complete()

    assert asyncio.run(complete_while_serving()) == {
        "values": ['odd "name"', "orders"],
        "total": 2,
        "hasMore": False,
    }
    assert asyncio.run(complete())["values"] == []  # completions need the serving lifespan


# -- the real CLI over stdio ------------------------------------------------------------------


def console_script() -> str:
    beside = Path(sys.executable).parent / "mcp-runner"
    found = str(beside) if beside.exists() else shutil.which("mcp-runner")
    if found is None:
        pytest.skip("the mcp-runner console script is not installed")
    return found


@pytest.mark.e2e
def test_cli_serves_sqlite_over_stdio(db: Path, tmp_path: Path) -> None:
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    }
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "query",
                "arguments": {"sql": "SELECT name FROM customers ORDER BY id"},
            },
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "query", "arguments": {"sql": "DELETE FROM customers"}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "completion/complete",
            "params": {
                "ref": {"type": "ref/resource", "uri": "sqlite://tables/{table}"},
                "argument": {"name": "table", "value": "cu"},
            },
        },
    ]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env = {**clean, "MCP_RUNNER_PLUGINS": "sqlite", "MCP_RUNNER_PLUGINS__SQLITE__DATABASE": str(db)}
    proc = subprocess.run(
        [console_script(), "serve"],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    answers = {m["id"]: m for m in map(json.loads, proc.stdout.splitlines())}
    assert answers[1]["result"]["protocolVersion"] == "2025-06-18"
    assert answers[2]["result"]["structuredContent"]["rows"] == [["Ada"], ["Linus"]]
    assert answers[3]["result"]["isError"]
    assert "read-only" in answers[3]["result"]["content"][0]["text"]
    assert answers[4]["result"]["completion"]["values"] == ["customers"]
    assert rows(db, "SELECT count(*) FROM customers") == [(2,)]
