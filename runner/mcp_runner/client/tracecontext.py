"""The trace context for the requests a client sends: the current span's, else (when
``[tracing]`` carries traces with no span of its own) the one the request being answered
brought."""

from __future__ import annotations

import sys

from ..protocol.session import current_request

TRACE_KEYS = ("traceparent", "tracestate")
"""The W3C trace context keys carried in a request's ``_meta`` and its HTTP headers."""

carry_incoming = False
"""Whether the trace a request brings goes on to the calls made for it when no span is
current (set by the ``tracing`` builtin when it makes no spans: the API alone)."""


def current_trace_context() -> dict[str, str] | None:
    """The W3C trace context (``traceparent``, and ``tracestate`` when set) to send on, or None
    when there is none. OpenTelemetry is not imported here: if nothing imported it, no span
    can be current."""
    if "opentelemetry.context" in sys.modules:
        from opentelemetry import propagate

        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if "traceparent" in carrier:
            return {key: carrier[key] for key in TRACE_KEYS if key in carrier}
    return incoming_trace_context() if carry_incoming else None


def incoming_trace_context() -> dict[str, str] | None:
    """The trace context the request being answered brought: from its ``_meta``, else its
    HTTP headers; None outside a request or when it brought none."""
    request = current_request()
    if request is None:
        return None
    for source in (request.meta, request.outlet.headers or {}):
        if isinstance(source.get("traceparent"), str):
            return {key: source[key] for key in TRACE_KEYS if isinstance(source.get(key), str)}
    return None
