"""Signals and idling over HTTP: SIGHUP drains like SIGTERM (no configuration reload), a second
signal ends the grace at once, and an idle server is not woken up (no poll loop), while the
``Date`` header stays current. Real ``mcp-runner serve --transport http`` processes.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from test_http_hardening import Served, post

pytestmark = pytest.mark.e2e


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Served] = []

    def start(config: str = "") -> Served:
        server = Served(config)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_sighup_drains_like_sigterm(serve: Any) -> None:
    """SIGHUP stops the server gracefully (no configuration reload): the call in flight is
    answered, and the process exits 0."""
    server = serve("[server]\nshutdown_grace = 5\n")
    out: dict[str, Any] = {}
    thread = threading.Thread(target=_legacy_slow_call(server, out))
    thread.start()
    time.sleep(1)  # the call is running
    server.proc.send_signal(signal.SIGHUP)
    thread.join(10)
    assert server.proc.wait(10) == 0
    answer = out["answer"]
    assert answer.status_code == 200, answer.text
    assert "result" in answer.json(), answer.text
    assert answer.json()["result"]["content"][0]["text"].startswith("slept"), answer.text


def _legacy_slow_call(server: Served, out: dict[str, Any], seconds: float = 2.0) -> Any:
    opened = post(server.url())
    session = opened.headers["mcp-session-id"]
    post(
        server.url(),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        mcp_session_id=session,
    )

    def call() -> None:
        request = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": seconds}},
        }
        out["answer"] = post(server.url(), request, mcp_session_id=session)

    return call


def test_a_second_signal_ends_the_grace_at_once(serve: Any) -> None:
    server = serve("[server]\nshutdown_grace = 20\n")
    out: dict[str, Any] = {}
    thread = threading.Thread(target=_legacy_slow_call(server, out, 15), daemon=True)
    thread.start()
    time.sleep(1)  # the call is running
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert server.proc.poll() is None  # draining: the call has 20 s
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 6


@pytest.mark.skipif(not Path("/proc/self/schedstat").exists(), reason="needs Linux /proc")
def test_an_idle_server_is_not_woken_up(serve: Any) -> None:
    """No poll loop: over two idle seconds the server's event loop thread does not run at all
    (it ran 60 times before: a 50 ms and a 100 ms poll); the Date header is still current."""
    plain = serve()
    post(plain.url())
    time.sleep(1)  # its connection closed (httpx.post closes its own)
    stat = Path(f"/proc/{plain.proc.pid}/task/{plain.proc.pid}/schedstat")
    before = int(stat.read_text().split()[2])
    time.sleep(2)
    woken = int(stat.read_text().split()[2]) - before
    assert woken <= 2, f"the idle server ran {woken} times in 2 s"
    answer = post(plain.url())
    date = parsedate_to_datetime(answer.headers["date"]).timestamp()
    assert abs(date - time.time()) < 2
