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
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..hookspecs import hookimpl
from ..middleware import Handler, Middleware
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
def mcp_runner_middleware(settings: Settings) -> Middleware | None:
    """A span around each request, outermost in the ``observe`` band, when tracing is on."""
    enabled = settings_of(settings).enabled
    if enabled is False or (enabled is None and not provider_records()):
        return None
    try:
        from opentelemetry import context, propagate, trace
    except ImportError:
        raise RuntimeError(
            "[tracing] enabled = true needs opentelemetry-api: pip install 'mcp-runner[otel]'"
        ) from None
    if not provider_set():
        export_over_otlp()
    extract, attach, detach = propagate.extract, context.attach, context.detach

    def incoming_context(request: Request) -> Any:
        """The trace context the request came with: from its ``_meta``, else its HTTP
        headers (W3C ``traceparent``, ``tracestate``); None when it brought none."""
        if "traceparent" in request.meta:
            return extract(request.meta)
        headers = request.outlet.headers
        if headers is not None and "traceparent" in headers:
            return extract(headers)
        return None

    if not provider_records():  # the API alone: no span would record; carry traces on

        async def carry_trace(request: Request, call_next: Handler) -> Any:
            parent = incoming_context(request)
            if parent is None:
                return await call_next(request)
            token = attach(parent)
            try:
                return await call_next(request)
            finally:
                detach(token)

        return Middleware(carry_trace, band="observe", order=-10, name="tracing")
    tracer = trace.get_tracer("mcp_runner")
    server_kind = trace.SpanKind.SERVER
    error_status = trace.StatusCode.ERROR

    async def trace_request(request: Request, call_next: Handler) -> Any:
        parent = incoming_context(request)
        method = request.method
        target = request.params.get("name") if method in NAMED_TARGETS else None
        span = tracer.start_span(
            f"{method} {target}" if isinstance(target, str) else method, parent, server_kind
        )
        if span.is_recording():
            span.set_attributes(attributes_of(request, target))
        token = attach(trace.set_span_in_context(span, parent))
        try:
            result = await call_next(request)
            if isinstance(result, dict) and result.get("isError"):
                span.set_attribute("error.type", "tool_error")
                span.set_status(error_status)
            return result
        except McpError as exc:
            span.set_attribute("error.type", str(exc.code))
            span.set_status(error_status, str(exc))
            raise
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(error_status, str(exc))
            raise
        finally:
            detach(token)
            span.end()

    return Middleware(trace_request, band="observe", order=-10, name="tracing")


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
    """A request's span attributes (OpenTelemetry's MCP conventions, and the plugin's name)."""
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
    if request.plugin is not None:
        attributes["mcp_runner.plugin"] = request.plugin
    if request.session_id is not None:
        attributes["mcp.session.id"] = request.session_id
    return attributes
