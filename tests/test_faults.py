"""Faulty plugins over real stdio, and the limits of both transports.

The tools of tests/fixtures/faulty/faulty_tools.py raise, hang (with a per-tool, per-plugin or
server timeout), swallow cancellation, forget background tasks, print to stdout, return values
that break their output schema, recurse without end, block a worker thread, exit the process.
Each must give the right ``isError`` result while the same connection keeps answering other
calls promptly; every line the server writes is checked against the MCP schema
(`faulty_harness.StdioProc`).

Limits: stdio message size and in-flight requests; HTTP body size, session cap, idle expiry.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "faulty"))

import faulty_harness as H

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PROMPT = 2.0  # seconds: "promptly" (not hung), with room for a loaded 2-core CI machine


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in result.get("content", []))


def timed(
    server: H.StdioProc, name: str, arguments: dict[str, Any] | None = None, timeout: float = 10
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    result = server.result(server.call_tool(name, arguments), timeout)
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def server() -> Any:
    proc = H.StdioProc()
    proc.initialize()
    yield proc
    proc.close_stdin()
    try:
        assert proc.wait_exit(10) == 0, proc.stderr[-2000:]
        proc.drain(2)
    finally:
        proc.kill()


def assert_prompt_neighbours(server: H.StdioProc, count: int = 5) -> None:
    """Quick calls (async and sync) on the same connection are answered promptly."""
    for i in range(count):
        name = "quick" if i % 2 == 0 else "quick_sync"
        result, took = timed(server, name, {"text": f"n{i}"})
        assert text_of(result) == f"n{i}" and took < PROMPT, (name, took)


# ---------------------------------------------------------------------------------------------
# Failures become isError results


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("boom", ["Tool 'boom' failed", "RuntimeError", "boom from faulty", "error id"]),
        ("boom_sync", ["Tool 'boom_sync' failed", "ValueError", "sync boom from faulty"]),
        ("refuse", ["refused on purpose"]),
        ("recurse", ["RecursionError"]),
        ("recurse_sync", ["RecursionError"]),
        ("bad_output", ["does not match its output schema", "x:"]),
    ],
)
def test_failing_tool_is_an_error_result(
    server: H.StdioProc, tool: str, expected: list[str]
) -> None:
    result, took = timed(server, tool)
    assert result.get("isError") is True, result
    for part in expected:
        assert part in text_of(result), (part, result)
    assert took < 5
    assert_prompt_neighbours(server, 2)


def test_tool_error_message_is_exact(server: H.StdioProc) -> None:
    result, _ = timed(server, "refuse", {"message": "no such city"})
    assert result == {"content": [{"type": "text", "text": "no such city"}], "isError": True}


def test_unserializable_value_still_answers(server: H.StdioProc) -> None:
    result, _ = timed(server, "returns_unserializable")
    assert result["content"], result


def test_tool_returning_a_plain_list(server: H.StdioProc) -> None:
    """A list without an output schema (regression: `_is_content_like` once raised TypeError)."""
    result, _ = timed(server, "returns_list")
    assert not result.get("isError"), result
    assert "two" in text_of(result)


def test_huge_result_is_one_intact_line(server: H.StdioProc) -> None:
    result, _ = timed(server, "huge", {"size": 3_000_000})
    assert text_of(result) == "x" * 3_000_000
    assert_prompt_neighbours(server, 2)


# ---------------------------------------------------------------------------------------------
# Timeouts: per tool, per plugin, per server; the tool's task is really cancelled


def test_tool_timeout_cancels_the_task(server: H.StdioProc, tmp_path: Path) -> None:
    marker = tmp_path / "hang.marker"
    started = time.monotonic()
    rid = server.call_tool("hang", {"marker": str(marker), "seconds": 1.0})
    assert_prompt_neighbours(server, 4)  # answered while `hang` waits for its timeout
    result = server.result(rid, 5)
    took = time.monotonic() - started
    assert result == {
        "content": [{"type": "text", "text": "Tool 'hang' timed out after 0.2 s"}],
        "isError": True,
    }
    assert took < 0.2 + PROMPT, took
    time.sleep(1.3)  # well past the moment the tool would have written its marker
    assert not marker.exists(), "the timed-out tool kept running (its task was not cancelled)"


def test_hang_forever_times_out(server: H.StdioProc) -> None:
    result, took = timed(server, "hang_forever")
    assert result["isError"] and "timed out after 0.2 s" in text_of(result)
    assert took < 0.2 + PROMPT


def test_tool_that_swallows_cancellation_is_still_answered(
    server: H.StdioProc, tmp_path: Path
) -> None:
    """A tool that catches CancelledError and goes on: answered once it gives up, neighbours fine."""
    marker = tmp_path / "shielded.marker"
    rid = server.call_tool("hang_shielded", {"marker": str(marker), "seconds": 0.5})
    assert_prompt_neighbours(server, 3)
    result = server.result(rid, 5)
    assert result["isError"] and "timed out" in text_of(result), result


def test_sync_tool_timeout_answers_promptly(server: H.StdioProc, tmp_path: Path) -> None:
    """A blocking `def` tool past its timeout is answered at once. Its worker thread cannot be
    cancelled and runs to the end (documented in docs/limits.md)."""
    marker = tmp_path / "sync.marker"
    rid = server.call_tool("hang_sync", {"marker": str(marker), "seconds": 1.0})
    assert_prompt_neighbours(server, 4)
    result = server.result(rid, 5)
    assert result == {
        "content": [{"type": "text", "text": "Tool 'hang_sync' timed out after 0.3 s"}],
        "isError": True,
    }
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "documented: the thread of a timed-out sync tool runs to completion"


@pytest.mark.parametrize(
    ("env", "tool", "expected"),
    [
        (
            {"MCP_RUNNER_PLUGINS__FAULTY__TIMEOUT": "0.3", "MCP_RUNNER_TOOL_TIMEOUT": "5"},
            "hang_default",
            "0.3 s",
        ),
        (
            {"MCP_RUNNER_PLUGINS__FAULTY__TIMEOUT": "0.3", "MCP_RUNNER_TOOL_TIMEOUT": "5"},
            "hang",
            "0.2 s",
        ),
        ({"MCP_RUNNER_TOOL_TIMEOUT": "0.4"}, "hang_default", "0.4 s"),
        ({"MCP_RUNNER_TOOL_TIMEOUT": "0.4"}, "hang", "0.2 s"),
    ],
)
def test_timeout_precedence(
    spawn: Any, tmp_path: Path, env: dict[str, str], tool: str, expected: str
) -> None:
    """The tool's own timeout, then its plugin's ([plugins.faulty] timeout), then server.tool_timeout."""
    server = spawn(env=env)
    server.initialize()
    marker = tmp_path / "m"
    result, took = timed(server, tool, {"marker": str(marker), "seconds": 1.0})
    assert text_of(result) == f"Tool {tool!r} timed out after {expected}", result
    assert took < float(expected.split()[0]) + PROMPT
    time.sleep(1.2)
    assert not marker.exists()


def test_no_timeout_configured_lets_a_tool_run(server: H.StdioProc) -> None:
    result, took = timed(server, "hang_default", {"seconds": 0.5})
    assert text_of(result) == "woke up" and 0.5 <= took < 0.5 + PROMPT


# ---------------------------------------------------------------------------------------------
# Blocking work, background tasks, stdout


def test_sync_tools_run_in_worker_threads(server: H.StdioProc) -> None:
    """Three `def` tools sleeping 1 s run side by side; async calls are answered meanwhile."""
    started = time.monotonic()
    ids = [server.call_tool("sleepy_sync", {"seconds": 1.0}) for _ in range(3)]
    assert_prompt_neighbours(server, 4)
    results = [server.result(rid, 10) for rid in ids]
    took = time.monotonic() - started
    assert all(text_of(r).startswith("slept 1.0") for r in results)
    assert took < 2.5, f"sync tools ran one after another ({took:.2f} s)"


def test_hung_sync_tools_do_not_starve_other_sync_tools(spawn: Any) -> None:
    server = spawn()
    server.initialize()
    workers = min(32, (os.cpu_count() or 1) + 4)
    for _ in range(workers + 2):
        server.call_tool("hang_sync", {"seconds": 4.0})
    time.sleep(0.5)
    result, took = timed(server, "quick_sync", {"text": "still here"}, timeout=10)
    assert text_of(result) == "still here" and took < PROMPT, took


def test_forgotten_background_tasks(server: H.StdioProc, tmp_path: Path) -> None:
    """Spawned-and-forgotten tasks: one fails, one never ends, one prints and writes a file.
    None of them disturbs the connection or stdout."""
    marker = tmp_path / "forgotten.marker"
    result, _ = timed(server, "forget", {"marker": str(marker)})
    assert text_of(result) == "spawned 3 tasks"
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    alive, _ = timed(server, "tasks_alive")
    assert text_of(alive) == "1"  # the one that never ends
    assert_prompt_neighbours(server, 3)
    assert "a forgotten task prints to stdout" in server.stderr


def test_forgotten_task_does_not_block_exit(spawn: Any) -> None:
    server = spawn()
    server.initialize()
    server.result(server.call_tool("forget"))
    server.close_stdin()
    started = time.monotonic()
    assert server.wait_exit(10) == 0
    assert time.monotonic() - started < 3


def test_stdout_writes_never_reach_the_protocol_stream(server: H.StdioProc) -> None:
    """print(), sys.stdout, os.write(1) and a child process: all go to stderr."""
    result, _ = timed(server, "shout", {"text": "LOUD-ASYNC"})
    assert text_of(result) == "shouted"
    result, _ = timed(server, "shout_sync", {"text": "LOUD-SYNC"})
    assert text_of(result) == "shouted"
    assert_prompt_neighbours(server, 2)
    time.sleep(0.2)
    assert server.stderr.count("LOUD-ASYNC") == 4 and server.stderr.count("LOUD-SYNC") == 1, (
        server.stderr[-1000:]
    )
    assert not any(b"LOUD" in line for line in server.raw_lines)


def test_many_faults_at_once(server: H.StdioProc) -> None:
    """Every kind of failure in flight together, with quick calls in between: all answered."""
    plan = [
        ("boom", {}),
        ("hang", {"seconds": 1.0}),
        ("hang_forever", {}),
        ("bad_output", {}),
        ("recurse", {}),
        ("sleepy_sync", {"seconds": 0.5}),
        ("refuse", {}),
        ("boom_sync", {}),
        ("hang_sync", {"seconds": 0.5}),
        ("shout", {}),
    ] * 3
    ids = [server.call_tool(name, args) for name, args in plan]
    quick = [server.call_tool("quick", {"text": str(i)}) for i in range(20)]
    started = time.monotonic()
    for i, rid in enumerate(quick):
        assert text_of(server.result(rid, 5)) == str(i)
    assert time.monotonic() - started < 3
    answers = server.wait_all(ids, 15)
    assert len(answers) == len(plan)
    for (name, _), rid in zip(plan, ids, strict=True):
        assert len(server.responses[rid]) == 1, (name, server.responses[rid])


# ---------------------------------------------------------------------------------------------
# A tool must not be able to end the server


@pytest.mark.parametrize("tool", ["exits", "exits_async", "interrupts"])
def test_tool_cannot_end_the_server(spawn: Any, tool: str) -> None:
    server = spawn()
    server.initialize()
    rid = server.call_tool(tool)
    result = server.result(rid, 5)
    assert result.get("isError") is True, result
    assert_prompt_neighbours(server, 2)


# ---------------------------------------------------------------------------------------------
# Limits: stdio


def test_stdio_oversized_line_is_refused_then_serving(spawn: Any) -> None:
    """A line over MCP_RUNNER_MAX_MESSAGE_BYTES (arriving in pieces): one -32600 error (id null)
    naming the setting, the line is discarded, the next request is answered."""
    server = spawn(env={"MCP_RUNNER_MAX_MESSAGE_BYTES": "4096"})
    server.initialize()
    big = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 77,
            "method": "tools/call",
            "params": {"name": "quick", "arguments": {"text": "z" * 10_000}},
        }
    ).encode()
    for i in range(0, len(big), 2000):
        server.send_raw(big[i : i + 2000])
        time.sleep(0.05)
    server.send_raw(b"\n")
    error = server.recv(5)
    assert (
        error["id"] is None
        and error["error"]["code"] == -32600
        and "max_message_bytes" in error["error"]["message"]
    ), error
    result, _took = timed(server, "quick", {"text": "after"})
    assert text_of(result) == "after"
    assert 77 not in server.responses  # the oversized request was not run
    # the same line in a single write (one chunk with its newline) is refused too
    server.send_raw(big + b"\n")
    error = server.recv(5)
    assert error["id"] is None and error["error"]["code"] == -32600, error
    assert 77 not in server.responses
    # a line just under the limit is fine
    fits = {
        "jsonrpc": "2.0",
        "id": 78,
        "method": "tools/call",
        "params": {"name": "quick", "arguments": {"text": "w" * 3900}},
    }
    server.send(fits)
    assert text_of(server.result(78)) == "w" * 3900


def test_stdio_max_in_flight_refuses_excess_at_once(spawn: Any) -> None:
    """MCP_RUNNER_MAX_IN_FLIGHT=4: a 5th request while 4 run is refused immediately (-32000),
    not queued; once they finish, requests are accepted again."""
    server = spawn(env={"MCP_RUNNER_MAX_IN_FLIGHT": "4"})
    server.initialize()
    slow = [server.call_tool("slow", {"seconds": 1.5}) for _ in range(4)]
    time.sleep(0.1)
    started = time.monotonic()
    extra = [server.call_tool("quick", {"text": "extra"}) for _ in range(3)] + [
        server.start("ping")
    ]
    for rid in extra:
        answer = server.wait(rid, 5)
        assert answer["error"]["code"] == -32000 and "busy" in answer["error"]["message"].lower(), (
            answer
        )
    assert time.monotonic() - started < 0.5, "the excess requests were queued, not refused"
    for rid in slow:
        assert text_of(server.result(rid, 10)) == "slept 1.5"
    result, _ = timed(server, "quick", {"text": "again"})
    assert text_of(result) == "again"


# ---------------------------------------------------------------------------------------------
# Limits: HTTP (real server)


def _client(proc: H.HttpProc) -> httpx.Client:
    return httpx.Client(base_url=proc.url.rsplit("/", 1)[0], timeout=10)


def _initialize(client: httpx.Client) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": H.initialize_params()}
    return client.post("/mcp", json=body, headers=H.json_headers())


def _ping(client: httpx.Client, sid: str) -> httpx.Response:
    return client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
        headers=H.json_headers(mcp_session_id=sid),
    )


def test_http_body_over_limit_is_413_then_serving(spawn: Any) -> None:
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_MAX_MESSAGE_BYTES": "4096"})
    with _client(proc) as client:
        sid = _initialize(client).headers["mcp-session-id"]
        big = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "quick", "arguments": {"text": "q" * 5000}},
        }
        for _ in range(3):
            resp = client.post("/mcp", json=big, headers=H.json_headers(mcp_session_id=sid))
            assert resp.status_code == 413, resp.text
            H.check_message(resp.json(), H.LATEST_LEGACY)
            assert (
                resp.json()["error"]["code"] == -32600
                and "max_message_bytes" in resp.json()["error"]["message"]
            )
        assert _ping(client, sid).json()["result"] == {}
        small = {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "quick", "arguments": {"text": "q" * 3000}},
        }
        assert (
            client.post("/mcp", json=small, headers=H.json_headers(mcp_session_id=sid)).json()[
                "result"
            ]["content"][0]["text"]
            == "q" * 3000
        )


def test_http_session_cap(spawn: Any) -> None:
    """MCP_RUNNER_HTTP__MAX_SESSIONS=3: the 4th initialize gets 503; ending one frees a slot."""
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_HTTP__MAX_SESSIONS": "3"})
    with _client(proc) as client:
        sids = []
        for _ in range(3):
            resp = _initialize(client)
            assert resp.status_code == 200
            sids.append(resp.headers["mcp-session-id"])
        refused = _initialize(client)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == -32000
        assert (
            "max_sessions" in refused.json()["error"]["message"]
            and "mcp-session-id" not in refused.headers
        )
        for sid in sids:  # the open sessions are unaffected
            assert _ping(client, sid).json()["result"] == {}
        assert client.delete("/mcp", headers={"mcp-session-id": sids[0]}).status_code in (200, 204)
        again = _initialize(client)
        assert again.status_code == 200
        # stateless requests do not need a slot
        modern = {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/list",
            "params": {"_meta": H.modern_meta()},
        }
        resp = client.post(
            "/mcp",
            json=modern,
            headers=H.json_headers(mcp_protocol_version=H.MODERN, mcp_method="tools/list"),
        )
        assert resp.status_code == 200


def test_http_session_cap_error_carries_the_request_id(spawn: Any) -> None:
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_HTTP__MAX_SESSIONS": "1"})
    with _client(proc) as client:
        assert _initialize(client).status_code == 200
        refused = _initialize(client)
        assert refused.status_code == 503
        H.check_message(refused.json(), H.LATEST_LEGACY, "initialize")
        assert refused.json()["id"] == 1


def test_http_idle_session_expires(spawn: Any) -> None:
    """MCP_RUNNER_HTTP__SESSION_IDLE_TIMEOUT=1: the reaper runs every timeout/2 (0.5 s): after ~2 s
    idle the session is gone (404); a session kept busy survives."""
    proc = spawn(H.HttpProc, env={"MCP_RUNNER_HTTP__SESSION_IDLE_TIMEOUT": "1"})
    with _client(proc) as client:
        idle = _initialize(client).headers["mcp-session-id"]
        busy = _initialize(client).headers["mcp-session-id"]
        deadline = time.monotonic() + 2.2
        while time.monotonic() < deadline:
            assert _ping(client, busy).status_code == 200
            time.sleep(0.3)
        gone = _ping(client, idle)
        assert gone.status_code == 404, gone.text
        H.check_message(gone.json(), H.LATEST_LEGACY)
        assert _ping(client, busy).status_code == 200


def test_http_reap_with_a_patched_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session store's reap() in process: idle sessions go, busy ones (request in flight)
    stay."""
    import fuzz_target
    from mcp_runner.config import HttpSettings, Settings
    from mcp_runner.runner import Runner
    from mcp_runner.transports.http import McpHttpApp, sessions

    now = [1000.0]

    class Clock:  # only the transport's clock: the event loop keeps the real one
        @staticmethod
        def monotonic() -> float:
            return now[0]

    monkeypatch.setattr(sessions, "time", Clock)

    async def scenario() -> None:
        runner = Runner(
            Settings(http=HttpSettings(session_idle_timeout=60)),
            plugins={"fuzz": fuzz_target.plugin},
            entry_points=False,
        ).start()
        app = McpHttpApp(runner)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

            async def init() -> str:
                body = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": H.initialize_params(),
                }
                return (await client.post("/mcp", json=body, headers=H.json_headers())).headers[
                    "mcp-session-id"
                ]

            a, b = await init(), await init()
            now[0] += 30
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            assert (
                await client.post("/mcp", json=ping, headers=H.json_headers(mcp_session_id=b))
            ).status_code == 200
            now[0] += 31  # a: 61 s idle, b: 31 s
            app.sessions.reap()
            assert await app.sessions.get(a) is None and await app.sessions.get(b) is not None
            assert (
                await client.post("/mcp", json=ping, headers=H.json_headers(mcp_session_id=a))
            ).status_code == 404
            # a request in flight keeps its session
            nap = {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "nap", "arguments": {"ms": 50}},
            }
            call = asyncio.ensure_future(
                client.post("/mcp", json=nap, headers=H.json_headers(mcp_session_id=b))
            )
            await asyncio.sleep(0.01)
            now[0] += 1000
            app.sessions.reap()
            assert await app.sessions.get(b) is not None
            assert (await call).status_code == 200
        await app.close()

    asyncio.run(scenario())
