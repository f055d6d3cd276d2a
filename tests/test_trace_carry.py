"""The trace a request brings, carried on with no span of its own (``[tracing] enabled = true``
with the OpenTelemetry API alone): the tracing builtin's `TraceCarrier` makes it current in
the request's own context, from its ``_meta`` or else its HTTP headers, so the calls made for
the request (`current_trace_context`, which proxied backend calls and `outgoing_http_client`
use) carry it on; the context is dropped with the request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp_runner import Plugin, Runner, hookimpl
from mcp_runner.builtin.tracing import TraceCarrier
from mcp_runner.client.tracecontext import current_trace_context
from mcp_runner.config import Settings
from mcp_runner.protocol.session import DirectOutlet

pytest.importorskip("opentelemetry.propagate")

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
LEGACY = "2025-11-25"


class HeaderOutlet(DirectOutlet):
    """An outlet whose request came with these HTTP headers (None: stdio, in process)."""

    __slots__ = ("headers",)

    def __init__(self, headers: dict[str, str] | None) -> None:
        super().__init__(self._drop)
        self.headers = headers  # type: ignore[misc]

    async def _drop(self, message: dict[str, Any]) -> None:
        return None


def carrying_runner() -> Runner:
    plugin = Plugin("probe")

    @plugin.tool
    async def trace() -> str:
        """What a call made now would carry."""
        return json.dumps(current_trace_context())

    class Carry:
        @hookimpl
        def mcp_runner_request_observers(self) -> Any:
            return TraceCarrier()

    plugins = {"probe": plugin, "carry": Carry()}
    return Runner(Settings(), plugins=plugins, entry_points=False).start()


async def carried(meta: dict[str, Any] | None, headers: dict[str, str] | None) -> Any:
    connection = carrying_runner().connect("test", HeaderOutlet(None).send)
    connection.session.version, connection.session.initialized = LEGACY, True
    params: dict[str, Any] = {"name": "trace", "arguments": {}}
    if meta is not None:
        params["_meta"] = meta
    message = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    request = connection.receive(message, HeaderOutlet(headers))
    answer = await asyncio.create_task(connection.run(request))  # type: ignore[arg-type]
    assert current_trace_context() is None  # dropped with the request's own context
    return json.loads(answer["result"]["content"][0]["text"])


@pytest.mark.parametrize(
    ("meta", "headers", "expected"),
    [
        ({"traceparent": TRACEPARENT, "tracestate": "a=1", "baggage": "k=v"}, None, TRACEPARENT),
        (None, {"traceparent": TRACEPARENT}, TRACEPARENT),
        ({"traceparent": TRACEPARENT}, {"traceparent": OTHER}, TRACEPARENT),
        ({}, {"accept": "application/json"}, None),
    ],
    ids=["meta", "headers", "meta-wins", "none"],
)
def test_the_incoming_trace_is_current_while_the_request_runs(
    meta: Any, headers: Any, expected: str | None
) -> None:
    context = asyncio.run(carried(meta, headers))
    assert (context or {}).get("traceparent") == expected
    if meta and "tracestate" in meta:
        assert (context["tracestate"], context["baggage"]) == ("a=1", "k=v")
