"""The era of a backend session keeps the backend's behaviour: a FastMCP 4.x server whose
tool asks the user (``ctx.elicit``, which FastMCP refuses on 2026-07-28 connections) works
behind the proxy with the default config, for clients of either era, over HTTP and stdio.

FastMCP runs from the peers' virtualenv (benchmarks/peers.py installs it when missing); the
tests skip, saying why, where it cannot be installed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp_runner.builtin import proxy
from mcp_runner.builtin.proxy.backend import RENEW_AFTER
from mcp_runner.client import Client
from mcp_runner.runner import Runner
from mcp_runner.testing import make_runner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "proxy"
SERVER = FIXTURES / "fastmcp_elicit.py"
sys.path.insert(0, str(FIXTURES))
from helpers import SERVING, demo_env, mcp_runner  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def peers_python() -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from peers import ensure_peers

        return ensure_peers()
    except Exception as exc:  # no registry, no venv module: nothing to test against
        pytest.skip(f"FastMCP 4.x could not be installed into benchmarks/.venv-peers: {exc}")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def fastmcp_http(peers_python: Path) -> Iterator[str]:
    """The URL of the FastMCP server over Streamable HTTP."""
    proc = subprocess.Popen(
        [str(peers_python), str(SERVER), "http"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        found = SERVING.search(line)
        assert found, f"the FastMCP server did not start: {line!r}"
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


async def answer(params: dict[str, Any]) -> dict[str, Any]:
    assert params["message"] == "What is your name?"
    return {"action": "accept", "content": {"value": "Ada"}}


@asynccontextmanager
async def front(server: dict[str, Any], era: str) -> AsyncIterator[tuple[Runner, Client]]:
    runner = make_runner(settings={"proxy": {"servers": {"peer": server}}})
    async with Client.inprocess(runner, era=era, elicitation=answer) as client:
        yield runner, client


def backend_status(runner: Runner) -> dict[str, Any]:
    return next(e for e in proxy.mcp_runner_status(runner) or [] if e["name"] == "peer")


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_fastmcp_elicitation_over_http_with_the_default_config(
    fastmcp_http: str, era: str
) -> None:
    # Directly, a legacy client gets its answer (the behaviour to keep) ...
    async with Client.http(fastmcp_http, era="legacy", elicitation=answer) as direct:
        assert (await direct.call_tool("ask_name")).text == "Hello, Ada!"
    # ... and so does a client of either era through the proxy.
    async with front({"url": fastmcp_http}, era) as (runner, client):
        result = await client.call_tool("peer_ask_name")
        assert not result.is_error, result.text
        assert result.text == "Hello, Ada!"
        assert (await client.call_tool("peer_echo", {"text": "hi"})).text == "hi"
        status = backend_status(runner)
        assert status["era"] == "legacy" and status["server"]["name"] == "elicit-peer"


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_fastmcp_elicitation_over_stdio_with_the_default_config(
    peers_python: Path, era: str
) -> None:
    server = {"command": str(peers_python), "args": [str(SERVER), "stdio"]}
    async with front(server, era) as (runner, client):
        result = await client.call_tool("peer_ask_name")
        assert not result.is_error, result.text
        assert result.text == "Hello, Ada!"
        assert backend_status(runner)["era"] == "legacy"


async def test_a_session_of_2026_07_28_refuses_the_question(fastmcp_http: str) -> None:
    """What `era = "auto"` avoids: on a 2026-07-28 session FastMCP refuses to ask."""
    async with front({"url": fastmcp_http, "era": "modern"}, "legacy") as (runner, client):
        result = await client.call_tool("peer_ask_name")
        assert result.is_error and "unavailable on 2026-07-28" in result.text
        assert backend_status(runner)["era"] == "modern"


async def test_a_backend_of_2026_07_28_only_is_still_mounted() -> None:
    server = {"command": sys.executable, "args": [str(FIXTURES / "one_era_server.py"), "modern"]}
    async with front(server, "legacy") as (runner, client):
        assert (await client.call_tool("peer_echo", {"text": "x"})).text == "modern x"
        assert backend_status(runner)["era"] == "modern"


async def test_a_long_fastmcp_call_answers_pings_and_is_not_cut(peers_python: Path) -> None:
    """The liveness check's premise, on a third-party server: FastMCP answers pings while a
    call runs, so a call longer than ping_interval + ping_timeout goes through."""
    server = {
        "command": str(peers_python),
        "args": [str(SERVER), "stdio"],
        "ping_interval": 0.2,
        "ping_timeout": 2.0,
    }
    async with front(server, "legacy") as (runner, client):
        result = await client.call_tool("peer_wait", {"seconds": 3})
        assert not result.is_error, result.text
        assert result.text == "waited 3"
        assert backend_status(runner)["state"] == "ready"


def serve_demo(port: int, cwd: Path) -> subprocess.Popen[bytes]:
    """`mcp-runner serve` of the demo plugin over HTTP on `port`, once it listens."""
    proc = subprocess.Popen(
        [
            mcp_runner(),
            "serve",
            "--transport",
            "http",
            "--port",
            str(port),
            "--plugin",
            "proxy_demo",
        ],
        env=demo_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if SERVING.search(line.decode()):
            return proc
    raise AssertionError("the demo server did not start")


async def test_a_restarted_http_backend_costs_no_call(tmp_path: Path) -> None:
    """A legacy HTTP session ends with its server: a call the new server refuses (404, so
    it did not run) is sent again on the proxy's new session."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve_demo(port, tmp_path)
    try:
        backend = {"url": f"http://127.0.0.1:{port}/mcp"}
        async with front(backend, "legacy") as (runner, client):
            assert (await client.call_tool("peer_echo", {"text": "a"})).text == "a"
            assert backend_status(runner)["era"] == "legacy"
            await asyncio.sleep(RENEW_AFTER)  # a session lost sooner is renewed with backoff
            server.terminate()
            server.wait(10)
            server = serve_demo(port, tmp_path)
            result = await client.call_tool("peer_echo", {"text": "b"})
            assert not result.is_error, result.text
            assert result.text == "b"
            assert backend_status(runner)["restarts"] == 1
    finally:
        server.terminate()
        server.wait(10)
