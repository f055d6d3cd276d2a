"""``mcp-runner serve --transport http --workers N``: N processes on one port, drained together
by SIGTERM within ``shutdown_grace`` (exit 0), and legacy sessions refused with a message that
names the fix when no shared state backend is configured (never a silent 404)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_helpers import (
    initialize_request,
    legacy_headers,
    modern_headers,
    modern_request,
    runner_command,
    server_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
BANNER = re.compile(r'serving(?: |", "url": ")(http://[^\s"]+)(?: \(|", "note": ")(\d+) workers')


class Workers:
    """``mcp-runner serve --transport http --workers N`` with the http_demo plugin."""

    def __init__(self, workers: int, env: dict[str, str] | None = None) -> None:
        self._cwd = tempfile.TemporaryDirectory(prefix="mcp-runner-workers-")
        self.proc = subprocess.Popen(
            runner_command(
                "serve",
                "--transport",
                "http",
                "--port",
                "0",
                "--plugin",
                "http_demo:plugin",
                "--workers",
                str(workers),
            ),
            cwd=self._cwd.name,
            env=server_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        found = threading.Event()
        self.url = ""

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                match = BANNER.search(line)
                if match and not self.url:
                    self.url = match.group(1)
                    found.set()
            found.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not found.wait(20) or not self.url:
            self.close()
            raise RuntimeError(f"no banner: {''.join(self.lines)}")

    def worker_pids(self) -> list[int]:
        """The parent's children, read from /proc."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            for pid in self.worker_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)
        self._cwd.cleanup()


@pytest.fixture
def workers() -> Iterator[Workers]:
    server = Workers(2, {"MCP_RUNNER_SHUTDOWN_GRACE": "5"})
    try:
        yield server
    finally:
        server.close()


