"""Request observers: what is told of every JSON-RPC request's start and end (the traces, a
plugin's own counts), without a place in the middleware chain, and the request statistics the
host keeps itself (the metrics). `Connection.run` times each request once, updates the
statistics in place and calls only the methods an observer overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .session import Request

Outcome: TypeAlias = Literal["ok", "tool_error", "error", "exception", "cancelled"]
"""How a JSON-RPC request ended: answered with a result (``ok``; ``tool_error`` when it is a
tool's result with ``isError``), with the error a handler raised (``error``: an ``McpError``;
``exception``: any other exception, mapped to an error), or cut short (``cancelled``: withdrawn
by the client or stopped by shutdown)."""


class RequestObserver:
    """Told of every JSON-RPC request as it starts and as it ends, on every transport and in
    both eras; subclass it and override either method (or both). They run in the task that
    answers the request, which has a context of its own: a context variable set in
    `request_started` is current for the handler and in `request_ended`, and is dropped with
    the request. Both must be quick and must never block."""

    def request_started(self, request: Request) -> None:
        """`request` has been admitted and is about to be answered."""

    def request_ended(self, request: Request, outcome: Outcome, seconds: float) -> None:
        """`request` has been answered (or cut short) after `seconds`; its answer is not sent
        yet. ``request.failure`` is the exception that ended it (its handler's, or the
        ``CancelledError`` that cut it short), None when it returned."""


BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""The latency histograms' upper bounds, in seconds (then +Inf)."""
FIRST_BUCKET = BUCKETS[0]  # most requests fall in it: one comparison instead of a bisection

Labels: TypeAlias = tuple[str, Any, Outcome]
"""A series of `RequestStats`: the method, the component (None for other methods), and the
outcome."""


class RequestStats:
    """How many requests were answered and how long each took, by method, component and
    outcome: kept by the one request path itself, with no call per request (the cheapest
    way to measure every request), for the plugins that read them (the builtin ``metrics``).

    The host keeps one, `Runner.request_stats`; a plugin has it kept by returning it from
    ``mcp_runner_request_observers``. Each series is a latency histogram: a count per bucket of
    `BUCKETS` and one above them, then the sum of the durations. A series of the ``ok``
    outcome is found by the component alone (the method when there is none: a component
    belongs to one method), the others by the component and the outcome.
    """

    __slots__ = ("histograms", "labels", "started")

    def __init__(self) -> None:
        self.histograms: dict[Any, list[float]] = {}
        self.labels: dict[Any, Labels] = {}
        #: Requests started: those in flight are these less the ones counted.
        self.started = 0

    def series(self, request: Request, outcome: Outcome) -> list[float]:
        """The histogram of `request`'s series (new and empty the first time)."""
        base = request.target or request.method
        key = base if outcome == "ok" else (base, outcome)
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = [0.0] * (len(BUCKETS) + 2)
            self.labels[key] = (request.method, request.target, outcome)  # after: readers see both
        return histogram

    def measured(self) -> tuple[list[tuple[Labels, list[float]]], int]:
        """Each series' labels and a copy of its histogram, and the requests started (read
        after the counts: never fewer than they hold). Safe from another thread."""
        series = [(labels, list(self.histograms[key])) for key, labels in dict(self.labels).items()]
        return series, self.started


class Observers:
    """What the request path tells of each request: the host's `RequestStats`, when a plugin
    has it kept, and the observers' methods, only those an observer overrides (an object
    that does not subclass `RequestObserver` has both called); `report(method, exc)` is told
    of a method that raised."""

    __slots__ = ("ending", "report", "starting", "stats")

    def __init__(
        self,
        observers: Sequence[RequestObserver | RequestStats],
        report: Callable[[Callable[..., None], Exception], None],
    ) -> None:
        self.report = report
        self.stats = next((o for o in observers if isinstance(o, RequestStats)), None)
        plain = [o for o in observers if not isinstance(o, RequestStats)]
        self.starting: tuple[Callable[[Request], None], ...] = tuple(
            observer.request_started
            for observer in plain
            if getattr(type(observer), "request_started", None)
            is not RequestObserver.request_started
        )
        self.ending: tuple[Callable[[Request, Outcome, float], None], ...] = tuple(
            observer.request_ended
            for observer in plain
            if getattr(type(observer), "request_ended", None) is not RequestObserver.request_ended
        )
