"""The builtin ``tracing`` plugin: an OpenTelemetry span per request (``[tracing] enabled``).

Spans go through ``opentelemetry-api`` alone, to whatever tracer provider the process has.
Unset, ``enabled`` means *automatic*: on when a tracer provider that records has been set by
the time the runner starts (by the embedding application, a plugin, or
``opentelemetry-instrument``), off otherwise, and then OpenTelemetry is not even imported.
``enabled = true`` with no provider set sets up the SDK's, exporting over OTLP/HTTP as the
standard ``OTEL_*`` variables say, when the ``mcp-runner[otel]`` extra is installed.

The parent comes from the request's ``_meta`` (``traceparent``, ``tracestate``), else from
the HTTP request's headers; the span is current while the request runs, so a proxied backend
call carries it on (`client/`). With the API alone (or the no-op provider) no span is made,
but the trace a request brings is current all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..hookspecs import Outcome, RequestObserver, hookimpl
from ..protocol.errors import McpError

if TYPE_CHECKING:
    from ..config import ConfigSections, Settings
    from ..protocol.session import Request
    from ..runner import Runner

NAMED_TARGETS = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}
"""Methods whose span name ends with the component's name, and the attribute naming it."""
NETWORK_TRANSPORTS = {"stdio": "pipe", "http": "tcp"}
"""``network.transport`` by the runner's transport name (none in process)."""


class TracingSettings(BaseModel):
    """The ``[tracing]`` table."""

    model_config = ConfigDict(defer_build=True)  # built only when a config has the table

    enabled: bool | None = None
    """True: trace (``opentelemetry-api`` must be installed); False: never; unset: trace when
    a tracer provider that records is set at start."""


def settings_of(settings: Settings) -> TracingSettings:
    """The validated ``[tracing]`` table."""
    return settings.section("tracing", TracingSettings)


@hookimpl
def mcp_runner_add_config(config: ConfigSections) -> None:
    """Validate the ``[tracing]`` table, when there is one."""
    if config.has_section("tracing"):
        config.add_section("tracing", TracingSettings)


def provider_set() -> bool:
    """Whether this process has set an OpenTelemetry tracer provider, of any kind (without
    importing the API: no provider can have been set if nothing imported it)."""
    trace = sys.modules.get("opentelemetry.trace")
    return trace is not None and not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider
    )


def provider_records() -> bool:
    """Whether this process's tracer provider records spans (one is set, not the no-op)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


@hookimpl
def mcp_runner_request_observers(runner: Runner) -> RequestObserver | None:
    """A span around each request when tracing is on; with the API alone, none, but the trace
    a request brings is current while it runs."""
    enabled = settings_of(runner.settings).enabled
    if enabled is False or (enabled is None and not provider_records()):
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        raise RuntimeError(
            "[tracing] enabled = true needs opentelemetry-api: pip install 'mcp-runner[otel]'"
        ) from None
    if not provider_set():
        export_over_otlp()
    if not provider_records():  # the API alone: no span would record; carry traces on
        return TraceCarrier()
    return SpanPerRequest(trace.get_tracer("mcp_runner"))


def trace_carrier(request: Request) -> Mapping[str, Any] | None:
    """What carries the trace `request` came with (W3C ``traceparent``, ``tracestate``): its
    ``_meta``, else its HTTP headers; None when it brought none."""
    if "traceparent" in request.meta:
        return request.meta
    headers = request.outlet.headers
    return headers if headers is not None and "traceparent" in headers else None


class TraceCarrier(RequestObserver):
    """No span records (the API alone, or the no-op provider): the trace a request brings is
    made current in the request's own context (dropped with it), so the calls made for it
    (proxied backends, `outgoing_http_client`) carry it on. A request that brings none costs a
    look at its ``_meta`` and headers."""

    def __init__(self) -> None:
        from opentelemetry import context, propagate

        self.attach, self.extract = context.attach, propagate.extract

    def request_started(self, request: Request) -> None:
        """Make the request's trace current, if it brought one."""
        carrier = trace_carrier(request)
        if carrier is not None:
            self.attach(self.extract(carrier))


class SpanPerRequest(RequestObserver):
    """A server span per request, current while the request runs: named ``tools/call
    <tool>`` (and so on), the child of the trace the request brings, ended with its outcome."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import context, propagate, trace

        self.tracer = tracer
        self.attach, self.detach = context.attach, context.detach
        self.extract = propagate.extract
        self.in_context = trace.set_span_in_context
        self.server_kind = trace.SpanKind.SERVER
        self.error_status = trace.StatusCode.ERROR
        # The running request's span and context token (each request has a context of its own).
        self.running: contextvars.ContextVar[tuple[Any, Any]] = contextvars.ContextVar("span")

    def request_started(self, request: Request) -> None:
        """Start the request's span, and make it current."""
        carrier = trace_carrier(request)
        parent = self.extract(carrier) if carrier is not None else None
        method = request.method
        target = request.params.get("name") if method in NAMED_TARGETS else None
        span = self.tracer.start_span(
            f"{method} {target}" if isinstance(target, str) else method,
            parent,
            self.server_kind,
            attributes=attributes_of(request, target),
        )
        self.running.set((span, self.attach(self.in_context(span, parent))))

    def request_ended(self, request: Request, outcome: Outcome, seconds: float) -> None:
        """End the request's span with its plugin and its outcome."""
        span, token = self.running.get()
        if request.plugin is not None:  # known once the request named its component
            span.set_attribute("mcp_runner.plugin", request.plugin)
        failure = request.failure
        if outcome == "tool_error":
            span.set_attribute("error.type", "tool_error")
            span.set_status(self.error_status)
        elif failure is not None:
            kind = (
                str(failure.code) if isinstance(failure, McpError) else type(failure).__qualname__
            )
            span.set_attribute("error.type", kind)
            span.set_status(self.error_status, str(failure))
        self.detach(token)
        span.end()


_exporting: list[Any] = []  # the SDK tracer provider set up here, shut down after serving


def export_over_otlp() -> None:
    """Set the SDK's tracer provider, exporting in batches over OTLP/HTTP (the endpoint, the
    headers and the service name from the ``OTEL_*`` variables); nothing without the SDK and
    the exporter (spans then only carry the trace context on)."""
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "mcp-runner"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _exporting.append(provider)


@hookimpl
def mcp_runner_lifespan(runner: Runner) -> contextlib.AbstractAsyncContextManager[None] | None:
    """After serving, export the spans still queued by a provider set up here."""
    return flushed() if _exporting else None


@contextlib.asynccontextmanager
async def flushed() -> AsyncIterator[None]:
    """Shut the provider set up here down on exit: its last batch is exported."""
    try:
        yield
    finally:
        while _exporting:
            await asyncio.to_thread(_exporting.pop().shutdown)


def attributes_of(request: Request, target: Any) -> dict[str, Any]:
    """A request's span attributes as it starts (OpenTelemetry's MCP conventions)."""
    attributes: dict[str, Any] = {
        "mcp.method.name": request.method,
        "mcp.protocol.version": request.version,
    }
    transport = NETWORK_TRANSPORTS.get(request.transport)
    if transport is not None:
        attributes["network.transport"] = transport
    if request.id is not None:
        attributes["jsonrpc.request.id"] = str(request.id)
    if isinstance(target, str):
        attributes[NAMED_TARGETS[request.method]] = target
    uri = request.params.get("uri")
    if isinstance(uri, str):
        attributes["mcp.resource.uri"] = uri
    if request.session_id is not None:
        attributes["mcp.session.id"] = request.session_id
    return attributes