def _call(url: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One 2026-07-28 tools/call on a connection of its own (so calls spread over workers)."""
    params = {"name": name, "arguments": arguments}
    request = modern_request("tools/call", params)
    with httpx.Client(timeout=30) as client:
        answer: dict[str, Any] = client.post(
            url, json=request, headers=modern_headers("tools/call", params)
        ).json()
    return answer


def test_n_workers_serve_one_port(workers: Workers) -> None:
    deadline = time.monotonic() + 10
    while len(workers.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers.worker_pids()) == 2
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _call(workers.url, "add", {"a": i, "b": 1}), range(40)))
    assert [a["result"]["structuredContent"]["result"] for a in answers] == list(range(1, 41))


def test_input_required_rounds_cross_workers_without_a_configured_ring(workers: Workers) -> None:
    for _ in range(10):  # each request on a new connection: some rounds change worker
        caps = {"elicitation": {}}
        params: dict[str, Any] = {"name": "ask_name", "arguments": {}}
        with httpx.Client(timeout=30) as client:
            first = client.post(
                workers.url,
                json=modern_request("tools/call", params, capabilities=caps),
                headers=modern_headers("tools/call", params),
            ).json()["result"]
        key = next(iter(first["inputRequests"]))
        params |= {
            "inputResponses": {key: {"action": "accept", "content": {"name": "Ada"}}},
            "requestState": first["requestState"],
        }
        with httpx.Client(timeout=30) as client:
            done = client.post(
                workers.url,
                json=modern_request("tools/call", params, capabilities=caps),
                headers=modern_headers("tools/call", params),
            ).json()["result"]
        assert done["content"] == [{"type": "text", "text": "accept:Ada"}]


def test_legacy_sessions_are_refused_with_the_fix_named(workers: Workers) -> None:
    with httpx.Client(timeout=30) as client:
        response = client.post(
            workers.url, json=initialize_request(), headers=legacy_headers(version=None)
        )
    assert "mcp-session-id" not in response.headers
    message = response.json()["error"]["message"]
    assert "2 worker processes without a shared state backend" in message
    assert "2026-07-28" in message and "--workers 1" in message and "redis" in message


def test_the_sdk_client_in_legacy_mode_gets_the_refusal(workers: Workers) -> None:
    mcp = pytest.importorskip("mcp")

    async def scenario() -> None:
        with pytest.raises(Exception) as refused:
            async with mcp.Client(workers.url, mode="legacy", read_timeout_seconds=10):
                pass
        assert "without a shared state backend" in " ".join(_leaves(refused.value))
        async with mcp.Client(workers.url, read_timeout_seconds=10) as client:  # 2026-07-28
            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert result.structured_content == {"result": 5}

    asyncio.run(asyncio.wait_for(scenario(), 30))


def _leaves(exc: BaseException) -> list[str]:
    """The messages of an exception, or of every exception an exception group holds."""
    if isinstance(exc, BaseExceptionGroup):
        return [m for inner in exc.exceptions for m in _leaves(inner)]
    return [str(exc)]


def test_sigterm_drains_every_worker_within_the_grace_and_exits_0(workers: Workers) -> None:
    with ThreadPoolExecutor(8) as pool:
        calls = [pool.submit(_call, workers.url, "slow", {"seconds": 1.5}) for _ in range(8)]
        time.sleep(0.7)  # every call is in flight, on both workers
        stopped = time.monotonic()
        workers.proc.send_signal(signal.SIGTERM)
        answers = [call.result(30) for call in calls]
    assert workers.proc.wait(15) == 0, "".join(workers.lines)
    assert time.monotonic() - stopped < 5  # the grace
    assert all(a["result"]["content"][0]["text"] == "slept 1.5" for a in answers), answers
    assert workers.worker_pids() == []


def test_a_call_longer_than_the_grace_is_answered_with_an_error_and_the_exit_is_0() -> None:
    server = Workers(2, {"MCP_RUNNER_SHUTDOWN_GRACE": "0.5"})
    try:
        with ThreadPoolExecutor(4) as pool:
            calls = [pool.submit(_call, server.url, "slow", {"seconds": 20}) for _ in range(4)]
            time.sleep(0.7)
            stopped = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            answers = [call.result(30) for call in calls]
        assert server.proc.wait(15) == 0, "".join(server.lines)
        assert time.monotonic() - stopped < 5
        assert all("shutting down" in a["error"]["message"] for a in answers), answers
    finally:
        server.close()


def test_a_killed_worker_is_replaced(workers: Workers) -> None:
    deadline = time.monotonic() + 10
    while len(workers.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(5)  # past the start-up window: a death now is a crash, not a failed start
    first, *_ = workers.worker_pids()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = workers.worker_pids()
        if len(pids) == 2 and first not in pids:
            break
        time.sleep(0.1)
    assert len(workers.worker_pids()) == 2 and first not in workers.worker_pids()
    assert _call(workers.url, "add", {"a": 1, "b": 1})["result"]["structuredContent"]["result"] == 2


def _live_gauge_pids(directory: Path) -> set[int]:
    """The processes whose live gauges (in-flight requests, open sessions) are in `directory`."""
    return {int(f.stem.rsplit("_", 1)[1]) for f in directory.glob("gauge_live*_*.db")}


def test_metrics_files_are_emptied_at_start_and_a_dead_worker_leaves_the_live_gauges(
    tmp_path: Path,
) -> None:
    """With [metrics] on and PROMETHEUS_MULTIPROC_DIR, the parent empties the directory before
    forking, and marks each worker that exits dead: a replaced worker's live gauges go, and
    after a stop none are left; the counters stay."""
    stale = [tmp_path / "counter_1.db", tmp_path / "gauge_livesum_1.db"]
    for path in stale:
        path.write_bytes(b"stale")
    env = {
        "MCP_RUNNER_METRICS__ENABLED": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "MCP_RUNNER_SHUTDOWN_GRACE": "5",
    }
    server = Workers(2, env)
    try:
        deadline = time.monotonic() + 10
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(path.exists() for path in stale)  # emptied before the first fork
        started = set(server.worker_pids())
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: _call(server.url, "add", {"a": i, "b": 1}), range(40)))
        counted = _live_gauge_pids(tmp_path)
        assert counted and counted <= started
        time.sleep(5)  # past the start-up window: a death now is a crash, not a failed start
        victim = min(counted)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while len(set(server.worker_pids()) - started) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert victim not in _live_gauge_pids(tmp_path)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0, "".join(server.lines)
        assert _live_gauge_pids(tmp_path) == set()
        assert list(tmp_path.glob("counter_*.db"))  # what the workers counted stays
    finally:
        server.close()


def test_workers_need_the_http_transport() -> None:
    done = subprocess.run(
        runner_command("serve", "--workers", "2"),
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "--workers needs --transport http" in done.stderr


def test_a_signal_to_the_whole_group_drains_each_worker_once(workers: Workers) -> None:
    """Ctrl-C in a terminal reaches the parent and every worker: still one drain, not a cut."""
    with ThreadPoolExecutor(8) as pool:
        calls = [pool.submit(_call, workers.url, "slow", {"seconds": 1.5}) for _ in range(8)]
        time.sleep(0.7)
        for pid in [workers.proc.pid, *workers.worker_pids()]:
            os.kill(pid, signal.SIGINT)
        answers = [call.result(30) for call in calls]
    assert workers.proc.wait(15) == 0, "".join(workers.lines)
    assert all(a["result"]["content"][0]["text"] == "slept 1.5" for a in answers), answers


def test_a_second_signal_to_the_parent_ends_the_grace(workers: Workers) -> None:
    with ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(_call, workers.url, "slow", {"seconds": 20}) for _ in range(4)]
        time.sleep(0.7)
        workers.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        stopped = time.monotonic()
        workers.proc.send_signal(signal.SIGTERM)
        assert workers.proc.wait(15) == 0, "".join(workers.lines)
        assert time.monotonic() - stopped < 3  # not the 5 s grace
        for call in calls:
            with contextlib.suppress(Exception):  # cut: an error answer, or the connection
                call.result(30)


def test_with_the_redis_state_backend_legacy_sessions_are_served(tmp_path: Path) -> None:
    """A shared state backend is what lets workers serve legacy sessions: no refusal then."""
    pytest.importorskip("mcp_runner_redis")
    mcp = pytest.importorskip("mcp")
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redis = subprocess.Popen(
        [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    try:
        env = {
            "MCP_RUNNER_PLUGINS": "http_demo,redis",
            "MCP_RUNNER_PLUGINS__REDIS__URL": f"redis://127.0.0.1:{port}/0",
        }
        server = Workers(2, env)

        async def scenario() -> None:
            for _ in range(3):  # new connections: the calls of a session reach both workers
                async with mcp.Client(server.url, mode="legacy", read_timeout_seconds=10) as client:
                    for i in range(5):
                        result = await client.call_tool("add", {"a": i, "b": 1})
                        assert result.structured_content == {"result": i + 1}

        asyncio.run(asyncio.wait_for(scenario(), 60))
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
    finally:
        if server is not None:
            server.close()
        redis.terminate()
        redis.wait(10)
