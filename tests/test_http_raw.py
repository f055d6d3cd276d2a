"""Streamable HTTP, byte level: a real `mcp-runner serve --transport http` driven with httpx.

Both protocol eras on one endpoint: legacy sessions (initialize, Mcp-Session-Id, SSE with event
ids, resumption with Last-Event-ID, the standalone GET stream) and stateless 2026-07-28 requests
(_meta envelope, server/discover, header validation, input-required rounds, subscriptions/listen).
Every JSON-RPC message received is validated against the MCP schema of its wire version: plain
JSON answers by the httpx clients' response hook (`helpers.validating_hooks`), SSE events by the
tests that read them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from typing import Any

import http_helpers as h
import httpx
import pytest

LEGACY, MODERN = h.LEGACY, h.MODERN

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture(scope="module")
def server() -> Any:
    with h.ServerProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def small_server() -> Any:
    with h.ServerProcess({"MCP_RUNNER_MAX_MESSAGE_BYTES": "2048"}) as proc:
        yield proc


@pytest.fixture
def client() -> Any:
    with httpx.Client(timeout=TIMEOUT, event_hooks=h.validating_hooks()) as c:
        yield c


# ----------------------------------------------------------------------------------------------
# Legacy-era helpers


def initialize(
    client: httpx.Client,
    url: str,
    version: str = LEGACY,
    capabilities: dict[str, Any] | None = None,
    initialized: bool = True,
) -> str:
    """Open a legacy session; returns its id."""
    request = h.initialize_request(version, capabilities)
    response = client.post(url, json=request, headers=h.legacy_headers(version=None))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = h.validate(version, response.json(), "initialize")
    assert message["id"] == request["id"]
    session_id = response.headers["mcp-session-id"]
    if initialized:
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        ack = client.post(
            url,
            json=note,
            headers=h.legacy_headers(session_id, message["result"]["protocolVersion"]),
        )
        assert ack.status_code == 202, ack.text
    return session_id


def legacy_call(
    client: httpx.Client,
    url: str,
    session_id: str,
    method: str,
    params: dict[str, Any] | None = None,
    version: str = LEGACY,
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    request = {"jsonrpc": "2.0", "id": h.next_id(), "method": method, "params": params or {}}
    response = client.post(url, json=request, headers=h.legacy_headers(session_id, version))
    messages = h.response_messages(response)
    for message in messages:
        h.validate(
            version,
            message,
            method if "id" in message and message.get("id") == request["id"] else None,
        )
    return response, messages


def final(messages: list[dict[str, Any]]) -> dict[str, Any]:
    assert messages, "no JSON-RPC message in the response"
    last = messages[-1]
    assert "result" in last or "error" in last, last
    return last


# ----------------------------------------------------------------------------------------------
# Modern-era helpers


def modern_post(
    client: httpx.Client,
    url: str,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    capabilities: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    id: Any = None,
) -> tuple[httpx.Response, dict[str, Any]]:
    request = h.modern_request(method, params, capabilities=capabilities, meta=meta, id=id)
    all_headers = h.modern_headers(method, request["params"])
    all_headers.update(headers or {})
    response = client.post(
        url, json=request, headers={k: v for k, v in all_headers.items() if v is not None}
    )
    messages = h.response_messages(response)
    for message in messages:
        h.validate(MODERN, message, method)
    answer = final(messages)
    assert answer.get("id") == request["id"], answer
    assert "mcp-session-id" not in response.headers
    return response, answer


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" in answer, f"expected a JSON-RPC error, got {answer}"
    return answer["error"]


# ----------------------------------------------------------------------------------------------
# Legacy: sessions


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_initialize_opens_a_session_with_a_visible_ascii_id(
    server: Any, client: httpx.Client, version: str
) -> None:
    request = h.initialize_request(version)
    response = client.post(server.url, json=request, headers=h.legacy_headers(version=None))
    assert response.status_code == 200
    message = h.validate(version, response.json(), "initialize")
    result = message["result"]
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "mcp-runner"
    assert {"tools", "resources", "prompts", "logging"} <= set(result["capabilities"])
    session_id = response.headers["mcp-session-id"]
    assert len(session_id) >= 16
    assert all(0x21 <= ord(c) <= 0x7E for c in session_id)
    assert "resultType" not in result  # a 2026-07-28 field: not on the legacy wire


def test_initialize_with_an_unknown_version_answers_the_latest_legacy(
    server: Any, client: httpx.Client
) -> None:
    request = h.initialize_request("1999-01-01")
    response = client.post(server.url, json=request, headers=h.legacy_headers(version=None))
    assert response.status_code == 200
    assert h.validate(LEGACY, response.json(), "initialize")["result"]["protocolVersion"] == LEGACY


def test_session_ids_are_distinct(server: Any, client: httpx.Client) -> None:
    ids = {initialize(client, server.url, initialized=False) for _ in range(3)}
    assert len(ids) == 3


def test_request_without_session_id_is_400(server: Any, client: httpx.Client) -> None:
    initialize(client, server.url)
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = client.post(server.url, json=request, headers=h.legacy_headers(None, LEGACY))
    assert response.status_code == 400
    if response.headers.get("content-type", "").startswith("application/json"):
        h.validate(LEGACY, response.json())


def test_unknown_session_id_is_404(server: Any, client: httpx.Client) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = client.post(
        server.url, json=request, headers=h.legacy_headers("no-such-session-" + uuid.uuid4().hex)
    )
    assert response.status_code == 404
    if response.headers.get("content-type", "").startswith("application/json"):
        h.validate(LEGACY, response.json())


def test_delete_ends_the_session(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    response, messages = legacy_call(client, server.url, session_id, "tools/list")
    assert response.status_code == 200 and "result" in final(messages)

    deleted = client.delete(server.url, headers=h.legacy_headers(session_id))
    assert deleted.status_code in (200, 202, 204), deleted.text

    again = client.post(
        server.url,
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        headers=h.legacy_headers(session_id),
    )
    assert again.status_code == 404
    assert (
        client.get(
            server.url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
        ).status_code
        == 404
    )
    assert client.delete(server.url, headers=h.legacy_headers(session_id)).status_code == 404


def test_ping_in_a_session(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    response, messages = legacy_call(client, server.url, session_id, "ping")
    assert response.status_code == 200
    assert final(messages)["result"] == {}


# ----------------------------------------------------------------------------------------------
# Legacy: MCP-Protocol-Version


@pytest.mark.parametrize(
    "bad", ["invalid-protocol-version", "2000-01-01", "2099-01-01", "2024-11-06"]
)
def test_unsupported_protocol_version_header_is_400(
    server: Any, client: httpx.Client, bad: str
) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    before = client.post(server.url, json=request, headers=h.legacy_headers(None, bad))
    assert before.status_code == 400, before.text
    session_id = initialize(client, server.url)
    after = client.post(server.url, json=request, headers=h.legacy_headers(session_id, bad))
    assert after.status_code == 400, after.text


def test_another_supported_version_header_is_accepted_in_a_session(
    server: Any, client: httpx.Client
) -> None:
    """Only an invalid or unsupported MCP-Protocol-Version is a 400 (the spec's MUST)."""
    session_id = initialize(client, server.url, version="2025-11-25")
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = client.post(
        server.url, json=request, headers=h.legacy_headers(session_id, "2025-06-18")
    )
    assert response.status_code == 200, response.text
    assert "tools" in h.validate(LEGACY, response.json(), "tools/list")["result"]


def test_missing_protocol_version_header_uses_the_session_version(
    server: Any, client: httpx.Client
) -> None:
    session_id = initialize(client, server.url, version="2025-06-18")
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}
    response = client.post(server.url, json=request, headers=h.legacy_headers(session_id, None))
    assert response.status_code == 200
    assert "tools" in h.validate("2025-06-18", response.json(), "tools/list")["result"]


