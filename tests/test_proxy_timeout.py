"""A backend that is alive but stops answering (a real stdio backend, SIGSTOPped): its calls
fail with an error naming it and the timeout instead of hanging, it shows as ``unresponsive``
in ``mcp-runner plugins`` (the status hook) and in ``/readyz``, and it serves again once it
answers (SIGCONT)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_runner.builtin import proxy
from mcp_runner.builtin.proxy.config import ServerConfig
from mcp_runner.client import Client, Progress
from mcp_runner.runner import Runner
from mcp_runner.testing import make_runner
from mcp_runner.transports.http import McpHttpApp, Router

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "proxy"
sys.path.insert(0, str(FIXTURES))
from helpers import HttpServer, demo_backend, eventually  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP and SIGCONT are POSIX signals"),
]
PING = {"ping_interval": 0.3, "ping_timeout": 2.0}  # room for a loaded machine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_liveness_check_is_on_by_default() -> None:
    server = ServerConfig.model_validate({"command": "x"})
    assert (server.ping_interval, server.ping_timeout) == (10.0, 10.0)
    assert server.timeout is None  # a long call that keeps answering pings is not cut


def entry(runner: Runner) -> dict[str, Any]:
    return next(e for e in proxy.mcp_runner_status(runner) or [] if e["name"] == "demo2")


async def readyz(runner: Runner) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=Router(McpHttpApp(runner), "/mcp"))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = await client.get("/readyz")
    return answer.status_code, answer.json()


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_a_stopped_backend_fails_its_calls_and_recovers(tmp_path: Path, era: str) -> None:
    settings = {
        "proxy": {"servers": {"demo2": demo_backend(tmp_path, **PING)}},
        "health": {"ready_when_degraded": False},
    }
    runner = make_runner(settings=settings)
    async with Client.inprocess(runner, era=era) as client:
        pid = entry(runner)["pid"]
        assert (await client.call_tool("demo2_echo", {"text": "before"})).text == "before"
        started: list[Progress] = []
        slow = asyncio.create_task(
            client.call_tool("demo2_slow", {"seconds": 60}, progress=started.append)
        )
        await eventually(lambda: started)
        os.kill(pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            stuck = await client.call_tool("demo2_echo", {"text": "stuck"})
            assert time.monotonic() - began < 10
            assert stuck.is_error
            assert stuck.text == (
                "Backend 'demo2' is unresponsive (no answer to a ping within 2 s): "
                "the call was cancelled"
            )
            cut = await asyncio.wait_for(slow, 5)  # the call in flight before, too
            assert cut.is_error and "Backend 'demo2' is unresponsive" in cut.text

            status = entry(runner)
            assert status["state"] == "unresponsive"
            assert status["error"] == "no answer to a ping within 2 s"
            code, body = await readyz(runner)
            assert code == 503
            assert body["components"]["proxy"]["state"] == "degraded"
            assert body["components"]["proxy"]["backends"] == {"demo2": "unresponsive"}
            assert body["components"]["proxy"]["down"] == ["demo2"]

            began = time.monotonic()
            fast = await client.call_tool("demo2_echo", {"text": "fast"})
            assert time.monotonic() - began < 2
            assert fast.is_error and fast.text == (
                "Backend 'demo2' is unresponsive: no answer to a ping within 2 s"
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        await eventually(lambda: entry(runner)["state"] == "ready", timeout=10)
        assert "error" not in entry(runner) and entry(runner)["pid"] == pid
        assert (await client.call_tool("demo2_echo", {"text": "after"})).text == "after"
        code, body = await readyz(runner)
        assert code == 200 and body["components"]["proxy"]["backends"] == {"demo2": "ready"}


async def test_a_long_call_that_keeps_answering_pings_is_not_cut(tmp_path: Path) -> None:
    runner = make_runner(settings={"proxy": {"servers": {"demo2": demo_backend(tmp_path, **PING)}}})
    async with Client.inprocess(runner) as client:
        result = await client.call_tool("demo2_slow", {"seconds": 3})
        assert not result.is_error, result.text
        assert entry(runner)["state"] == "ready"


async def test_a_stopped_http_backend_is_unresponsive_until_it_answers(tmp_path: Path) -> None:
    """Over HTTP a stopped server still accepts connections (the kernel does); its requests
    just get no answer."""
    server = HttpServer("--plugin", "proxy_demo", cwd=tmp_path)
    try:
        backend = {"url": server.url, **PING}
        runner = make_runner(settings={"proxy": {"servers": {"demo2": backend}}})
        async with Client.inprocess(runner) as client:
            assert (await client.call_tool("demo2_echo", {"text": "before"})).text == "before"
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                stuck = await asyncio.wait_for(
                    client.call_tool("demo2_echo", {"text": "stuck"}), 10
                )
                assert stuck.is_error and "Backend 'demo2' is unresponsive" in stuck.text
                assert entry(runner)["state"] == "unresponsive"
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            await eventually(lambda: entry(runner)["state"] == "ready", timeout=10)
            assert (await client.call_tool("demo2_echo", {"text": "after"})).text == "after"
    finally:
        server.stop()


async def test_restart_unresponsive_after(tmp_path: Path) -> None:
    """With restart_unresponsive_after, a backend that stays stopped is killed and started
    again."""
    backend = demo_backend(tmp_path, restart_unresponsive_after=1.0, **PING)
    servers = {"demo2": backend}
    restart = {"initial_delay": 0.2, "max_delay": 1.0}
    runner = make_runner(settings={"proxy": {"servers": servers, "restart": restart}})
    async with Client.inprocess(runner) as client:
        old = entry(runner)["pid"]
        os.kill(old, signal.SIGSTOP)
        try:
            await eventually(lambda: entry(runner)["state"] == "unresponsive", timeout=10)
            await eventually(lambda: entry(runner)["state"] == "restarting", timeout=10)
            assert "unresponsive for 1 s, so restarted" in entry(runner)["error"]
            await eventually(lambda: entry(runner)["state"] == "ready", timeout=20)
            status = entry(runner)
            assert status["pid"] != old and status["restarts"] == 1
            assert (await client.call_tool("demo2_echo", {"text": "new"})).text == "new"
            await eventually(lambda: not Path(f"/proc/{old}").exists() or _zombie(old))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(old, signal.SIGCONT)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
