"""The current OpenTelemetry trace context, for the requests a client sends."""

from __future__ import annotations

import sys

TRACE_KEYS = ("traceparent", "tracestate", "baggage")
"""The W3C Trace Context and Baggage keys carried in a request's ``_meta`` (SEP-414) and its
HTTP headers."""


def current_trace_context() -> dict[str, str] | None:
    """The current W3C trace context (``traceparent``, and ``tracestate`` and ``baggage`` when
    set), or None when there is none. OpenTelemetry is not imported here: if nothing imported
    it, no span can be current."""
    if "opentelemetry.context" not in sys.modules:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {key: carrier[key] for key in TRACE_KEYS if key in carrier} or None
