"""How servers stop: stdin EOF, SIGTERM, SIGINT and SIGHUP over stdio, SIGTERM/SIGINT over HTTP.

Guarantees checked: calls in flight are answered before the process exits (a result when they
finish within server.shutdown_grace, an error response when they do not - never silence), the
exit status is 0, and plugin lifespans exit after the last answer, in reverse order of entry.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "faulty"))

import faulty_harness as H

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LIFESPAN_PLUGINS = ("lifespan_first:plugin", "lifespan_second:plugin", "faulty_tools:plugin")
LIFESPAN_ALLOW = ("lifespan_first", "lifespan_second", "faulty")
EXPECTED_ORDER = [
    "enter first.outer",
    "enter first.inner",
    "enter second",
    "exit second",
    "exit first.inner",
    "exit first.outer",
]


def stop(server: H.StdioProc, how: str) -> None:
    if how == "eof":
        server.close_stdin()
    else:
        server.signal(
            {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "sighup": signal.SIGHUP}[how]
        )


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in result.get("content", []))


# ---------------------------------------------------------------------------------------------
# stdio


@pytest.mark.parametrize("how", ["eof", "sigterm", "sigint", "sighup"])
def test_stdio_in_flight_calls_finish_within_grace(spawn: Any, tmp_path: Path, how: str) -> None:
    """Calls in flight when the server is told to stop are answered with their results, then the
    process exits 0; nothing is written after the answers."""
    server = spawn(env={"MCP_RUNNER_SHUTDOWN_GRACE": "5"})
    server.initialize()
    markers = [tmp_path / f"m{i}" for i in range(3)]
    ids = [
        server.call_tool("slow", {"seconds": 0.3 + 0.2 * i, "marker": str(m)})
        for i, m in enumerate(markers)
    ]
    sync_id = server.call_tool("sleepy_sync", {"seconds": 0.5})
    time.sleep(0.15)  # all running
    started = time.monotonic()
    stop(server, how)
    assert server.wait_exit(10) == 0, server.stderr[-2000:]
    took = time.monotonic() - started
    server.drain(5)
    for i, rid in enumerate(ids):
        assert text_of(server.result(rid, 1)) == f"slept {0.3 + 0.2 * i}"
    assert text_of(server.result(sync_id, 1)).startswith("slept 0.5")
    assert all(m.exists() for m in markers)
    assert took < 3, f"exit took {took:.2f} s"
    assert all(len(v) == 1 for v in server.responses.values()), server.responses


@pytest.mark.parametrize("how", ["eof", "sigterm", "sigint"])
def test_stdio_call_longer_than_grace_gets_an_error(spawn: Any, tmp_path: Path, how: str) -> None:
    """A call still running when server.shutdown_grace ends is cancelled and answered with an
    error (not silence); its task really stops; the process exits 0."""
    server = spawn(env={"MCP_RUNNER_SHUTDOWN_GRACE": "0.5"})
    server.initialize()
    marker = tmp_path / "never"
    quick = server.call_tool("slow", {"seconds": 0.1})
    rid = server.call_tool("slow", {"seconds": 3, "marker": str(marker)})
    time.sleep(0.2)
    started = time.monotonic()
    stop(server, how)
    assert server.wait_exit(10) == 0, server.stderr[-2000:]
    took = time.monotonic() - started
    server.drain(5)
    assert text_of(server.result(quick, 1)) == "slept 0.1"
    answer = server.wait(rid, 1)
    assert answer["error"]["code"] == -32603 and "shutting down" in answer["error"]["message"], (
        answer
    )
    assert 0.4 < took < 0.5 + 2.5, f"exit took {took:.2f} s"
    time.sleep(3.2)
    assert not marker.exists(), "the cancelled call kept running"


def test_stdio_eof_with_nothing_in_flight_exits_at_once(spawn: Any) -> None:
    server = spawn()
    server.initialize()
    server.close_stdin()
    started = time.monotonic()
    assert server.wait_exit(10) == 0
    assert time.monotonic() - started < 1.5
    assert server.drain(2) == []


def test_stdio_eof_before_anything(spawn: Any) -> None:
    server = spawn()
    server.close_stdin()
    assert server.wait_exit(15) == 0, server.stderr[-2000:]


def test_stdio_last_line_without_newline(spawn: Any) -> None:
    """A last line without its newline is still served at EOF; then the process exits 0."""
    server = spawn()
    server.initialize()
    server.methods[99] = "ping"
    server.send_raw(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')
    server.close_stdin()
    assert server.wait_exit(10) == 0
    server.drain(2)
    assert server.responses.get(99) == [{"jsonrpc": "2.0", "id": 99, "result": {}}]


def test_stdio_truncated_last_line(spawn: Any) -> None:
    """An unterminated, truncated last line: one parse error, nothing run, exit 0."""
    server = spawn()
    server.initialize()
    server.send_raw(b'{"jsonrpc":"2.0","id":98,"method":"pi')
    server.close_stdin()
    assert server.wait_exit(10) == 0
    out = server.drain(2)
    assert [m["error"]["code"] for m in out] == [-32700] and 98 not in server.responses, out


def test_stdio_subscription_listen_is_answered_at_shutdown(spawn: Any) -> None:
    """A 2026-07-28 subscriptions/listen never ends by itself; at EOF it is answered at once."""
    server = spawn(env={"MCP_RUNNER_SHUTDOWN_GRACE": "5"})
    server.version = H.MODERN  # no handshake: validate what it writes as 2026-07-28
    params = {"_meta": H.modern_meta(), "notifications": {"toolsListChanged": True}}
    rid = server.start("subscriptions/listen", params)
    time.sleep(0.3)
    started = time.monotonic()
    server.close_stdin()
    assert server.wait_exit(10) == 0
    assert time.monotonic() - started < 2.5
    server.drain(2)
    assert len(server.responses.get(rid, [])) == 1, server.responses


@pytest.mark.parametrize("how", ["eof", "sigterm", "sigint"])
def test_stdio_lifespans_exit_in_reverse_after_the_last_answer(
    spawn: Any, tmp_path: Path, how: str
) -> None:
    log = tmp_path / "lifespans.log"
    server = spawn(
        plugins=LIFESPAN_PLUGINS,
        allow=LIFESPAN_ALLOW,
        env={"FAULTY_LIFESPAN_LOG": str(log), "MCP_RUNNER_SHUTDOWN_GRACE": "5"},
    )
    server.initialize()
    assert log.read_text().splitlines() == EXPECTED_ORDER[:3]
    rid = server.call_tool("work", {"seconds": 0.5})
    time.sleep(0.1)
    stop(server, how)
    assert text_of(server.result(rid, 5)) == "worked"
    assert server.wait_exit(10) == 0
    assert log.read_text().splitlines() == [*EXPECTED_ORDER[:3], "work done", *EXPECTED_ORDER[3:]]


def test_stdio_batch_in_flight_is_answered_at_eof(spawn: Any) -> None:
    server = spawn(env={"MCP_RUNNER_SHUTDOWN_GRACE": "5"})
    server.initialize("2025-03-26")
    server.send(
        [
            {
                "jsonrpc": "2.0",
                "id": "b1",
                "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 0.5}},
            }
        ]
    )
    time.sleep(0.1)
    server.close_stdin()
    assert server.wait_exit(10) == 0
    server.drain(3)
    assert "b1" in server.responses, server.responses


# ---------------------------------------------------------------------------------------------
# HTTP


def _client(proc: H.HttpProc) -> httpx.Client:
    return httpx.Client(base_url=proc.url.rsplit("/", 1)[0], timeout=30)


def _session(client: httpx.Client) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": H.initialize_params()}
    resp = client.post("/mcp", json=body, headers=H.json_headers())
    sid = resp.headers["mcp-session-id"]
    client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=H.json_headers(mcp_session_id=sid),
    )
    return sid


def _call_in_thread(
    proc: H.HttpProc, sid: str, arguments: dict[str, Any], out: dict[str, Any]
) -> threading.Thread:
    def run() -> None:
        try:
            body = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "slow", "arguments": arguments},
            }
            resp = httpx.post(
                proc.url, json=body, headers=H.json_headers(mcp_session_id=sid), timeout=30
            )
            out["status"], out["body"] = resp.status_code, resp.json()
        except Exception as exc:
            out["error"] = repr(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_http_sigterm_idle_server_exits(spawn: Any) -> None:
    proc = spawn(H.HttpProc)
    with _client(proc) as client:
        _session(client)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    code = proc.wait_exit(10)
    assert time.monotonic() - started < 3
    assert code == 0, code
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_http_in_flight_call_is_answered(spawn: Any, sig: int) -> None:
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_SHUTDOWN_GRACE": "5"})
    with _client(proc) as client:
        sid = _session(client)
    out: dict[str, Any] = {}
    thread = _call_in_thread(proc, sid, {"seconds": 0.8}, out)
    time.sleep(0.3)
    proc.signal(sig)
    thread.join(10)
    assert out.get("status") == 200 and text_of(out["body"]["result"]) == "slept 0.8", out
    proc.wait_exit(10)


def test_http_call_longer_than_grace_gets_an_error(spawn: Any, tmp_path: Path) -> None:
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_SHUTDOWN_GRACE": "1"})
    with _client(proc) as client:
        sid = _session(client)
    marker = tmp_path / "never"
    out: dict[str, Any] = {}
    thread = _call_in_thread(proc, sid, {"seconds": 4, "marker": str(marker)}, out)
    time.sleep(0.3)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    thread.join(10)
    proc.wait_exit(10)
    assert time.monotonic() - started < 4
    assert out.get("status") == 200 and out["body"]["error"]["code"] == -32603, out
    H.check_message(out["body"], H.LATEST_LEGACY, "tools/call")
    time.sleep(4)
    assert not marker.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_http_signal_exits_cleanly_with_lifespans(spawn: Any, tmp_path: Path, sig: int) -> None:
    log = tmp_path / "lifespans.log"
    proc = spawn(
        H.HttpProc,
        plugins=LIFESPAN_PLUGINS,
        allow=LIFESPAN_ALLOW,
        env={"FAULTY_LIFESPAN_LOG": str(log)},
    )
    with _client(proc) as client:
        _session(client)
    proc.signal(sig)
    code = proc.wait_exit(10)
    assert log.read_text().splitlines() == EXPECTED_ORDER and code == 0, (code, log.read_text())


def test_http_open_stream_with_subsecond_grace(spawn: Any) -> None:
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_SHUTDOWN_GRACE": "0.5"})
    with _client(proc) as client:
        sid = _session(client)
    got: dict[str, Any] = {}

    def listen() -> None:
        try:
            headers = {"accept": "text/event-stream", "mcp-session-id": sid}
            with httpx.stream("GET", proc.url, headers=headers, timeout=30) as stream:
                for chunk in stream.iter_bytes():
                    got["data"] = got.get("data", b"") + chunk
        except Exception as exc:
            got["error"] = repr(exc)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(0.5)
    proc.signal(signal.SIGTERM)
    try:
        proc.wait_exit(6)
    except Exception as exc:
        pytest.fail(f"still running 6 s after SIGTERM with a 0.5 s grace: {exc!r}")


def test_http_open_stream_delays_exit_at_most_the_grace(spawn: Any) -> None:
    """An open GET stream: the server still exits within (about) the grace after SIGTERM."""
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_SHUTDOWN_GRACE": "2"})
    with _client(proc) as client:
        sid = _session(client)

    def listen() -> None:
        try:
            headers = {"accept": "text/event-stream", "mcp-session-id": sid}
            with httpx.stream("GET", proc.url, headers=headers, timeout=30) as stream:
                for _ in stream.iter_bytes():
                    pass
        except Exception:
            pass

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    proc.wait_exit(10)
    assert time.monotonic() - started < 2 + 2.5
