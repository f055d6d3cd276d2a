"""The first hour, walked as a new user would: docs/getting-started.md and
docs/writing-plugins.md in a fresh virtual environment, from a clean copy of the checkout,
with a temporary HOME. The install commands the pages show (marked ``not run`` for the docs
tests, which must not change their environment) are run here as the pages write them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs_blocks import DOCS, ROOT, Block, _blocks

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]


def _shell_block(page: str, opening: str) -> Block:
    """The page's sh block whose first line starts with `opening`."""
    for block in _blocks(DOCS / page):
        if block.lang == "sh" and block.body.startswith(opening):
            return block
    raise AssertionError(f"docs/{page} has no sh block starting {opening!r}")


def _run(script: str, cwd: Path, env: dict[str, str], stdin: str = "") -> str:
    """Run `script` with bash, failing the test with its output if it fails."""
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"$ {script}\n{done.stdout}{done.stderr}"
    return done.stdout


def _session(*requests: dict[str, object]) -> str:
    opening = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "walk", "version": "0"},
        },
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    return "".join(json.dumps(m) + "\n" for m in (opening, initialized, *requests))


def test_getting_started_and_writing_plugins_in_a_fresh_venv(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MCP_RUNNER_", "VIRTUAL_ENV", "PYTHON"))
    }
    # a python of the version the tests run on, first on PATH (not the test env's scripts)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.base_prefix) / "bin")]
        + [p for p in env["PATH"].split(os.pathsep) if Path(sys.executable).parent != Path(p)]
    )
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))

    # getting-started: install from the checkout into a fresh venv, as the page says
    _run(_shell_block("getting-started.md", "python -m venv").body, checkout, env)
    venv_bin = checkout / ".venv" / "bin"
    env["PATH"] = os.pathsep.join([str(venv_bin), env["PATH"]])
    env["VIRTUAL_ENV"] = str(checkout / ".venv")
    plugins = json.loads(_run("mcp-runner plugins --json", checkout, env))
    status = {p["name"]: (p["status"], p["distribution"]) for p in plugins}
    assert status["files"] == ("ok", "mcp-runner-files")
    assert status["sqlite"] == ("ok", "mcp-runner-sqlite")
    answers = [
        json.loads(line)
        for line in _run(
            "mcp-runner serve",
            checkout,
            env,
            stdin=_session({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        ).splitlines()
    ]
    assert "read_file" in {t["name"] for t in answers[-1]["result"]["tools"]}

    # writing-plugins: the skeleton, installed and served
    work = tmp_path / "work"
    work.mkdir()
    _run(_shell_block("writing-plugins.md", "mcp-runner new weather").body, work, env)
    listed = _run("mcp-runner tools", work, env)
    assert "weather_hello  [weather]" in listed
    assert _run("mcp-runner call weather_hello name=Ada", work, env).strip() == "Hello, Ada!"

    # its tests, with the helpers as the docs write them (async, no marker, no conftest)
    _run("pip install --quiet -e './mcp-runner-weather[test]'", work, env)
    tested = _run("python -m pytest -q -p no:cacheprovider", work / "mcp-runner-weather", env)
    assert "2 passed" in tested

    # getting-started's "Connect a client": installed into a client's file under HOME
    _run("mcp-runner install claude-desktop", work, env)
    config = home / ".config" / "Claude" / "claude_desktop_config.json"
    entry = json.loads(config.read_text())["mcpServers"]["mcp-runner"]
    assert entry["command"] == str(venv_bin / "mcp-runner")
    client_env = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV",)}
    client_env["PATH"] = "/usr/bin:/bin"  # a client's reduced PATH
    served = subprocess.run(
        [entry["command"], *entry["args"]],
        input=_session({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**client_env, **entry.get("env", {})},
        timeout=60,
    )
    names = {t["name"] for t in json.loads(served.stdout.splitlines()[-1])["result"]["tools"]}
    assert {"weather_hello", "read_file", "query"} <= names, served.stderr