# ----------------------------------------------------------------------------------------------
# Legacy: notifications, responses, JSON vs SSE


def test_notifications_and_responses_get_202(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url, initialized=False)
    note = client.post(
        server.url,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=h.legacy_headers(session_id),
    )
    assert note.status_code == 202 and note.content == b""
    cancel = client.post(
        server.url,
        json={
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": 12345, "reason": "nothing"},
        },
        headers=h.legacy_headers(session_id),
    )
    assert cancel.status_code == 202 and cancel.content == b""
    answer = client.post(
        server.url,
        json={"jsonrpc": "2.0", "id": 999, "result": {}},
        headers=h.legacy_headers(session_id),
    )
    assert answer.status_code == 202 and answer.content == b""


def test_simple_call_is_plain_json(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    response, messages = legacy_call(
        client, server.url, session_id, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["mcp-session-id"] == session_id
    result = final(messages)["result"]
    assert result["structuredContent"] == {"result": 5}
    assert result["content"] == [{"type": "text", "text": "5"}]


def test_progress_call_streams_sse_with_a_priming_event(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    request = {
        "jsonrpc": "2.0",
        "id": h.next_id(),
        "method": "tools/call",
        "params": {
            "name": "progress",
            "arguments": {"steps": 3},
            "_meta": {"progressToken": "tok-1"},
        },
    }
    response = client.post(server.url, json=request, headers=h.legacy_headers(session_id))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = h.parse_sse(response.text)

    priming = events[0]
    assert priming.id, "the priming event needs an id"
    assert priming.data in (None, ""), "the priming event carries empty data"
    assert priming.retry is not None and priming.retry > 0

    ids = [e.id for e in events]
    assert all(ids), f"every event of a legacy stream has an id: {ids}"
    assert len(set(ids)) == len(ids)
    messages = h.sse_messages(events)
    for message in messages:
        h.validate(LEGACY, message, "tools/call" if message.get("id") == request["id"] else None)
    progress = [m["params"] for m in messages if m.get("method") == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1, 2, 3]
    assert all(p["progressToken"] == "tok-1" and p["total"] == 3 for p in progress)
    assert messages[-1]["id"] == request["id"]
    assert messages[-1]["result"]["content"][0]["text"] == "counted to 3"


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18"])
def test_no_priming_event_before_2025_11_25(
    server: Any, client: httpx.Client, version: str
) -> None:
    session_id = initialize(client, server.url, version=version)
    request = {
        "jsonrpc": "2.0",
        "id": h.next_id(),
        "method": "tools/call",
        "params": {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": 7}},
    }
    response = client.post(server.url, json=request, headers=h.legacy_headers(session_id, version))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = h.parse_sse(response.text)
    assert all(e.data for e in events), "older clients get no empty-data priming event"
    for message in h.sse_messages(events):
        h.validate(version, message, "tools/call" if message.get("id") == request["id"] else None)
    assert h.sse_messages(events)[-1]["result"]["content"][0]["text"] == "counted to 2"


def test_logging_set_level_filters_session_logs(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    _, messages = legacy_call(
        client, server.url, session_id, "logging/setLevel", {"level": "warning"}
    )
    assert final(messages)["result"] == {}
    _, messages = legacy_call(
        client, server.url, session_id, "tools/call", {"name": "chatty", "arguments": {}}
    )
    logs = [m["params"] for m in messages if m.get("method") == "notifications/message"]
    assert [entry["level"] for entry in logs] == ["warning", "error"]
    assert logs[1]["logger"] == "demo.custom"
    assert final(messages)["result"]["content"][0]["text"] == "chatted"


def test_legacy_elicitation_round_trip_on_the_post_stream(server: Any) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks=h.async_validating_hooks()) as ac:
            init = h.initialize_request(capabilities={"elicitation": {}})
            response = await ac.post(server.url, json=init, headers=h.legacy_headers(version=None))
            session_id = response.headers["mcp-session-id"]
            await ac.post(
                server.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=h.legacy_headers(session_id),
            )
            call = {
                "jsonrpc": "2.0",
                "id": h.next_id(),
                "method": "tools/call",
                "params": {"name": "ask_name", "arguments": {}},
            }
            async with ac.stream(
                "POST", server.url, json=call, headers=h.legacy_headers(session_id)
            ) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                sse = h.AsyncSse(stream)
                _, ask = await sse.next_message()
                h.validate(LEGACY, ask)
                assert ask["method"] == "elicitation/create"
                assert ask["params"]["message"] == "What is your name?"
                answer = {
                    "jsonrpc": "2.0",
                    "id": ask["id"],
                    "result": {"action": "accept", "content": {"name": "Ada"}},
                }
                posted = await ac.post(
                    server.url, json=answer, headers=h.legacy_headers(session_id)
                )
                assert posted.status_code == 202
                _, done = await sse.next_message()
                h.validate(LEGACY, done, "tools/call")
                assert done["id"] == call["id"]
                assert done["result"]["content"] == [{"type": "text", "text": "accept:Ada"}]

    h.run(scenario(), 30)


def test_legacy_elicitation_needs_the_client_capability(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url, capabilities={})
    _, messages = legacy_call(
        client, server.url, session_id, "tools/call", {"name": "ask_name", "arguments": {}}
    )
    answer = final(messages)
    assert "error" in answer or answer["result"].get("isError"), answer
    assert not any(m.get("method") == "elicitation/create" for m in messages)


def test_legacy_cancelled_request_ends_cleanly(server: Any) -> None:
    """notifications/cancelled for an in-flight request: no JSON-RPC response for it, no 5xx,
    nothing logged as a crash, and the session goes on."""

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks=h.async_validating_hooks()) as ac:
            response = await ac.post(
                server.url, json=h.initialize_request(), headers=h.legacy_headers(version=None)
            )
            session_id = response.headers["mcp-session-id"]
            await ac.post(
                server.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=h.legacy_headers(session_id),
            )
            mark = len(server.stderr_lines)
            call = {
                "jsonrpc": "2.0",
                "id": "to-cancel",
                "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 5}},
            }
            pending = asyncio.ensure_future(
                ac.post(server.url, json=call, headers=h.legacy_headers(session_id))
            )
            await asyncio.sleep(0.3)
            cancel = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "to-cancel"},
            }
            assert (
                await ac.post(server.url, json=cancel, headers=h.legacy_headers(session_id))
            ).status_code == 202
            cancelled = await asyncio.wait_for(pending, 3)
            assert cancelled.status_code < 500, (cancelled.status_code, cancelled.text)
            for message in h.response_messages(cancelled):
                assert message.get("id") != "to-cancel", (
                    f"a cancelled request got a response: {message}"
                )
            ping = await ac.post(
                server.url,
                json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
                headers=h.legacy_headers(session_id),
            )
            assert ping.json()["result"] == {}
            await asyncio.sleep(0.1)
            assert not _asgi_errors(server, mark), _asgi_errors(server, mark)

    h.run(scenario(), 30)


# ----------------------------------------------------------------------------------------------
# Legacy: resumability


def _start_resumable(
    client: httpx.Client, url: str, session_id: str, tag: str, delay: float = 0.0
) -> tuple[dict[str, Any], list[Any]]:
    request = {
        "jsonrpc": "2.0",
        "id": h.next_id(),
        "method": "tools/call",
        "params": {"name": "resumable", "arguments": {"tag": tag, "delay": delay}},
    }
    response = client.post(url, json=request, headers=h.legacy_headers(session_id))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return request, h.parse_sse(response.text)


def _resume(client: httpx.Client, url: str, session_id: str, last_event_id: str) -> httpx.Response:
    headers = {
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session_id,
        "MCP-Protocol-Version": LEGACY,
        "Last-Event-ID": last_event_id,
    }
    return client.get(url, headers=headers)


def _check_cut_stream(events: list[Any], tag: str) -> None:
    """The POST stream ended early: the priming event and the first log, no response."""
    assert events[0].data in (None, "") and events[0].id and events[0].retry
    messages = h.sse_messages(events)
    for message in messages:
        h.validate(LEGACY, message)
    assert [m.get("params", {}).get("data") for m in messages] == [f"before {tag}"]
    assert not any("id" in m for m in messages), "the response must not be on the closed stream"


def _check_resumed(request: dict[str, Any], events: list[Any], more: list[Any], tag: str) -> None:
    replayed = h.sse_messages(more)
    for message in replayed:
        h.validate(LEGACY, message, "tools/call" if message.get("id") == request["id"] else None)
    # Exactly the missed events: the second log, then the final response; nothing repeated.
    assert [m.get("method") for m in replayed] == ["notifications/message", None], replayed
    assert replayed[0]["params"]["data"] == f"after {tag}"
    assert replayed[1]["id"] == request["id"]
    assert replayed[1]["result"]["content"][0]["text"] == f"resumed {tag}"
    # Same stream: the ids continue the closed stream's sequence, all distinct.
    all_ids = [e.id for e in events] + [e.id for e in more]
    assert all(all_ids) and len(set(all_ids)) == len(all_ids)
    prefix = events[0].id.rsplit("_", 1)[0]
    assert all(i.rsplit("_", 1)[0] == prefix for i in all_ids)


def _asgi_errors(server: Any, since: int) -> str:
    text = "".join(server.stderr_lines[since:])
    return text if ("Traceback" in text or "Exception in ASGI application" in text) else ""


def test_closed_stream_resumes_from_the_buffer(server: Any, client: httpx.Client) -> None:
    """The tool finished while the client was away: the missed events are replayed."""
    session_id = initialize(client, server.url)
    mark = len(server.stderr_lines)
    request, events = _start_resumable(client, server.url, session_id, "A", delay=0.0)
    _check_cut_stream(events, "A")
    time.sleep(0.3)  # the tool ends while no connection is attached
    resumed = _resume(client, server.url, session_id, events[-1].id)
    assert resumed.status_code == 200
    assert resumed.headers["content-type"].startswith("text/event-stream")
    _check_resumed(request, events, h.parse_sse(resumed.text), "A")
    # The connection is still good for the next request.
    _, messages = legacy_call(client, server.url, session_id, "ping")
    assert final(messages)["result"] == {}
    assert not _asgi_errors(server, mark)


def test_closed_stream_resumes_while_the_tool_still_runs(server: Any, client: httpx.Client) -> None:
    """The client comes back before the tool is done: the rest arrives live on the GET."""
    session_id = initialize(client, server.url)
    mark = len(server.stderr_lines)
    request, events = _start_resumable(client, server.url, session_id, "L", delay=0.5)
    _check_cut_stream(events, "L")
    resumed = _resume(client, server.url, session_id, events[-1].id)
    assert resumed.status_code == 200
    _check_resumed(request, events, h.parse_sse(resumed.text), "L")
    # The keep-alive connection must survive the resumed stream's end.
    _, messages = legacy_call(client, server.url, session_id, "ping")
    assert final(messages)["result"] == {}
    assert not _asgi_errors(server, mark), _asgi_errors(server, mark)


def test_resume_replays_only_that_stream(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    request_b, events_b = _start_resumable(client, server.url, session_id, "B")
    request_c, events_c = _start_resumable(client, server.url, session_id, "C")
    assert events_b[0].id != events_c[0].id
    time.sleep(0.3)  # both tools are done; everything waits in the buffers

    # Resume B from its priming event: everything after it, and nothing of C.
    resumed = _resume(client, server.url, session_id, events_b[0].id)
    replayed = h.sse_messages(h.parse_sse(resumed.text))
    for message in replayed:
        h.validate(LEGACY, message, "tools/call" if "id" in message else None)
    assert [
        m["params"]["data"] for m in replayed if m.get("method") == "notifications/message"
    ] == ["before B", "after B"]
    assert replayed[-1]["id"] == request_b["id"]
    assert replayed[-1]["result"]["content"][0]["text"] == "resumed B"
    assert all(m.get("id") != request_c["id"] for m in replayed)

    resumed_c = _resume(client, server.url, session_id, events_c[-1].id)
    _check_resumed(request_c, events_c, h.parse_sse(resumed_c.text), "C")


def test_resume_with_an_unknown_event_id_is_refused(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    response = _resume(client, server.url, session_id, "nosuchstream_3")
    assert 400 <= response.status_code < 500


# ----------------------------------------------------------------------------------------------
# Legacy: the standalone GET stream


def test_get_stream_receives_tools_list_changed(server: Any) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks=h.async_validating_hooks()) as ac:
            init = h.initialize_request()
            response = await ac.post(server.url, json=init, headers=h.legacy_headers(version=None))
            session_id = response.headers["mcp-session-id"]
            ack = await ac.post(
                server.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=h.legacy_headers(session_id),
            )
            assert ack.status_code == 202
            headers = {
                "Accept": "text/event-stream",
                "Mcp-Session-Id": session_id,
                "MCP-Protocol-Version": LEGACY,
            }
            async with ac.stream("GET", server.url, headers=headers) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                sse = h.AsyncSse(stream)
                priming = await sse.next()
                assert priming.id and not priming.data and priming.retry

                name = "dyn_" + uuid.uuid4().hex[:8]
                call = {
                    "jsonrpc": "2.0",
                    "id": h.next_id(),
                    "method": "tools/call",
                    "params": {"name": "add_tool", "arguments": {"name": name}},
                }
                added = await ac.post(server.url, json=call, headers=h.legacy_headers(session_id))
                h.validate(LEGACY, added.json(), "tools/call")
                assert added.json()["result"]["content"][0]["text"] == f"added {name}"

                event, message = await sse.next_message(timeout=5)
                h.validate(LEGACY, message)
                assert event.id and event.id != priming.id
                assert message["method"] == "notifications/tools/list_changed"
                assert "id" not in message

            listed = await ac.post(
                server.url,
                json={"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}},
                headers=h.legacy_headers(session_id),
            )
            names = [
                t["name"]
                for t in h.validate(LEGACY, listed.json(), "tools/list")["result"]["tools"]
            ]
            assert name in names

    h.run(scenario(), 30)


def test_delete_ends_an_open_get_stream(server: Any) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks=h.async_validating_hooks()) as ac:
            response = await ac.post(
                server.url, json=h.initialize_request(), headers=h.legacy_headers(version=None)
            )
            session_id = response.headers["mcp-session-id"]
            await ac.post(
                server.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=h.legacy_headers(session_id),
            )
            headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
            async with ac.stream("GET", server.url, headers=headers) as stream:
                sse = h.AsyncSse(stream)
                await sse.next()  # priming
                deleted = await ac.delete(server.url, headers=h.legacy_headers(session_id))
                assert deleted.status_code in (200, 202, 204)
                # The terminated session's stream ends now, not at the next keep-alive tick.
                with pytest.raises(StopAsyncIteration):
                    extra = await sse.next(timeout=3)
                    pytest.fail(f"unexpected event after DELETE: {extra}")

    h.run(scenario(), 30)


def test_get_stream_can_be_reopened(server: Any) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks=h.async_validating_hooks()) as ac:
            response = await ac.post(
                server.url, json=h.initialize_request(), headers=h.legacy_headers(version=None)
            )
            session_id = response.headers["mcp-session-id"]
            headers = {"Accept": "text/event-stream", "Mcp-Session-Id": session_id}
            for _ in range(2):
                async with ac.stream("GET", server.url, headers=headers) as stream:
                    assert stream.status_code == 200
                    priming = await h.AsyncSse(stream).next()
                    assert priming.id and priming.retry
                await asyncio.sleep(0.2)  # the server notices the disconnect

    h.run(scenario(), 30)


def test_get_without_session_is_400(server: Any, client: httpx.Client) -> None:
    assert client.get(server.url, headers={"Accept": "text/event-stream"}).status_code == 400


# ----------------------------------------------------------------------------------------------
# Security: Origin and Host


def test_foreign_origin_is_403(server: Any, client: httpx.Client) -> None:
    headers = h.legacy_headers(version=None) | {"Origin": "http://evil.example.com"}
    response = client.post(server.url, json=h.initialize_request(), headers=headers)
    assert response.status_code == 403
    assert "mcp-session-id" not in response.headers
    modern = h.modern_headers("tools/list") | {"Origin": "http://evil.example.com"}
    assert (
        client.post(server.url, json=h.modern_request("tools/list"), headers=modern).status_code
        == 403
    )
    assert (
        client.get(
            server.url, headers={"Accept": "text/event-stream", "Origin": "http://evil.example.com"}
        ).status_code
        == 403
    )


def test_foreign_host_is_421(server: Any, client: httpx.Client) -> None:
    headers = h.legacy_headers(version=None) | {"Host": "evil.example.com"}
    response = client.post(server.url, json=h.initialize_request(), headers=headers)
    assert response.status_code == 421
    headers = h.legacy_headers(version=None) | {"Host": f"evil.example.com:{server.port}"}
    assert client.post(server.url, json=h.initialize_request(), headers=headers).status_code == 421


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:{port}",
        "http://127.0.0.1:{port}",
        "http://localhost",
        "http://[::1]:{port}",
    ],
)
def test_local_origins_are_accepted(server: Any, client: httpx.Client, origin: str) -> None:
    headers = h.legacy_headers(version=None) | {"Origin": origin.format(port=server.port)}
    response = client.post(server.url, json=h.initialize_request(), headers=headers)
    assert response.status_code == 200, response.text
    h.validate(LEGACY, response.json(), "initialize")


