"""The trace an HTTP request brings (its W3C ``traceparent`` header), current while its token
is verified: a verifier's calls to the authorization server (keys, introspection) join it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def incoming_trace(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the trace of `headers` current for the block, when they carry one and
    OpenTelemetry is in use (nothing is imported here otherwise)."""
    if "traceparent" not in headers or "opentelemetry.context" not in sys.modules:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)
