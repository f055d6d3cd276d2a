"""`RedisBackend` against a real `redis-server` on a free loopback port: records and their
expiry, bounded stream logs, the bus, the settings, and errors (not hangs) when Redis stops."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp_runner import Runner
from mcp_runner.config import Settings
from mcp_runner.transports.http import StateUnavailable
from mcp_runner_redis import RedisBackend, plugin

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
if not os.access(REDIS, os.X_OK):
    pytest.skip("redis-server is needed (apt-get install redis-server)", allow_module_level=True)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="mcp-runner-redis-") as workdir:
        proc = subprocess.Popen(
            [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            proc.wait(10)


def test_the_plugin_offers_a_backend_from_its_settings(redis_url: str) -> None:
    settings = Settings(
        plugins={"redis": {"url": redis_url, "key_prefix": "t1:", "operation_timeout": 0.5}}
    )
    runner = Runner(settings, plugins={"redis": plugin}, entry_points=False).start()
    backend = runner.host.state_backend()
    assert isinstance(backend, RedisBackend)
    assert (backend.url, backend.prefix, backend.timeout) == (redis_url, "t1:", 0.5)


def test_records_logs_and_the_bus(redis_url: str) -> None:
    async def scenario() -> None:
        backend = RedisBackend(redis_url, "t2:", 1.0)
        heard: list[dict[str, Any]] = []
        await backend.start(heard.append)
        try:
            await backend.save_session("a", {"version": "2025-11-25"}, 60)
            assert await backend.load_session("a", 60) == {"version": "2025-11-25"}
            assert await backend.client.ttl("t2:s:a") == 60
            await backend.save_session("b", {}, 1)
            await backend.keep_sessions(["b"], 30)
            assert await backend.client.ttl("t2:s:b") == 30
            await backend.delete_session("a")
            assert await backend.load_session("a", 60) is None

            assert await backend.events_after("b", "s1", 0) is None
            for seq in range(1, 6):
                await backend.append_event("b", "s1", (seq, f"data: {seq}\n\n", seq == 5), 3, 60)
            assert await backend.events_after("b", "s1", 3) == [
                (4, "data: 4\n\n", False),
                (5, "data: 5\n\n", True),
            ]
            assert [e[0] for e in await backend.events_after("b", "s1", 0) or []] == [3, 4, 5]

            await backend.publish({"t": "updated", "uri": "x://y"})
            deadline = time.monotonic() + 5
            while {"t": "updated", "uri": "x://y"} not in heard:
                assert time.monotonic() < deadline, heard
                await asyncio.sleep(0.02)
            assert {"t": "event", "s": "b", "k": "s1", "e": [5, "data: 5\n\n", True]} in heard
        finally:
            await backend.close()

    asyncio.run(scenario())


def test_a_stopped_redis_fails_fast_and_service_resumes(redis_url: str) -> None:
    pid = int(
        subprocess.run(
            ["redis-cli", "-u", redis_url, "info", "server"], capture_output=True, text=True
        )
        .stdout.split("process_id:")[1]
        .split()[0]
    )

    async def scenario() -> None:
        backend = RedisBackend(redis_url, "t3:", 0.5)
        await backend.save_session("a", {"n": 1}, 60)
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(StateUnavailable, match="redis"):
                await backend.load_session("a", 60)
            assert time.monotonic() - started < 2.0
        finally:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 5
        while True:
            try:
                assert await backend.load_session("a", 60) == {"n": 1}
                break
            except StateUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        await backend.close()

    asyncio.run(scenario())