@pytest.mark.parametrize(
    "host", ["localhost:{port}", "127.0.0.1:{port}", "localhost", "[::1]:{port}"]
)
def test_local_hosts_are_accepted(server: Any, client: httpx.Client, host: str) -> None:
    headers = h.legacy_headers(version=None) | {"Host": host.format(port=server.port)}
    response = client.post(server.url, json=h.initialize_request(), headers=headers)
    assert response.status_code == 200, response.text


# ----------------------------------------------------------------------------------------------
# Malformed and oversized bodies


def test_malformed_json_is_400_parse_error(server: Any, client: httpx.Client) -> None:
    response = client.post(
        server.url,
        content=b'{"jsonrpc": "2.0", "id": 1, "method": ',
        headers=h.legacy_headers(version=None),
    )
    assert response.status_code == 400
    message = h.validate(LEGACY, response.json())
    assert message["error"]["code"] == -32700


def test_id_less_error_carries_a_null_id(server: Any, client: httpx.Client) -> None:
    # A parse error has no request id to echo: JSON-RPC 2.0 answers "id": null (the official
    # SDKs do the same); clients of every protocol version read it.
    response = client.post(server.url, content=b"{", headers=h.legacy_headers(version=None))
    assert response.status_code == 400
    body = h.validate(LEGACY, response.json())
    assert body["id"] is None and body["error"]["code"] == -32700


