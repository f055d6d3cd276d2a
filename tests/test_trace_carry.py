"""The trace a request brings, carried on with no span of its own (``[tracing] enabled = true``
with the OpenTelemetry API alone): nothing runs per request; the calls made for a request
(`current_trace_context`, which proxied backend calls and `outgoing_http_client` use) find it
through `current_request`, from the request's ``_meta`` or else its HTTP headers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp_runner import Plugin, Runner
from mcp_runner.client import tracecontext
from mcp_runner.config import Settings
from mcp_runner.protocol.session import DirectOutlet, current_request

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
LEGACY = "2025-11-25"


class HeaderOutlet(DirectOutlet):
    """An outlet whose request came with these HTTP headers (None: stdio, in process)."""

    __slots__ = ("headers",)

    def __init__(self, headers: dict[str, str] | None) -> None:
        super().__init__(self._drop)
        self.headers = headers  # type: ignore[misc]

    async def _drop(self, message: dict[str, Any]) -> None:
        return None


def traced_runner() -> Runner:
    plugin = Plugin("probe")

    @plugin.tool
    async def trace() -> str:
        """What a call made now would carry, and the id of the request being answered."""
        request = current_request()
        answering = request.id if request is not None else None
        return json.dumps([tracecontext.current_trace_context(), answering])

    return Runner(Settings(), plugins={"probe": plugin}, entry_points=False).start()


async def call(runner: Runner, meta: dict[str, Any] | None, headers: dict[str, str] | None) -> Any:
    answers: list[dict[str, Any]] = []
    connection = runner.connect("test", answers.append)  # type: ignore[arg-type]
    connection.session.version, connection.session.initialized = LEGACY, True
    params: dict[str, Any] = {"name": "trace", "arguments": {}}
    if meta is not None:
        params["_meta"] = meta
    message = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    outlet = HeaderOutlet(headers)
    request = connection.receive(message, outlet)
    answer = await asyncio.create_task(connection.run(request))  # type: ignore[arg-type]
    return json.loads(answer["result"]["content"][0]["text"])


@pytest.mark.parametrize(
    ("meta", "headers", "carried"),
    [
        (
            {"traceparent": TRACEPARENT, "tracestate": "a=1"},
            None,
            {"traceparent": TRACEPARENT, "tracestate": "a=1"},
        ),
        (None, {"traceparent": TRACEPARENT}, {"traceparent": TRACEPARENT}),
        (
            {"traceparent": TRACEPARENT},
            {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
            {"traceparent": TRACEPARENT},
        ),
        ({}, {"accept": "application/json"}, None),
    ],
    ids=["meta", "headers", "meta-wins", "none"],
)
def test_the_incoming_trace_goes_on_when_carried(
    monkeypatch: pytest.MonkeyPatch, meta: Any, headers: Any, carried: Any
) -> None:
    monkeypatch.setattr(tracecontext, "carry_incoming", True)
    assert asyncio.run(call(traced_runner(), meta, headers)) == [carried, 7]


def test_nothing_is_carried_unless_tracing_carries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracecontext, "carry_incoming", False)
    meta = {"traceparent": TRACEPARENT}
    assert asyncio.run(call(traced_runner(), meta, None)) == [None, 7]


def test_outside_a_request_there_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracecontext, "carry_incoming", True)
    assert current_request() is None
    assert tracecontext.current_trace_context() is None
