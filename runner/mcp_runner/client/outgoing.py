"""The HTTP client for the calls a server makes on its own (a verifier fetching keys, a bridged
API's upstream): httpx, with the current trace context on every request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tracecontext import current_trace_context

if TYPE_CHECKING:
    import httpx


def outgoing_http_client(**options: Any) -> httpx.AsyncClient:
    """A new ``httpx.AsyncClient`` made with `options`, whose every request carries the W3C
    trace context that is current when it is sent (``traceparent``, ``tracestate``; headers
    the request already has are kept). Called while a request is answered, the call joins
    that request's trace. Request ``event_hooks`` given in `options` run after it."""
    import httpx

    hooks = dict(options.pop("event_hooks", None) or {})
    hooks["request"] = [carry_trace_context, *hooks.get("request", ())]
    return httpx.AsyncClient(event_hooks=hooks, **options)


async def carry_trace_context(request: httpx.Request) -> None:
    """Put the current trace context on `request` (an ``httpx.Request``), if there is one."""
    carried = current_trace_context()
    if carried:
        for name, value in carried.items():
            request.headers.setdefault(name, value)