def test_batch_outside_2025_03_26_is_refused(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in (1, 2)]
    response = client.post(server.url, json=batch, headers=h.legacy_headers(session_id))
    assert response.status_code == 400
    error = h.validate(LEGACY, response.json())["error"]
    assert error["code"] == -32600 and "only allowed in a 2025-03-26 session" in error["message"]
    assert f"this one is {LEGACY}" in error["message"]
    response = client.post(server.url, json=batch, headers=h.legacy_headers(version=None))
    assert response.status_code == 400 and "no Mcp-Session-Id" in response.text


def test_batch_in_a_2025_03_26_session(server: Any, client: httpx.Client) -> None:
    version = "2025-03-26"
    session_id = initialize(client, server.url, version)
    headers = h.legacy_headers(session_id, version)
    batch = [
        {
            "jsonrpc": "2.0",
            "id": "a",
            "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 2, "b": 3}},
        },
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "id": "b", "method": "tools/list"},
        {"jsonrpc": "2.0", "id": "c", "method": "initialize", "params": {}},
        {"jsonrpc": "2.0", "id": "d", "method": "no/such"},
        7,
    ]
    response = client.post(server.url, json=batch, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answers = response.json()
    assert isinstance(answers, list)
    by_id = {a.get("id"): a for a in answers}
    assert by_id["a"]["result"]["structuredContent"] == {"result": 5}
    assert "add" in {t["name"] for t in by_id["b"]["result"]["tools"]}
    assert "initialize cannot be part of a batch" in by_id["c"]["error"]["message"]
    assert by_id["d"]["error"]["code"] == -32601
    assert by_id[None]["error"]["code"] == -32600  # the 7
    assert len(answers) == 5  # the notification has no answer
    for answer in answers:
        h.validate(version, answer)

    # notifications only: 202, no body
    notes = [{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}]
    assert client.post(server.url, json=notes, headers=headers).status_code == 202

    # a request that reports progress turns the answer into an SSE stream carrying it all
    batch = [
        {
            "jsonrpc": "2.0",
            "id": "p",
            "method": "tools/call",
            "params": {
                "name": "progress",
                "arguments": {"steps": 2},
                "_meta": {"progressToken": "t"},
            },
        },
        {"jsonrpc": "2.0", "id": "q", "method": "ping"},
    ]
    response = client.post(server.url, json=batch, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = h.sse_messages(h.parse_sse(response.text))
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progress"] for m in progress] == [1, 2]
    assert {m.get("id") for m in messages if "method" not in m} == {"p", "q"}
    assert client.post(server.url, json=[], headers=headers).status_code == 400


def test_a_request_in_a_batch_can_be_cancelled(server: Any, client: httpx.Client) -> None:
    version = "2025-03-26"
    session_id = initialize(client, server.url, version)
    headers = h.legacy_headers(session_id, version)
    slow = {"name": "slow", "arguments": {"seconds": 30}}
    batch = [
        {"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": slow},
        {"jsonrpc": "2.0", "id": "fast", "method": "ping"},
    ]
    done: list[httpx.Response] = []
    poster = threading.Thread(
        target=lambda: done.append(httpx.post(server.url, json=batch, headers=headers, timeout=20))
    )
    poster.start()
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": "slow"},
    }
    deadline = time.monotonic() + 10
    while poster.is_alive() and time.monotonic() < deadline:  # until it lands in flight
        assert client.post(server.url, json=cancel, headers=headers).status_code == 202
        poster.join(0.1)
    poster.join(5)
    assert done and done[0].status_code == 200, done
    assert [a["id"] for a in done[0].json()] == ["fast"]  # the withdrawn one gets no answer


def test_modern_clients_do_not_post_responses(server: Any, client: httpx.Client) -> None:
    answer = {"jsonrpc": "2.0", "id": 3, "result": {}}
    response = client.post(server.url, json=answer, headers=h.modern_headers("tools/list"))
    assert response.status_code == 400


def test_wrong_content_type_is_415(server: Any, client: httpx.Client) -> None:
    response = client.post(
        server.url,
        content=json.dumps(h.initialize_request()),
        headers={"Content-Type": "text/plain", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 415


@pytest.mark.parametrize("size", [4_000, 300_000])
def test_body_over_the_limit_is_413_and_the_server_goes_on(
    small_server: Any, client: httpx.Client, size: int
) -> None:
    session_id = initialize(client, small_server.url)
    big = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "x" * size}},
    }
    response = client.post(small_server.url, json=big, headers=h.legacy_headers(session_id))
    assert response.status_code == 413
    if response.headers.get("content-type", "").startswith("application/json"):
        h.validate(LEGACY, response.json())
    # The next request on the same client (and connection pool) still works.
    response, messages = legacy_call(
        client,
        small_server.url,
        session_id,
        "tools/call",
        {"name": "echo", "arguments": {"text": "small"}},
    )
    assert response.status_code == 200
    assert final(messages)["result"]["content"][0]["text"] == "small"
    response, messages = legacy_call(
        client,
        small_server.url,
        session_id,
        "tools/call",
        {"name": "echo", "arguments": {"text": "y" * 1500}},
    )
    assert final(messages)["result"]["content"][0]["text"] == "y" * 1500


