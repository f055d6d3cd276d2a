"""A legacy session's server-to-client requests (elicitation, sampling, roots) wait at most
`server.client_request_timeout`: then the client is told the request is cancelled, the waiting
call fails with -32001, and the session, no longer pinned, is reaped once idle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from http_helpers import (
    LEGACY,
    ServerProcess,
    initialize_request,
    legacy_headers,
    next_id,
    response_messages,
)
from mcp_runner import Context, Plugin, Runner
from mcp_runner.config import load_settings
from mcp_runner.protocol.errors import REQUEST_TIMEOUT
from mcp_runner.protocol.session import DirectOutlet

NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


def test_an_unanswered_elicitation_fails_the_waiting_call_and_is_cancelled() -> None:
    plugin = Plugin("asking")

    @plugin.tool
    async def ask(ctx: Context) -> str:
        await ctx.elicit("Name?", NAME_SCHEMA)
        return "answered"

    settings = load_settings(env={"MCP_RUNNER_CLIENT_REQUEST_TIMEOUT": "0.1"})
    runner = Runner(settings, plugins={"asking": plugin}, entry_points=False).start()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def scenario() -> dict[str, Any]:
        connection = runner.connect("test", send)
        session = connection.session
        session.version = LEGACY
        session.initialized = True
        session.client_capabilities = {"elicitation": {}}
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask"}}
        request = connection.receive(message, DirectOutlet(send))
        answer: dict[str, Any] = await asyncio.wait_for(runner.engine.handle(request), 5)
        assert not session.pending
        return answer

    answer = asyncio.run(scenario())
    assert answer["error"]["code"] == REQUEST_TIMEOUT == -32001
    assert "elicitation/create" in answer["error"]["message"]
    assert "client_request_timeout" in answer["error"]["message"]
    asked, cancelled = sent
    assert asked["method"] == "elicitation/create"
    assert cancelled["method"] == "notifications/cancelled"
    assert cancelled["params"]["requestId"] == asked["id"]


def test_the_timeout_is_a_positive_number_of_seconds() -> None:
    assert load_settings(env={}).server.client_request_timeout == 300.0
    with pytest.raises(Exception, match="client_request_timeout"):
        load_settings(env={"MCP_RUNNER_CLIENT_REQUEST_TIMEOUT": "0"})


@pytest.mark.e2e
def test_the_sdk_client_sees_the_error_when_it_never_answers() -> None:
    mcp = pytest.importorskip("mcp")

    async def never(ctx: Any, params: Any) -> Any:
        await asyncio.Event().wait()

    async def scenario(url: str) -> None:
        async with mcp.Client(url, mode="legacy", elicitation_callback=never) as client:
            with pytest.raises(mcp.MCPError) as failed:
                await client.call_tool("ask_name", {})
            assert failed.value.error.code == -32001
            assert "client_request_timeout" in failed.value.error.message

    with ServerProcess({"MCP_RUNNER_CLIENT_REQUEST_TIMEOUT": "0.5"}) as server:
        asyncio.run(asyncio.wait_for(scenario(server.url), 30))


@pytest.mark.e2e
def test_a_session_pinned_by_an_unanswered_request_is_reaped() -> None:
    env = {
        "MCP_RUNNER_CLIENT_REQUEST_TIMEOUT": "0.5",
        "MCP_RUNNER_HTTP__SESSION_IDLE_TIMEOUT": "1",
    }
    with ServerProcess(env) as server, httpx.Client(timeout=30) as client:
        opened = client.post(
            server.url,
            json=initialize_request(capabilities={"elicitation": {}}),
            headers=legacy_headers(version=None),
        )
        session_id = opened.headers["mcp-session-id"]
        headers = legacy_headers(session_id)
        client.post(
            server.url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=headers,
        )
        call = {
            "jsonrpc": "2.0",
            "id": next_id(),
            "method": "tools/call",
            "params": {"name": "ask_name", "arguments": {}},
        }
        messages = response_messages(client.post(server.url, json=call, headers=headers))
        methods = [m.get("method") for m in messages]
        assert methods[:2] == ["elicitation/create", "notifications/cancelled"]
        assert messages[-1]["id"] == call["id"]
        assert messages[-1]["error"]["code"] == -32001

        ping = {"jsonrpc": "2.0", "id": next_id(), "method": "ping"}
        deadline = time.monotonic() + 15
        status = 200
        while status != 404 and time.monotonic() < deadline:
            time.sleep(0.25)
            status = client.post(server.url, json=ping, headers=headers).status_code
            if status == 200:  # a ping is a use: stop using the session, then look again
                time.sleep(2)
        assert status == 404
