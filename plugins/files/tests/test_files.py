"""Tests of the files plugin: in process through a Runner, and over stdio through the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_runner import Runner
from mcp_runner.config import Settings
from mcp_runner_files import plugin

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with text, code, a binary, a hidden dir and symlinks in and out; outside/ beside it."""
    root = tmp_path / "root"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("top secret\n")
    (root / "hello.txt").write_text("one\ntwo\nthree\nfour\n")
    (root / "src" / "app.py").write_text("import os\n\n\ndef main():\n    print('Hello')\n")
    (root / "src" / "pkg" / "util.py").write_text("HELLO = 1\n")
    (root / "src" / "notes.md").write_text("# Notes\nhello again\n")
    (root / ".hidden" / "hello.py").write_text("hello = 'hidden'\n")
    (root / "image.png").write_bytes(PNG)
    (root / "link_in.txt").symlink_to(root / "hello.txt")
    (root / "link_out.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (root / "dir_out").symlink_to(tmp_path / "outside")
    return root


def make_runner(*roots: Path, **options: Any) -> Runner:
    settings = Settings(plugins={"files": {"roots": [str(r) for r in roots], **options}})
    return Runner(settings, plugins={"files": plugin}, entry_points=False).start()


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


# -- tools --------------------------------------------------------------------------------------


def test_tools_are_typed(tree: Path) -> None:
    tools = request(make_runner(tree), "tools/list")["result"]["tools"]
    by_name = {t["name"]: t for t in tools}
    assert set(by_name) == {"list_roots", "list_directory", "read_file", "search_files"}
    assert all("outputSchema" in t for t in tools)
    assert by_name["read_file"]["inputSchema"]["required"] == ["path"]
    assert "1-based" in by_name["read_file"]["inputSchema"]["properties"]["offset"]["description"]


def test_default_root_is_the_working_directory(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    runner = Runner(Settings(), plugins={"files": plugin}, entry_points=False).start()
    assert ok(runner, "list_roots")["result"] == [{"path": str(tree), "uri": tree.as_uri()}]


def test_list_directory(tree: Path) -> None:
    listing = ok(make_runner(tree), "list_directory")
    assert listing["path"] == "."
    entries = {e["name"]: e for e in listing["entries"]}
    assert entries["hello.txt"] == {"name": "hello.txt", "type": "file", "size": 19}
    assert entries["src"]["type"] == "directory"
    assert entries["link_out.txt"]["type"] == "symlink"
    assert listing["total"] == len(listing["entries"]) == 7
    assert not listing["truncated"]

    sub = ok(make_runner(tree), "list_directory", path="src/pkg")
    assert sub["path"] == "src/pkg"
    assert [e["name"] for e in sub["entries"]] == ["util.py"]


def test_list_directory_is_bounded(tree: Path) -> None:
    listing = ok(make_runner(tree, max_results=3), "list_directory")
    assert len(listing["entries"]) == 3
    assert listing["total"] == 7 and listing["truncated"]


def test_list_directory_errors(tree: Path) -> None:
    runner = make_runner(tree)
    assert error(runner, "list_directory", path="nope") == "No such directory: 'nope'"
    assert error(runner, "list_directory", path="hello.txt") == "Not a directory: 'hello.txt'"


def test_read_file(tree: Path) -> None:
    runner = make_runner(tree)
    whole = ok(runner, "read_file", path="hello.txt")
    assert whole == {
        "path": "hello.txt",
        "text": "one\ntwo\nthree\nfour\n",
        "offset": 1,
        "lines": 4,
        "next_offset": None,
        "truncated": False,
    }
    part = ok(runner, "read_file", path="hello.txt", offset=2, limit=2)
    assert (part["text"], part["next_offset"], part["truncated"]) == ("two\nthree\n", 4, True)
    assert ok(runner, "read_file", path="hello.txt", offset=9)["text"] == ""
    assert ok(runner, "read_file", path="link_in.txt")["path"] == "hello.txt"  # a link inside
    assert ok(runner, "read_file", path=str(tree / "src" / "app.py"))["path"] == "src/app.py"


def test_read_file_respects_max_read_bytes(tree: Path) -> None:
    runner = make_runner(tree, max_read_bytes=9)
    first = ok(runner, "read_file", path="hello.txt")
    assert (first["text"], first["next_offset"]) == ("one\ntwo\n", 3)
    rest = ok(runner, "read_file", path="hello.txt", offset=first["next_offset"])
    assert (rest["text"], rest["next_offset"]) == ("three\n", 4)

    (tree / "long.txt").write_text("é" * 20 + "\nnext\n")  # one line longer than the budget
    long = ok(runner, "read_file", path="long.txt")
    assert long["text"] == "é" * 4  # cut at 9 bytes, without half a character
    assert (long["truncated"], long["next_offset"]) == (True, 2)


def test_read_file_refuses_binary(tree: Path) -> None:
    runner = make_runner(tree)
    assert "binary file" in error(runner, "read_file", path="image.png")
    (tree / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    assert "binary file" in error(runner, "read_file", path="latin1.txt")
    assert error(runner, "read_file", path="src") == "Not a regular file: 'src'"
    assert error(runner, "read_file", path="missing.txt") == "No such file: 'missing.txt'"
    assert "offset" in error(runner, "read_file", path="hello.txt", offset=0)


def test_search_by_pattern(tree: Path) -> None:
    runner = make_runner(tree)
    found = ok(runner, "search_files", pattern="*.py")
    # hidden directories are skipped, and so is the symlink out of the root
    assert [m["path"] for m in found["matches"]] == ["src/app.py", "src/pkg/util.py"]
    assert found["matches"][0] == {"path": "src/app.py", "line": None, "text": None}
    assert [m["path"] for m in ok(runner, "search_files", pattern="src/**/*.py")["matches"]] == [
        "src/app.py",
        "src/pkg/util.py",
    ]
    assert [m["path"] for m in ok(runner, "search_files", pattern="*.txt")["matches"]] == [
        "hello.txt",
        "link_in.txt",
    ]
    # a search started inside a hidden directory searches it
    hidden = ok(runner, "search_files", pattern="*.py", path=".hidden")
    assert [m["path"] for m in hidden["matches"]] == [".hidden/hello.py"]


def test_search_with_query(tree: Path) -> None:
    runner = make_runner(tree)
    found = ok(runner, "search_files", pattern="*", query="hello")
    assert found["matches"] == [
        {"path": "src/app.py", "line": 5, "text": "print('Hello')"},
        {"path": "src/notes.md", "line": 2, "text": "hello again"},
        {"path": "src/pkg/util.py", "line": 1, "text": "HELLO = 1"},
    ]
    assert found["skipped"] == 1  # image.png
    assert not found["truncated"]
    inside = ok(runner, "search_files", pattern="*.py", query="hello", path="src/pkg")
    assert inside["matches"] == [{"path": "src/pkg/util.py", "line": 1, "text": "HELLO = 1"}]


def test_search_is_bounded(tree: Path) -> None:
    (tree / "many.txt").write_text("x\n" * 50)
    found = ok(make_runner(tree, max_results=5), "search_files", pattern="many.txt", query="x")
    assert [m["line"] for m in found["matches"]] == [1, 2, 3, 4, 5]
    assert found["truncated"]
    names = ok(make_runner(tree, max_results=2), "search_files", pattern="*")
    assert len(names["matches"]) == 2 and names["truncated"]


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../outside/secret.txt", "link_out.txt", "dir_out/secret.txt", "src/../../outside/secret.txt"],
)
def test_paths_escaping_the_root_are_refused(tree: Path, path: str) -> None:
    message = error(make_runner(tree), "read_file", path=path)
    secret = tree.parent / "outside" / "secret.txt"
    assert message == (
        f"Access denied: {path!r} resolves to {secret}, outside the allowed roots ({tree})"
    )


def test_absolute_paths_outside_are_refused(tree: Path) -> None:
    runner = make_runner(tree)
    for tool, path in [
        ("read_file", "/etc/passwd"),
        ("list_directory", "/"),
        ("list_directory", ".."),
    ]:
        message = error(runner, tool, path=path)
        assert message.startswith(f"Access denied: {path!r}") and str(tree) in message
    assert error(runner, "search_files", pattern="*", path="dir_out").startswith("Access denied")
    assert "Cannot resolve path" in error(runner, "read_file", path="a\0b")


def test_symlink_loops_are_handled(tree: Path) -> None:
    (tree / "loop").symlink_to(tree / "loop")
    runner = make_runner(tree)
    assert (
        error(runner, "read_file", path="loop") == "Cannot resolve path 'loop': a loop of symlinks"
    )
    found = ok(runner, "search_files", pattern="loop", query="x")
    assert found["matches"] == [] and found["skipped"] == 0
    assert ok(runner, "search_files", pattern="loop")["matches"] == []


def test_search_walk_follows_its_own_rules(tree: Path) -> None:
    """What the walk looks at, the same on every Python: regular files, and symlinks that lead
    to one inside a root; never a loop, a dangling link, a link out or a special file."""
    (tree / "ping").symlink_to(tree / "pong")
    (tree / "pong").symlink_to(tree / "ping")  # a loop of two
    (tree / "dangling.txt").symlink_to(tree / "missing.txt")
    (tree / "chain.txt").symlink_to(tree / "link_in.txt")  # link to a link to hello.txt
    (tree / "src" / "up").symlink_to(tree)  # a directory cycle: not entered
    (tree / "src" / "dir_in").symlink_to(tree / "src" / "pkg")  # not entered either
    os.mkfifo(tree / "src" / "fifo.txt")
    runner = make_runner(tree)
    names = [m["path"] for m in ok(runner, "search_files", pattern="*")["matches"]]
    assert names == [
        "chain.txt",
        "hello.txt",
        "image.png",
        "link_in.txt",
        "src/app.py",
        "src/notes.md",
        "src/pkg/util.py",
    ]
    found = ok(runner, "search_files", pattern="*", query="two")
    assert found["matches"] == [
        {"path": "chain.txt", "line": 2, "text": "two"},
        {"path": "hello.txt", "line": 2, "text": "two"},
        {"path": "link_in.txt", "line": 2, "text": "two"},
    ]
    assert found["skipped"] == 1  # image.png
    assert error(runner, "read_file", path="ping").endswith("a loop of symlinks")


def test_several_roots(tree: Path, tmp_path: Path) -> None:
    other = tmp_path / "second"
    other.mkdir()
    (other / "other.txt").write_text("second root\n")
    runner = make_runner(tree, other)
    assert [r["path"] for r in ok(runner, "list_roots")["result"]] == [str(tree), str(other)]
    read = ok(runner, "read_file", path=str(other / "other.txt"))
    assert (read["path"], read["text"]) == (str(other / "other.txt"), "second root\n")
    assert error(runner, "read_file", path="other.txt") == "No such file: 'other.txt'"
    listing = ok(runner, "list_directory", path=str(other))
    assert listing["path"] == str(other)
    message = error(runner, "read_file", path=str(tmp_path / "outside" / "secret.txt"))
    assert f"outside the allowed roots ({tree}, {other})" in message


def test_missing_root_fails_the_plugin_clearly(tmp_path: Path) -> None:
    runner = make_runner(tmp_path / "missing")
    record = runner.host.records["files"]
    assert record.status == "failed" and record.phase == "config"
    assert f"not a directory: {tmp_path / 'missing'}" in (record.error or "")


# -- resources ------------------------------------------------------------------------------------


def read_resource(runner: Runner, uri: str) -> dict[str, Any]:
    return request(runner, "resources/read", uri=uri)


def test_resource_listing(tree: Path) -> None:
    runner = make_runner(tree)
    resources = request(runner, "resources/list")["result"]["resources"]
    assert [r["uri"] for r in resources] == ["files://roots"]
    templates = request(runner, "resources/templates/list")["result"]["resourceTemplates"]
    assert [t["uriTemplate"] for t in templates] == ["file:///{+path}"]
    [content] = read_resource(runner, "files://roots")["result"]["contents"]
    assert content["mimeType"] == "application/json"
    assert json.loads(content["text"]) == [{"path": str(tree), "uri": tree.as_uri()}]


def test_file_resource(tree: Path) -> None:
    runner = make_runner(tree)
    uri = (tree / "hello.txt").as_uri()
    [text] = read_resource(runner, uri)["result"]["contents"]
    assert text == {"uri": uri, "mimeType": "text/plain", "text": "one\ntwo\nthree\nfour\n"}
    [code] = read_resource(runner, (tree / "src" / "app.py").as_uri())["result"]["contents"]
    assert code["mimeType"] == "text/x-python"
    [image] = read_resource(runner, (tree / "image.png").as_uri())["result"]["contents"]
    assert image["mimeType"] == "image/png" and "blob" in image
    (tree / "with space.md").write_text("# spaced\n")
    [spaced] = read_resource(runner, (tree / "with space.md").as_uri())["result"]["contents"]
    assert spaced["text"] == "# spaced\n" and spaced["uri"].endswith("with%20space.md")


@pytest.mark.parametrize("target", ["link_out.txt", "../outside/secret.txt", "/etc/hostname"])
def test_file_resource_refuses_escapes(tree: Path, target: str) -> None:
    uri = "file://" + (target if target.startswith("/") else f"{tree}/{target}")
    answer = read_resource(make_runner(tree), uri)
    assert answer["error"]["code"] == -32602
    assert answer["error"]["message"].startswith("Access denied")


def test_file_resource_errors(tree: Path) -> None:
    runner = make_runner(tree, max_read_bytes=10)
    big = read_resource(runner, (tree / "hello.txt").as_uri())["error"]
    assert big["code"] == -32602 and "over max_read_bytes (10)" in big["message"]
    missing = read_resource(runner, (tree / "nope.txt").as_uri())["error"]
    assert missing["message"] == f"No such file: '{tree / 'nope.txt'}'"


# -- the real CLI over stdio ----------------------------------------------------------------------


def console_script() -> str:
    beside = Path(sys.executable).parent / "mcp-runner"
    found = str(beside) if beside.exists() else shutil.which("mcp-runner")
    if found is None:
        pytest.skip("the mcp-runner console script is not installed")
    return found


def serve_stdio(
    plugin_name: str, env: dict[str, str], messages: list[dict[str, Any]], cwd: Path
) -> dict[Any, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    proc = subprocess.run(
        [console_script(), "serve"],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        env={**clean, "MCP_RUNNER_PLUGINS": plugin_name, **env},
        cwd=cwd,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return {m.get("id"): m for m in map(json.loads, proc.stdout.splitlines())}


@pytest.mark.e2e
def test_cli_serves_files_over_stdio(tree: Path, tmp_path: Path) -> None:
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    }
    answers = serve_stdio(
        "files",
        {"MCP_RUNNER_PLUGINS__FILES__ROOTS": json.dumps([str(tree)])},
        [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "read_file", "arguments": {"path": "hello.txt", "limit": 1}},
            },
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "tools/call",
                "params": {"name": "read_file", "arguments": {"path": "../outside/secret.txt"}},
            },
        ],
        tmp_path,
    )
    assert answers[1]["result"]["serverInfo"]["name"] == "mcp-runner"
    assert {t["name"] for t in answers[2]["result"]["tools"]} == {
        "list_roots",
        "list_directory",
        "read_file",
        "search_files",
    }
    assert answers[3]["result"]["structuredContent"]["text"] == "one\n"
    assert answers[4]["result"]["isError"]
    assert "Access denied" in answers[4]["result"]["content"][0]["text"]