# ----------------------------------------------------------------------------------------------
# 2026-07-28: discovery and lists


def test_server_discover_result_shape(server: Any, client: httpx.Client) -> None:
    response, answer = modern_post(client, server.url, "server/discover")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    result = answer["result"]
    assert result["resultType"] == "complete"
    assert MODERN in result["supportedVersions"]
    assert LEGACY in result["supportedVersions"]
    assert {"tools", "resources", "prompts"} <= set(result["capabilities"])
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["cacheScope"] in ("public", "private")
    info = result["_meta"][h.META_SERVER_INFO]
    assert info["name"] == "mcp-runner" and info["version"]
    assert "protocolVersion" not in result and "serverInfo" not in result


@pytest.mark.parametrize(
    ("method", "field"),
    [
        ("tools/list", "tools"),
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ],
)
def test_lists_carry_cache_hints(
    server: Any, client: httpx.Client, method: str, field: str
) -> None:
    _, answer = modern_post(client, server.url, method)
    result = answer["result"]
    assert result["resultType"] == "complete"
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["cacheScope"] in ("public", "private")
    assert result[field]
    assert result["_meta"][h.META_SERVER_INFO]["name"] == "mcp-runner"
    if method == "tools/list":
        names = {t["name"] for t in result["tools"]}
        assert {"add", "echo", "progress", "ask_name", "resumable", "add_tool"} <= names


