"""`mcp-runner serve --reload`: a change to a plugin's source restarts the server, which
then serves the new code; stdio is refused; the supervisor's SIGTERM ends both processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mcp_runner.client import Client
from mcp_runner.reload import child_command, plugin_sources
from mcp_runner.testing import runner_command

pytestmark = pytest.mark.e2e

PLUGIN = """from mcp_runner import Plugin

plugin = Plugin("reloadable")


@plugin.tool
def answer() -> str:
    return {word!r}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _answer(url: str) -> str | None:
    try:
        async with Client.http(url, era="modern", connect_timeout=5) as client:
            return (await client.call_tool("answer")).text
    except Exception:
        return None  # restarting: nothing listens for a moment


def _wait_for(url: str, expected: str, timeout: float = 30.0) -> str | None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = asyncio.run(_answer(url))
        if got == expected:
            return got
        time.sleep(0.3)
    return got


def test_a_changed_plugin_is_served_after_the_restart(tmp_path: Path) -> None:
    module = tmp_path / "reloadable.py"
    module.write_text(PLUGIN.format(word="one"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env.update(PYTHONPATH=str(tmp_path), MCP_RUNNER_PLUGINS="reloadable")
    supervisor = subprocess.Popen(
        [
            *runner_command(),
            "serve",
            "--reload",
            "-t",
            "http",
            "--port",
            str(port),
            "--plugin",
            "reloadable",
            "--log-format",
            "console",
        ],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        assert _wait_for(url, "one") == "one"
        time.sleep(0.05)  # a later modification time, even on coarse clocks
        module.write_text(PLUGIN.format(word="two, after the change"))
        assert _wait_for(url, "two, after the change") == "two, after the change"
    finally:
        supervisor.send_signal(signal.SIGTERM)
        status = supervisor.wait(30)
        stderr = supervisor.stderr.read() if supervisor.stderr else ""
    assert status == 0, stderr
    assert f"mcp-runner: reloading on changes to {tmp_path / 'reloadable.py'}" in stderr
    assert re.search(r"reloadable\.py changed; restarting", stderr)
    with socket.socket() as sock:  # the server went with its supervisor
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_stdio_is_refused() -> None:
    done = subprocess.run(
        [*runner_command(), "serve", "--reload"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert "--reload needs --transport http" in done.stderr


def test_what_is_watched_and_how_the_server_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package plugin: its directory; a module plugin: its file; builtins, disabled
    plugins and modules that cannot be found: nothing."""
    (tmp_path / "pkg_plugin").mkdir()
    (tmp_path / "pkg_plugin" / "__init__.py").write_text(PLUGIN.format(word="x"))
    (tmp_path / "mod_plugin.py").write_text(PLUGIN.format(word="y"))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "off_plugin.py").write_text(PLUGIN.format(word="z"))
    records = [
        SimpleNamespace(source="builtin", value="mcp_runner.builtin.errors", status="ok"),
        SimpleNamespace(source="entry point", value="pkg_plugin:plugin", status="ok"),
        SimpleNamespace(source="command line", value="mod_plugin", status="failed"),
        SimpleNamespace(source="command line", value="no_such_module_here", status="failed"),
        SimpleNamespace(source="entry point", value="off_plugin:plugin", status="disabled"),
    ]
    assert plugin_sources(records) == [tmp_path / "mod_plugin.py", tmp_path / "pkg_plugin"]
    assert child_command(["serve", "--reload", "--directory", "d", "-t", "http"]) == [
        sys.executable,
        "-m",
        "mcp_runner",
        "serve",
        "-t",
        "http",
    ]
