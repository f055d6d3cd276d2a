"""The MCP Inspector CLI (2.12.x) as a third real client: tools/list and tools/call over
Streamable HTTP (legacy, auto and modern era) and over stdio (`mcp-runner serve` as the command).

Needs Node and an installed Inspector; nothing is downloaded here. The Inspector is looked up
in ``$MCP_INSPECTOR`` (path to its ``mcp-inspector`` launcher; the tox ``tests`` env installs
it from the npm registry). Otherwise the module is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import http_helpers as h
import pytest

_configured = os.environ.get("MCP_INSPECTOR", "")
LAUNCHER = Path(_configured).resolve() if _configured and Path(_configured).is_file() else None
NODE = shutil.which("node")
CALL_TIMEOUT = 60

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        NODE is None, reason="node is not on PATH (the MCP Inspector CLI needs Node)"
    ),
    pytest.mark.skipif(
        LAUNCHER is None,
        reason="MCP Inspector CLI not installed: set MCP_INSPECTOR to the mcp-inspector launcher "
        "of @modelcontextprotocol/inspector@2.12.0 (the tox `tests` env installs it)",
    ),
]


def inspector(*args: str, cwd: str | None = None) -> dict[str, Any]:
    """Run ``mcp-inspector --cli ... --format json -q`` and return its JSON output."""
    command = [str(NODE), str(LAUNCHER), "--cli", *args, "--format", "json", "-q"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (
        f"inspector failed ({done.returncode}): {done.stdout}\n{done.stderr}"
    )
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
    assert lines, f"no JSON from the inspector: {done.stdout!r} {done.stderr!r}"
    output = json.loads(lines[-1])
    assert "error" not in output, output
    return output["result"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server() -> Any:
    with h.ServerProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def workdir() -> Any:
    with tempfile.TemporaryDirectory(prefix="mcp-runner-inspector-") as path:
        yield path


def check_tools_list(result: dict[str, Any]) -> None:
    # The Inspector prints the collected tools only (no _meta), whatever the era.
    names = {tool["name"] for tool in result["tools"]}
    assert {"add", "echo", "progress", "ask_name"} <= names
    add = next(t for t in result["tools"] if t["name"] == "add")
    assert add["inputSchema"]["required"] == ["a", "b"]


def check_add(result: dict[str, Any], modern: bool) -> None:
    assert result["content"] == [{"type": "text", "text": "5"}]
    assert result["structuredContent"] == {"result": 5}
    assert not result.get("isError")
    if modern:
        assert result["_meta"][h.META_SERVER_INFO]["name"] == "mcp-runner"
    else:
        assert "_meta" not in result or h.META_SERVER_INFO not in result["_meta"]


ERAS = [("legacy", False), ("auto", True), ("modern", True)]


@pytest.mark.parametrize("era", [era for era, _ in ERAS])
def test_http_tools_list(server: Any, era: str) -> None:
    check_tools_list(inspector(server.url, "--protocol-era", era, "--method", "tools/list"))


@pytest.mark.parametrize(("era", "modern"), ERAS)
def test_http_tools_call(server: Any, era: str, modern: bool) -> None:
    result = inspector(
        server.url,
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "add",
        "--tool-arg",
        "a=2",
        "b=3",
    )
    check_add(result, modern)


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_http_tools_call_json_arguments(server: Any, era: str) -> None:
    text = 'grüße, "quoted" ✓'
    result = inspector(
        server.url,
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "echo",
        "--tool-args-json",
        json.dumps({"text": text}),
    )
    assert result["content"] == [{"type": "text", "text": text}]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_http_resource_and_prompt(server: Any, era: str) -> None:
    read = inspector(
        server.url, "--protocol-era", era, "--method", "resources/read", "--uri", "demo://items/1"
    )
    assert json.loads(read["contents"][0]["text"]) == {"id": "1", "name": "one"}
    prompt = inspector(
        server.url,
        "--protocol-era",
        era,
        "--method",
        "prompts/get",
        "--prompt-name",
        "greet",
        "--prompt-args",
        "name=Ada",
    )
    assert prompt["messages"][0]["content"]["text"] == "Hello, Ada!"


def _stdio_target() -> list[str]:
    env = h.server_env()
    return [
        "-e",
        f"PYTHONPATH={env['PYTHONPATH']}",
        "-e",
        "MCP_RUNNER_PLUGINS=http_demo",
        "-e",
        "PYTHONDONTWRITEBYTECODE=1",
        sys.executable,
        "-m",
        "mcp_runner",
        "serve",
        "--plugin",
        "http_demo:plugin",
    ]


@pytest.mark.parametrize(("era", "modern"), [("legacy", False), ("modern", True)])
def test_stdio_tools_list_and_call(workdir: str, era: str, modern: bool) -> None:
    listed = inspector(
        *_stdio_target(), "--protocol-era", era, "--method", "tools/list", cwd=workdir
    )
    check_tools_list(listed)
    called = inspector(
        *_stdio_target(),
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "add",
        "--tool-arg",
        "a=2",
        "b=3",
        cwd=workdir,
    )
    check_add(called, modern)
