"""The signed `requestState` of 2026-07-28 input-required rounds."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from mcp_runner import (
    Context,
    McpError,
    Plugin,
    Runner,
)
from mcp_runner.config import Settings
from mcp_runner.protocol.connection import Connection
from mcp_runner.protocol.session import DirectOutlet
from mcp_runner.protocol.state import StateSigner

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------
# Signed requestState


def test_request_state_round_trip_and_refusals() -> None:
    signer = StateSigner([b"k" * 32])
    token = signer.seal({"a": {"input_0": {"action": "accept"}}}, "tools/call|book|")
    body = signer.open(token, "tools/call|book|")
    assert body["a"] == {"input_0": {"action": "accept"}}

    def refused(value: Any, binding: str = "tools/call|book|", by: StateSigner = signer) -> str:
        with pytest.raises(McpError) as err:
            by.open(value, binding)
        assert err.value.code == -32602
        return err.value.message

    assert "another request" in refused(token, "tools/call|other|")
    assert "integrity" in refused(token, by=StateSigner([b"x" * 32]))
    _, mac = token.split(".")
    forged = (
        base64.urlsafe_b64encode(
            json.dumps({"a": {}, "b": "tools/call|book|", "x": 2**40}).encode()
        )
        .decode()
        .rstrip("=")
    )
    assert "integrity" in refused(f"{forged}.{mac}")
    assert refused(12).startswith("Invalid requestState")
    assert refused("no-dot").startswith("Invalid requestState")

    expired = StateSigner([b"k" * 32])
    import mcp_runner.protocol.state as state_module

    old = state_module.STATE_TTL_SECONDS
    state_module.STATE_TTL_SECONDS = -1
    try:
        stale = expired.seal({}, "b")
    finally:
        state_module.STATE_TTL_SECONDS = old
    assert "expired" in refused(stale, "b", expired)


def test_input_required_round_reruns_the_tool_with_answers_and_state() -> None:
    plugin = Plugin("booking")
    runs: list[int] = []

    @plugin.tool
    async def book(city: str, ctx: Context) -> str:
        runs.append(1)
        ctx.state["rounds"] = ctx.state.get("rounds", 0) + 1
        people = await ctx.elicit(
            "How many?", {"type": "object", "properties": {"n": {"type": "integer"}}}, key="people"
        )
        return f"{city} for {people['content']['n']} after {ctx.state['rounds']} rounds"

    runner = Runner(Settings(), plugins={"booking": plugin}, entry_points=False).start()
    engine = runner.engine
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError(f"nothing is sent on this wire: {message}")

    def call(params: dict[str, Any], request_id: int) -> dict[str, Any]:
        connection = Connection(engine, engine.session("test"), max_in_flight=1)
        message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
        return asyncio.run(engine.handle(connection.receive(message, DirectOutlet(send))))

    first = call({"name": "book", "arguments": {"city": "Oslo"}, "_meta": meta}, 1)["result"]
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["people"]["method"] == "elicitation/create"

    retry = {
        "name": "book",
        "arguments": {"city": "Oslo"},
        "_meta": meta,
        "inputResponses": {"people": {"action": "accept", "content": {"n": 4}}},
        "requestState": first["requestState"],
    }
    done = call(retry, 2)["result"]
    assert done["resultType"] == "complete"
    assert done["content"][0]["text"] == "Oslo for 4 after 2 rounds"
    assert len(runs) == 2

    other = dict(retry, name="other")
    assert call(other, 3)["error"]["code"] == -32602  # unknown tool
    replayed = call(dict(retry, requestState=first["requestState"][:-2] + "xx"), 4)
    assert replayed["error"]["code"] == -32602
    no_capability = dict(retry, _meta={**meta, "io.modelcontextprotocol/clientCapabilities": {}})
    no_capability.pop("inputResponses")
    no_capability.pop("requestState")
    assert call(no_capability, 5)["error"]["code"] == -32021


def test_state_signer_keys_differ_per_instance() -> None:
    assert StateSigner().seal({}, "b").split(".")[1] != StateSigner().seal({}, "b").split(".")[1]