def test_modern_call_and_reads(server: Any, client: httpx.Client) -> None:
    _, answer = modern_post(
        client, server.url, "tools/call", {"name": "add", "arguments": {"a": 20, "b": 22}}
    )
    result = answer["result"]
    assert result["resultType"] == "complete"
    assert result["structuredContent"] == {"result": 42}
    assert "ttlMs" not in result and "cacheScope" not in result
    _, answer = modern_post(client, server.url, "resources/read", {"uri": "demo://items/1"})
    result = answer["result"]
    assert json.loads(result["contents"][0]["text"]) == {"id": "1", "name": "one"}
    assert isinstance(result["ttlMs"], int) and result["cacheScope"] in ("public", "private")
    _, answer = modern_post(
        client, server.url, "prompts/get", {"name": "greet", "arguments": {"name": "Ada"}}
    )
    assert answer["result"]["messages"][0]["content"]["text"] == "Hello, Ada!"


def test_modern_progress_streams_on_the_request(server: Any, client: httpx.Client) -> None:
    meta = h.modern_meta(progressToken="p-1")
    response, answer = modern_post(
        client, server.url, "tools/call", {"name": "progress", "arguments": {"steps": 3}}, meta=meta
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = h.sse_messages(h.parse_sse(response.text))
    progress = [m["params"] for m in messages if m.get("method") == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1, 2, 3]
    assert all(p["progressToken"] == "p-1" for p in progress)
    assert answer["result"]["content"][0]["text"] == "counted to 3"


def test_modern_logs_only_with_log_level(server: Any, client: httpx.Client) -> None:
    response, answer = modern_post(
        client, server.url, "tools/call", {"name": "chatty", "arguments": {}}
    )
    assert response.headers["content-type"].startswith("application/json"), (
        "no logLevel: no log messages"
    )
    assert answer["result"]["content"][0]["text"] == "chatted"

    meta = h.modern_meta(**{h.META_LOG_LEVEL: "warning"})
    response, answer = modern_post(
        client, server.url, "tools/call", {"name": "chatty", "arguments": {}}, meta=meta
    )
    messages = h.sse_messages(h.parse_sse(response.text))
    assert [
        m["params"]["level"] for m in messages if m.get("method") == "notifications/message"
    ] == ["warning", "error"]

    meta = h.modern_meta(**{h.META_LOG_LEVEL: "loud"})
    response, answer = modern_post(
        client, server.url, "tools/call", {"name": "chatty", "arguments": {}}, meta=meta
    )
    assert error_of(answer)["code"] == -32602


def test_modern_disconnect_cancels_quietly(server: Any, client: httpx.Client) -> None:
    """Closing the connection cancels a 2026-07-28 request; that is no server error."""
    mark = len(server.stderr_lines)
    request = h.modern_request("tools/call", {"name": "slow", "arguments": {"seconds": 5}})
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            server.url,
            json=request,
            headers=h.modern_headers("tools/call", request["params"]),
            timeout=0.4,
        )
    time.sleep(0.3)
    _, answer = modern_post(
        client, server.url, "tools/call", {"name": "echo", "arguments": {"text": "still here"}}
    )
    assert answer["result"]["content"][0]["text"] == "still here"
    assert not _asgi_errors(server, mark), _asgi_errors(server, mark)


# ----------------------------------------------------------------------------------------------
# 2026-07-28: envelope and header validation


def test_missing_meta_is_400_invalid_params(server: Any, client: httpx.Client) -> None:
    request = {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}}
    response = client.post(server.url, json=request, headers=h.modern_headers("tools/list"))
    assert response.status_code == 400
    answer = h.validate(MODERN, response.json())
    assert answer["error"]["code"] == -32602


def test_meta_without_client_capabilities_is_400_invalid_params(
    server: Any, client: httpx.Client
) -> None:
    meta = {h.META_VERSION: MODERN}
    request = {"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": {"_meta": meta}}
    response = client.post(server.url, json=request, headers=h.modern_headers("tools/list"))
    assert response.status_code == 400
    assert h.validate(MODERN, response.json())["error"]["code"] == -32602


@pytest.mark.parametrize("header", ["2025-11-25", "2025-06-18", None])
def test_version_header_body_mismatch_is_400_32020(
    server: Any, client: httpx.Client, header: str | None
) -> None:
    request = h.modern_request("tools/list")
    headers = h.modern_headers("tools/list")
    if header is None:
        del headers["MCP-Protocol-Version"]
    else:
        headers["MCP-Protocol-Version"] = header
    response = client.post(server.url, json=request, headers=headers)
    assert response.status_code == 400
    answer = h.validate_error(MODERN, response.json(), "HeaderMismatchError")
    assert answer["error"]["code"] == -32020
    assert answer.get("id") == request["id"]


