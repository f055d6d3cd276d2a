"""sqlite: read-only SQL over one SQLite database (a demo bookshop when none is configured).

The database is opened with ``mode=ro``, ``PRAGMA query_only`` and ATTACH disabled, so SQLite
itself refuses every write; statements are never parsed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal

from mcp_runner import Context, McpError, Plugin, ToolError
from pydantic import BaseModel, ConfigDict, Field

from ._demo import demo_path, ensure_demo

__all__ = ["SqliteSettings", "plugin"]

INVALID_PARAMS = -32602
SAMPLE_ROWS = 5
READ_ONLY = {"readOnlyHint": True, "openWorldHint": False}

SqlValue = str | int | float | None


class SqliteSettings(BaseModel):
    """``[plugins.sqlite]``: the database served, and how much a query may return."""

    model_config = ConfigDict(extra="forbid")

    database: str | None = Field(
        default=None, description="Path of the database file; unset serves a demo database."
    )
    max_rows: int = Field(default=500, ge=1, description="Most rows one query returns.")
    query_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a statement may run before SQLite interrupts it."
    )


plugin = Plugin(
    "sqlite",
    description="Read-only SQL queries over a SQLite database",
    settings=SqliteSettings,
    instructions=(
        "sqlite: a read-only SQLite database. Use list_tables and describe_table (or the "
        "sqlite://schema resource) before writing SQL for the query tool."
    ),
)


class Table(BaseModel):
    name: str
    type: Literal["table", "view"]


class TableList(BaseModel):
    database: str
    tables: list[Table]


class Column(BaseModel):
    name: str
    type: str
    not_null: bool
    default: str | None
    primary_key: bool


class ForeignKey(BaseModel):
    column: str
    references_table: str
    references_column: str | None


class TableDescription(BaseModel):
    name: str
    type: Literal["table", "view"]
    columns: list[Column]
    foreign_keys: list[ForeignKey]
    row_count: int
    sql: str


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[list[SqlValue]]
    row_count: int = Field(description="Rows returned.")
    truncated: bool = Field(description="True if the query had more rows than max_rows.")


class TableSample(TableDescription):
    sample: QueryResult


class UnknownTable(ToolError):
    """No table or view of that name."""


# -- connections ------------------------------------------------------------------------------


def database_path(settings: SqliteSettings) -> Path:
    """The configured database, or the demo database (created on first use)."""
    if settings.database is not None:
        return Path(settings.database).expanduser().resolve()
    try:
        return ensure_demo(demo_path())
    except (OSError, sqlite3.Error) as exc:
        raise ToolError(f"Cannot create the demo database at {demo_path()}: {exc}") from None


@contextlib.contextmanager
def connect(settings: SqliteSettings) -> Iterator[sqlite3.Connection]:
    """A read-only connection for one call; SQLite errors become clear `ToolError`s."""
    path = database_path(settings)
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise ToolError(f"Cannot open database {path}: {exc}") from None
    deadline = time.monotonic() + settings.query_timeout
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # ATTACH could open a writable file
        conn.execute("PRAGMA query_only = ON")  # and TEMP tables are writable even in mode=ro
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        yield conn
    except (sqlite3.Error, sqlite3.Warning) as exc:
        raise ToolError(_explain(exc, path, settings)) from None
    finally:
        conn.close()


def _explain(exc: Exception, path: Path, settings: SqliteSettings) -> str:
    text = str(exc)
    if "readonly" in text:
        return (
            f"The database is read-only: {path} is opened with mode=ro, so INSERT, UPDATE, "
            f"DELETE, CREATE, DROP and other writes are refused (SQLite: {text})"
        )
    if "attached databases" in text:
        return (
            "The database is read-only: statements that attach a database (ATTACH, VACUUM) "
            f"are disabled (SQLite: {text})"
        )
    if text == "interrupted":
        return f"The query was interrupted after {settings.query_timeout:g} s (query_timeout)"
    return f"SQL error: {text}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(conn: sqlite3.Connection) -> list[Table]:
    rows = conn.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )
    return [Table(name=name, type=kind) for name, kind in rows]


def _schema(conn: sqlite3.Connection) -> str:
    rows = conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
    )
    return "".join(f"{sql};\n\n" for (sql,) in rows).rstrip("\n") + "\n"


def _describe(conn: sqlite3.Connection, table: str) -> TableDescription:
    found = conn.execute(
        "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name = ? COLLATE NOCASE",
        (table,),
    ).fetchone()
    if found is None:
        names = ", ".join(t.name for t in _tables(conn)) or "none"
        raise UnknownTable(f"No table or view named {table!r}; tables: {names}")
    name, kind, sql = found
    columns = [
        Column(name=c, type=t, not_null=bool(nn), default=d, primary_key=bool(pk))
        for c, t, nn, d, pk in conn.execute(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', (name,)
        )
    ]
    keys = [
        ForeignKey(column=f, references_table=t, references_column=to)
        for f, t, to in conn.execute(
            'SELECT "from", "table", "to" FROM pragma_foreign_key_list(?)', (name,)
        )
    ]
    count = conn.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0]
    return TableDescription(
        name=name, type=kind, columns=columns, foreign_keys=keys, row_count=count, sql=sql
    )


def _run(conn: sqlite3.Connection, sql: str, params: list[SqlValue], max_rows: int) -> QueryResult:
    cursor = conn.execute(sql, params)
    columns = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchmany(max_rows + 1) if cursor.description else []
    return QueryResult(
        columns=columns,
        rows=[[_value(v) for v in row] for row in rows[:max_rows]],
        row_count=min(len(rows), max_rows),
        truncated=len(rows) > max_rows,
    )


def _value(value: object) -> SqlValue:
    if isinstance(value, bytes):
        return f"X'{value.hex()}'" if len(value) <= 64 else f"<blob of {len(value)} bytes>"
    return value  # type: ignore[return-value]  # SQLite has no other types


# -- tools ------------------------------------------------------------------------------------


@plugin.tool(annotations=READ_ONLY)
def list_tables(ctx: Context) -> TableList:
    """List the tables and views of the database."""
    settings: SqliteSettings = ctx.settings
    with connect(settings) as conn:
        return TableList(database=str(database_path(settings)), tables=_tables(conn))


@plugin.tool(annotations=READ_ONLY)
def describe_table(ctx: Context, table: str) -> TableDescription:
    """Describe a table or view: its columns (type, primary key), foreign keys and row count.

    Args:
        table: The table or view name, as list_tables gives it.
    """
    with connect(ctx.settings) as conn:
        return _describe(conn, table)


@plugin.tool(annotations=READ_ONLY)
def query(ctx: Context, sql: str, params: list[SqlValue] | None = None) -> QueryResult:
    """Run one read-only SQL statement and return its columns and rows.

    At most max_rows rows are returned; `truncated` says when there were more. Writes
    (INSERT, UPDATE, DELETE, CREATE, DROP, ...) are refused: the database is read-only.

    Args:
        sql: One SQLite statement, with ? placeholders for parameters.
        params: Values for the ? placeholders, in order.
    """
    settings: SqliteSettings = ctx.settings
    with connect(settings) as conn:
        return _run(conn, sql, params or [], settings.max_rows)


# -- resources, prompt, completion ------------------------------------------------------------


@plugin.resource("sqlite://schema", name="schema", mime_type="application/sql")
def schema_resource(ctx: Context) -> str:
    """Every CREATE statement of the database: tables, indexes, views and triggers."""
    with connect(ctx.settings) as conn:
        return _schema(conn)


@plugin.resource("sqlite://tables/{table}", name="table", mime_type="application/json")
def table_resource(ctx: Context, table: str) -> TableSample:
    """A table's or view's description and its first rows, as JSON."""
    with connect(ctx.settings) as conn:
        try:
            info = _describe(conn, table)
        except UnknownTable as exc:
            uri = f"sqlite://tables/{table}"
            raise McpError(
                INVALID_PARAMS, f"Resource not found: {uri}: {exc}", {"uri": uri}
            ) from None
        sample = _run(conn, f"SELECT * FROM {_quote(info.name)}", [], SAMPLE_ROWS)
    return TableSample(**info.model_dump(), sample=sample)


@plugin.prompt
def write_query(ctx: Context, question: str) -> str:
    """Ask for a read-only SQLite query that answers a question about the database.

    Args:
        question: What you want to know, in plain words.
    """
    with connect(ctx.settings) as conn:
        schema = _schema(conn)
    return (
        "Write one SQLite SELECT statement that answers the question below, using only this "
        f"schema (the database is read-only):\n\n```sql\n{schema}```\n\n"
        "Use ? placeholders for literal values taken from the question, then run the statement "
        "with the `query` tool (sql and params) and answer from its rows.\n\n"
        f"Question: {question}"
    )


# Completions are not given a Context, so they use the settings of the serving lifespan.
_serving: SqliteSettings | None = None


@plugin.lifespan
async def _serve(settings: SqliteSettings) -> AsyncIterator[None]:
    """Create the demo database before serving; remember the settings for completions."""
    global _serving
    await asyncio.to_thread(database_path, settings)
    previous, _serving = _serving, settings
    try:
        yield
    finally:
        _serving = previous


@plugin.completion("sqlite://tables/{table}", "table")
async def complete_table(value: str) -> list[str]:
    """Table and view names starting with `value` (case-insensitive)."""
    settings = _serving
    if settings is None:
        return []
    try:
        tables = await asyncio.to_thread(_table_names, settings)
    except ToolError:
        return []
    return [name for name in tables if name.lower().startswith(value.lower())]


def _table_names(settings: SqliteSettings) -> list[str]:
    with connect(settings) as conn:
        return [t.name for t in _tables(conn)]
