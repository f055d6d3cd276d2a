"""The builtin ``metrics`` plugin: Prometheus metrics at ``GET /metrics`` (``[metrics] enabled``).

Requests are counted and timed by the host's request statistics (`RequestStats`), on every
transport; they, HTTP refusals and open SSE streams (counted by the HTTP transport), open
sessions, and plugin and proxy backend states are read at each scrape. ``prometheus-client`` (the
``mcp-runner[metrics]`` extra) is imported only when metrics are on. With
``PROMETHEUS_MULTIPROC_DIR`` set, counters and histograms are kept in that directory and
every worker's are summed at each scrape (prometheus-client's multiprocess mode).
``[metrics] address`` serves them on a listener of their own instead of the HTTP port.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from ..hookspecs import HttpAccess, Outcome, RequestObserver, RequestStats, hookimpl
from ..protocol.observers import BUCKETS

if TYPE_CHECKING:
    from ..config import ConfigSections, Settings
    from ..hookspecs import HttpObserver, RegisterRoute
    from ..protocol.session import Request
    from ..runner import Runner


class MetricsSettings(BaseModel):
    """The ``[metrics]`` table."""

    model_config = ConfigDict(defer_build=True)  # built only when a config has the table

    enabled: bool = False
    """Whether to measure and serve metrics at all."""
    path: str = "/metrics"
    """The path on the HTTP port (when `address` is not set)."""
    address: str | None = None
    """``host:port`` of a listener of their own for the metrics, instead of the HTTP port."""

    @field_validator("address")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"must be host:port, not {value!r}")
        return value


def settings_of(settings: Settings) -> MetricsSettings:
    """The validated ``[metrics]`` table."""
    return settings.section("metrics", MetricsSettings)


@hookimpl
def mcp_runner_add_config(config: ConfigSections) -> None:
    """Validate the ``[metrics]`` table, when there is one."""
    if config.has_section("metrics"):
        config.add_section("metrics", MetricsSettings)


_metrics: weakref.WeakKeyDictionary[Runner, Metrics] = weakref.WeakKeyDictionary()


def metrics_of(runner: Runner) -> Metrics | None:
    """`runner`'s metrics (created on first use), or None when ``[metrics]`` is off."""
    if not settings_of(runner.settings).enabled:
        return None
    found = _metrics.get(runner)
    if found is None:
        found = _metrics[runner] = Metrics(runner)
    return found


@hookimpl
def mcp_runner_request_observers(runner: Runner) -> RequestObserver | RequestStats | None:
    """Count and time every request: the host's own statistics in one process, an observer
    writing to the shared files in multiprocess mode."""
    metrics = metrics_of(runner)
    if metrics is None:
        return None
    if isinstance(metrics.measures, SharedMeasures):
        return metrics.measures
    return runner.request_stats


@hookimpl
def mcp_runner_http_observers(runner: Runner) -> HttpObserver | None:
    """In multiprocess mode, count HTTP refusals and open sessions into the shared files (in
    one process they are read from the HTTP transport at each scrape)."""
    metrics = metrics_of(runner)
    if metrics is None or not isinstance(metrics.measures, SharedMeasures):
        return None
    return metrics.measures.observe_http


@hookimpl
def mcp_runner_http_routes(register: RegisterRoute, runner: Runner) -> None:
    """``/metrics`` on the HTTP port, unless ``[metrics] address`` gives them a listener."""
    metrics = metrics_of(runner)
    if metrics is not None and metrics.settings.address is None:
        register(metrics.settings.path, metrics.scrape)


@hookimpl
def mcp_runner_lifespan(runner: Runner) -> contextlib.AbstractAsyncContextManager[None] | None:
    """The listener of ``[metrics] address``, open while the runner serves."""
    metrics = metrics_of(runner)
    if metrics is None or metrics.settings.address is None:
        return None
    return metrics.listener()


