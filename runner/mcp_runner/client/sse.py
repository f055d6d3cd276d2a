"""Reading a server-sent event stream: the JSON-RPC messages it carries, and where it stands
(the last event id and the retry delay a resume needs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..protocol.jsonrpc import loads

if TYPE_CHECKING:
    import httpx


@dataclass(slots=True)
class StreamState:
    """Where a request's stream stands: whether its answer came (`answered`), the id of the last
    event read (`last_id`, for ``Last-Event-ID``) and the server's retry delay in seconds."""

    answered: bool = False
    last_id: str | None = None
    retry: float | None = None


@dataclass(slots=True)
class _Event:
    id: str | None
    data: str
    retry: float | None


async def _sse_events(response: httpx.Response) -> AsyncIterator[_Event]:
    """Server-sent events of a streaming response (comments and empty priming data kept out
    of `data` but their ids and retry delays reported)."""
    data: list[str] = []
    event_id: str | None = None
    retry: float | None = None
    seen = False
    async for line in response.aiter_lines():
        if not line:
            if seen:
                yield _Event(event_id, "\n".join(data), retry)
            data, event_id, retry, seen = [], None, None, False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
            seen = True
        elif name == "id":
            event_id = value
            seen = True
        elif name == "retry" and value.isdigit():
            retry = int(value) / 1000
            seen = True
    if seen:
        yield _Event(event_id, "\n".join(data), retry)


async def sse_messages(
    response: httpx.Response, state: StreamState
) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE stream; its event ids and retry delays go to `state`
    (for a resume). Events that carry no JSON object are skipped."""
    async for event in _sse_events(response):
        if event.id:
            state.last_id = event.id
        if event.retry is not None:
            state.retry = event.retry
        if not event.data.strip():
            continue
        try:
            message = loads(event.data)
        except ValueError:
            continue
        if isinstance(message, dict):
            yield message