def test_unsupported_version_is_400_32022(server: Any, client: httpx.Client) -> None:
    meta = h.modern_meta()
    meta[h.META_VERSION] = "2099-01-01"
    request = h.modern_request("tools/list", meta=meta)
    response = client.post(
        server.url, json=request, headers=h.modern_headers("tools/list", version="2099-01-01")
    )
    assert response.status_code == 400
    answer = h.validate_error(MODERN, response.json(), "UnsupportedProtocolVersionError")
    data = answer["error"]["data"]
    assert answer["error"]["code"] == -32022
    assert data["requested"] == "2099-01-01"
    assert MODERN in data["supported"]


@pytest.mark.parametrize(
    ("method", "params", "override"),
    [
        ("tools/list", {}, {"Mcp-Method": "prompts/list"}),
        ("tools/list", {}, {"Mcp-Method": "TOOLS/LIST"}),
        ("tools/list", {}, {"Mcp-Method": None}),
        ("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, {"Mcp-Name": "echo"}),
        ("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, {"Mcp-Name": None}),
        ("prompts/get", {"name": "greet", "arguments": {"name": "x"}}, {"Mcp-Name": "other"}),
        ("resources/read", {"uri": "demo://readme"}, {"Mcp-Name": "demo://items/1"}),
        (
            "tools/call",
            {"name": "add", "arguments": {"a": 1, "b": 2}},
            {"Mcp-Name": "=?base64?YWR!!?="},
        ),
    ],
)
def test_method_and_name_header_mismatch_is_400_32020(
    server: Any, client: httpx.Client, method: str, params: dict[str, Any], override: dict[str, Any]
) -> None:
    request = h.modern_request(method, params)
    headers = h.modern_headers(method, request["params"]) | override
    response = client.post(
        server.url, json=request, headers={k: v for k, v in headers.items() if v is not None}
    )
    assert response.status_code == 400, response.text
    answer = h.validate_error(MODERN, response.json(), "HeaderMismatchError")
    assert answer["error"]["code"] == -32020


def test_header_names_are_case_insensitive_and_values_trimmed(server: Any) -> None:
    request = h.modern_request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", MODERN),
        ("MCP-METHOD", " tools/call\t"),
        ("mcp-name", "  echo  "),
    ]
    status, response_headers, body = h.raw_post(server.url, json.dumps(request).encode(), headers)
    assert status == 200, body
    assert response_headers["content-type"].startswith("application/json")
    assert (
        h.validate(MODERN, json.loads(body), "tools/call")["result"]["content"][0]["text"] == "hi"
    )


def test_base64_encoded_name_header_is_decoded(server: Any, client: httpx.Client) -> None:
    request = h.modern_request("tools/call", {"name": "echo", "arguments": {"text": "b64"}})
    headers = h.modern_headers("tools/call") | {
        "Mcp-Name": "=?base64?" + base64.b64encode(b"echo").decode() + "?="
    }
    response = client.post(server.url, json=request, headers=headers)
    assert response.status_code == 200, response.text
    assert (
        h.validate(MODERN, response.json(), "tools/call")["result"]["content"][0]["text"] == "b64"
    )


@pytest.mark.parametrize(
    "method",
    ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"],
)
def test_removed_methods_are_404_method_not_found(
    server: Any, client: httpx.Client, method: str
) -> None:
    params: dict[str, Any] = {
        "initialize": {
            "protocolVersion": MODERN,
            "capabilities": {},
            "clientInfo": {"name": "x", "version": "1"},
        },
        "logging/setLevel": {"level": "info"},
        "resources/subscribe": {"uri": "demo://readme"},
        "resources/unsubscribe": {"uri": "demo://readme"},
    }.get(method, {})
    request = h.modern_request(method, params)
    response = client.post(server.url, json=request, headers=h.modern_headers(method))
    assert response.status_code == 404, response.text
    answer = h.validate(MODERN, response.json())
    assert answer["error"]["code"] == -32601
    assert answer["id"] == request["id"]
    assert "mcp-session-id" not in response.headers


def test_unknown_method_is_404(server: Any, client: httpx.Client) -> None:
    request = h.modern_request("tools/frobnicate")
    response = client.post(server.url, json=request, headers=h.modern_headers("tools/frobnicate"))
    assert response.status_code == 404
    assert h.validate(MODERN, response.json())["error"]["code"] == -32601


def test_unknown_resource_is_invalid_params_with_uri(server: Any, client: httpx.Client) -> None:
    uri = "demo://nonexistent-resource"
    _, answer = modern_post(client, server.url, "resources/read", {"uri": uri})
    err = error_of(answer)
    assert err["code"] == -32602
    assert err["data"]["uri"] == uri


# ----------------------------------------------------------------------------------------------
# 2026-07-28: input-required rounds


def _input_required_round(
    client: httpx.Client, url: str
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    caps = {"elicitation": {}}
    _, answer = modern_post(
        client, url, "tools/call", {"name": "ask_name", "arguments": {}}, capabilities=caps
    )
    result = answer["result"]
    assert result["resultType"] == "input_required"
    assert "ttlMs" not in result and "cacheScope" not in result
    requests = result["inputRequests"]
    assert len(requests) == 1
    key, embedded = next(iter(requests.items()))
    assert embedded["method"] == "elicitation/create"
    assert "id" not in embedded and "jsonrpc" not in embedded
    assert embedded["params"]["message"] == "What is your name?"
    assert embedded["params"]["requestedSchema"]["properties"]["name"]["type"] == "string"
    assert isinstance(result["requestState"], str) and result["requestState"]
    return result, key, caps


def test_input_required_round_trip(server: Any, client: httpx.Client) -> None:
    result, key, caps = _input_required_round(client, server.url)
    params = {
        "name": "ask_name",
        "arguments": {},
        "inputResponses": {key: {"action": "accept", "content": {"name": "Ada"}}},
        "requestState": result["requestState"],
    }
    _, answer = modern_post(client, server.url, "tools/call", params, capabilities=caps)
    final_result = answer["result"]
    assert final_result["resultType"] == "complete"
    assert final_result["content"] == [{"type": "text", "text": "accept:Ada"}]


def test_input_required_asks_again_without_an_answer(server: Any, client: httpx.Client) -> None:
    result, key, caps = _input_required_round(client, server.url)
    params = {
        "name": "ask_name",
        "arguments": {},
        "inputResponses": {"unrelated": {"action": "accept"}},
        "requestState": result["requestState"],
    }
    _, answer = modern_post(client, server.url, "tools/call", params, capabilities=caps)
    assert answer["result"]["resultType"] == "input_required"
    assert key in answer["result"]["inputRequests"]


def test_input_required_needs_the_client_capability(server: Any, client: httpx.Client) -> None:
    request = h.modern_request("tools/call", {"name": "ask_name", "arguments": {}}, capabilities={})
    response = client.post(
        server.url, json=request, headers=h.modern_headers("tools/call", request["params"])
    )
    answer = h.validate_error(MODERN, response.json(), "MissingRequiredClientCapabilityError")
    assert answer["error"]["code"] == -32021
    assert "elicitation" in answer["error"]["data"]["requiredCapabilities"]
    assert response.status_code == 400


def _tamper(state: str) -> str:
    data, _, mac = state.partition(".")
    flipped = "A" if data[5] != "A" else "B"
    return data[:5] + flipped + data[6:] + "." + mac


@pytest.mark.parametrize("how", ["flipped", "garbage", "other-tool"])
def test_tampered_request_state_is_invalid_params(
    server: Any, client: httpx.Client, how: str
) -> None:
    result, key, caps = _input_required_round(client, server.url)
    state = {
        "flipped": _tamper(result["requestState"]),
        "garbage": "not-a-state",
        "other-tool": result["requestState"],
    }[how]
    tool = "echo" if how == "other-tool" else "ask_name"
    arguments = {"text": "x"} if tool == "echo" else {}
    params = {
        "name": tool,
        "arguments": arguments,
        "inputResponses": {key: {"action": "accept", "content": {"name": "Mallory"}}},
        "requestState": state,
    }
    _, answer = modern_post(client, server.url, "tools/call", params, capabilities=caps)
    assert error_of(answer)["code"] == -32602


# ----------------------------------------------------------------------------------------------
# 2026-07-28: subscriptions/listen


def test_subscriptions_listen_delivers_only_requested_notifications(server: Any) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks=h.async_validating_hooks()) as ac:
            tools_req = h.modern_request(
                "subscriptions/listen",
                {"notifications": {"toolsListChanged": True}},
                id="listen-tools",
            )
            prompts_req = h.modern_request(
                "subscriptions/listen", {"notifications": {"promptsListChanged": True}}, id=77
            )
            async with (
                ac.stream(
                    "POST",
                    server.url,
                    json=tools_req,
                    headers=h.modern_headers("subscriptions/listen"),
                ) as tools_stream,
                ac.stream(
                    "POST",
                    server.url,
                    json=prompts_req,
                    headers=h.modern_headers("subscriptions/listen"),
                ) as prompts_stream,
            ):
                for stream in (tools_stream, prompts_stream):
                    assert stream.status_code == 200
                    assert stream.headers["content-type"].startswith("text/event-stream")
                tools_sse, prompts_sse = h.AsyncSse(tools_stream), h.AsyncSse(prompts_stream)

                _, ack = await tools_sse.next_message()
                h.validate(MODERN, ack)
                assert ack["method"] == "notifications/subscriptions/acknowledged"
                assert ack["params"]["_meta"][h.META_SUBSCRIPTION] == "listen-tools"
                assert ack["params"]["notifications"] == {"toolsListChanged": True}
                _, ack2 = await prompts_sse.next_message()
                h.validate(MODERN, ack2)
                assert ack2["params"]["_meta"][h.META_SUBSCRIPTION] == 77  # the id keeps its type
                assert ack2["params"]["notifications"] == {"promptsListChanged": True}

                name = "dyn_" + uuid.uuid4().hex[:8]
                call = h.modern_request(
                    "tools/call", {"name": "add_tool", "arguments": {"name": name}}
                )
                added = await ac.post(
                    server.url, json=call, headers=h.modern_headers("tools/call", call["params"])
                )
                assert (
                    h.validate(MODERN, added.json(), "tools/call")["result"]["content"][0]["text"]
                    == f"added {name}"
                )

                _, changed = await tools_sse.next_message(timeout=5)
                h.validate(MODERN, changed)
                assert changed["method"] == "notifications/tools/list_changed"
                assert changed["params"]["_meta"][h.META_SUBSCRIPTION] == "listen-tools"

                with pytest.raises((asyncio.TimeoutError, TimeoutError)):
                    leaked = await prompts_sse.next_message(timeout=0.5)
                    pytest.fail(f"a prompts-only subscription received {leaked}")

            listed = await ac.post(
                server.url,
                json=h.modern_request("tools/list"),
                headers=h.modern_headers("tools/list"),
            )
            assert name in {
                t["name"]
                for t in h.validate(MODERN, listed.json(), "tools/list")["result"]["tools"]
            }

    h.run(scenario(), 30)


def test_subscriptions_listen_needs_a_filter(server: Any, client: httpx.Client) -> None:
    _, answer = modern_post(client, server.url, "subscriptions/listen", {})
    assert error_of(answer)["code"] == -32602


# ----------------------------------------------------------------------------------------------
# Both eras at once


def test_both_eras_on_one_endpoint(server: Any, client: httpx.Client) -> None:
    session_id = initialize(client, server.url)
    _, legacy = legacy_call(
        client, server.url, session_id, "tools/call", {"name": "echo", "arguments": {"text": "old"}}
    )
    _, modern = modern_post(
        client, server.url, "tools/call", {"name": "echo", "arguments": {"text": "new"}}
    )
    assert "resultType" not in final(legacy)["result"]
    assert final(legacy)["result"]["content"][0]["text"] == "old"
    assert modern["result"]["resultType"] == "complete"
    assert modern["result"]["content"][0]["text"] == "new"
    # A modern request carrying a legacy session id is still served statelessly.
    request = h.modern_request("tools/list")
    response = client.post(
        server.url,
        json=request,
        headers=h.modern_headers("tools/list") | {"Mcp-Session-Id": session_id},
    )
    assert response.status_code == 200
    assert h.validate(MODERN, response.json(), "tools/list")["result"]["resultType"] == "complete"