# Each metric's name and help text
_REQUESTS = (
    "mcp_runner_requests",
    "JSON-RPC requests answered, by method, component, plugin and outcome",
)
_REQUEST_LABELS = ["method", "tool", "plugin", "outcome"]
_DURATION = ("mcp_runner_request_duration_seconds", "Time to answer a JSON-RPC request, by method")
_IN_FLIGHT = ("mcp_runner_requests_in_flight", "JSON-RPC requests being answered")
_REFUSALS = ("mcp_runner_http_refusals", "HTTP requests refused (4xx and 5xx answers), by status")
_SESSIONS = ("mcp_runner_sessions_open", "Sessions open (legacy-era HTTP sessions and stdio)")
_STREAMS = ("mcp_runner_sse_streams_open", "SSE responses open (GET streams and streamed answers)")


class Metrics:
    """One runner's Prometheus metrics: its measures, and their exposition.

    In one process the measures are plain counts (`LocalMeasures`), turned into metrics at
    each scrape: a request costs a few dictionary updates. With ``PROMETHEUS_MULTIPROC_DIR``
    they are prometheus-client's own metrics (`SharedMeasures`), kept in that directory's
    files, which a scrape of any process sums.
    """

    def __init__(self, runner: Runner) -> None:
        import prometheus_client as prom

        self.settings = settings_of(runner.settings)
        self.prom = prom
        self.exposed = prom.CollectorRegistry()
        self.measures: LocalMeasures | SharedMeasures
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            self.measures = SharedMeasures(runner, self.exposed)
        else:
            self.measures = LocalMeasures(runner)
            self.exposed.register(self.measures)
        self.exposed.register(StateCollector(runner))

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return bytes(self.prom.generate_latest(self.exposed))

    async def scrape(self, scope: Any, receive: Any, send: Any) -> None:
        """The ``/metrics`` application."""
        body = self.exposition()
        headers = [
            (b"content-type", self.prom.CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @contextlib.asynccontextmanager
    async def listener(self) -> AsyncIterator[None]:
        """Serve the metrics on ``[metrics] address`` (prometheus-client's own server)."""
        assert self.settings.address is not None
        host, _, port = self.settings.address.rpartition(":")
        server, thread = self.prom.start_http_server(
            int(port), host.strip("[]"), registry=self.exposed
        )
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


class LocalMeasures:
    """This process's measures: the host's `RequestStats` (kept by the request path itself:
    a request costs a few list updates), turned into metrics at each scrape; a
    prometheus-client collector. The counts by component name, each method's histogram and
    the requests in flight (started, less those counted) are summed then."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        """The statistics as metrics (copied first: the listener of ``address`` scrapes from
        a thread of its own)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        counts: dict[tuple[str, str, str, str], float] = {}  # two components may share a name
        by_method: dict[str, list[float]] = {}
        measured, started = self.runner.request_stats.measured()
        for (method, target, outcome), histogram in measured:
            name, plugin = getattr(target, "name", ""), getattr(target, "plugin", "")
            counted = (method, name, plugin, outcome)
            counts[counted] = counts.get(counted, 0) + sum(histogram[:-1])
            total = by_method.setdefault(method, [0.0] * len(histogram))
            for position, value in enumerate(histogram):
                total[position] += value
        requests = CounterMetricFamily(*_REQUESTS, labels=_REQUEST_LABELS)
        for labels, count in counts.items():
            requests.add_metric(list(labels), count)
        durations = HistogramMetricFamily(*_DURATION, labels=["method"])
        bounds = [*(str(bound) for bound in BUCKETS), "+Inf"]
        for method, histogram in by_method.items():
            cumulative = itertools.accumulate(histogram[:-1])
            durations.add_metric(
                [method], list(zip(bounds, cumulative, strict=True)), histogram[-1]
            )
        from ..transports.http.responses import REFUSALS
        from ..transports.http.sse import OPEN_STREAMS

        refusals = CounterMetricFamily(*_REFUSALS, labels=["status"])
        for status, count in dict(REFUSALS).items():
            refusals.add_metric([str(status)], count)
        yield requests
        yield durations
        answered = sum(sum(histogram[:-1]) for _, histogram in measured)
        yield GaugeMetricFamily(*_IN_FLIGHT, value=started - answered)
        yield refusals
        yield GaugeMetricFamily(*_SESSIONS, value=len(self.runner.engine.notifier.sessions))
        yield GaugeMetricFamily(*_STREAMS, value=OPEN_STREAMS.count)


class SharedMeasures(RequestObserver):
    """The measures as prometheus-client metrics for its multiprocess mode: each update goes
    to this process's files in ``PROMETHEUS_MULTIPROC_DIR``, and a scrape sums every
    process's files."""

    def __init__(self, runner: Runner, exposed: Any) -> None:
        import prometheus_client as prom
        from prometheus_client import multiprocess

        own = prom.CollectorRegistry()  # the values live in the files; this only names them
        self.requests = prom.Counter(*_REQUESTS, _REQUEST_LABELS, registry=own)
        self.duration = prom.Histogram(*_DURATION, ["method"], registry=own, buckets=BUCKETS)
        self.in_flight = prom.Gauge(*_IN_FLIGHT, registry=own, multiprocess_mode="livesum")
        self.refusals = prom.Counter(*_REFUSALS, ["status"], registry=own)
        self.open_sessions = prom.Gauge(*_SESSIONS, registry=own, multiprocess_mode="livesum")
        self.open_streams = prom.Gauge(*_STREAMS, registry=own, multiprocess_mode="livesum")
        self.runner = runner
        multiprocess.MultiProcessCollector(exposed)
        self._counted: dict[tuple[str, str, str, str], Any] = {}
        self._timed: dict[str, Any] = {}

    def request_started(self, request: Request) -> None:
        """Count a request in flight, in the files."""
        self.in_flight.inc()

    def request_ended(self, request: Request, outcome: Outcome, seconds: float) -> None:
        """As `LocalMeasures.request_ended`, into the files."""
        self.in_flight.dec()
        method = request.method
        key = (method, getattr(request.target, "name", ""), request.plugin or "", outcome)
        counted = self._counted.get(key)
        if counted is None:
            counted = self._counted[key] = self.requests.labels(*key)
        counted.inc()
        timed = self._timed.get(method)
        if timed is None:
            timed = self._timed[method] = self.duration.labels(method)
        timed.observe(seconds)

    def observe_http(self, access: HttpAccess) -> None:
        """The HTTP observer: refusals by status, and the open sessions and SSE streams as this
        request ends, into the files."""
        from ..transports.http.sse import OPEN_STREAMS

        if access.status >= 400:
            self.refusals.labels(str(access.status)).inc()
        self.open_sessions.set(len(self.runner.engine.notifier.sessions))
        self.open_streams.set(OPEN_STREAMS.count)


class StateCollector:
    """Plugin states and their sub-entries' (the proxy's backends, from
    ``mcp_runner_status``), read at each scrape: the scraping worker's view."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        """The plugin and backend gauges, and the backends' restarts."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        plugins = GaugeMetricFamily(
            "mcp_runner_plugin_up",
            "1 when the plugin serves, by plugin and status",
            labels=["plugin", "status"],
        )
        backends = GaugeMetricFamily(
            "mcp_runner_backend_up",
            "1 when a plugin's backend (a proxied server) is ready, by plugin, backend and state",
            labels=["plugin", "backend", "state"],
        )
        restarts = CounterMetricFamily(
            "mcp_runner_backend_restarts",
            "Restarts of each backend of a plugin",
            labels=["plugin", "backend"],
        )
        host = self.runner.host
        host.collect_status(self.runner)
        for record in host.records.values():
            plugins.add_metric([record.name, record.status], 1 if record.status == "ok" else 0)
            for entry in record.backends or ():
                labels = [record.name, str(entry["name"])]
                state = str(entry["state"])
                backends.add_metric([*labels, state], 1 if state == "ready" else 0)
                restarts.add_metric(labels, entry.get("restarts", 0))
        yield plugins
        yield backends
        yield restarts
