"""Request observers: what is told of every JSON-RPC request's start and end (the metrics, the
traces), without a place in the middleware chain. `Connection.run` times each request once and
calls only the methods an observer overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

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


class Observers:
    """The observers' methods to call: only those an observer overrides (an object that does
    not subclass `RequestObserver` has both called); `report(method, exc)` is told of a
    method that raised."""

    __slots__ = ("ending", "report", "started", "starting")

    def __init__(
        self,
        observers: Sequence[RequestObserver],
        report: Callable[[Callable[..., None], Exception], None],
    ) -> None:
        self.report = report
        #: How many requests have started (those in flight, less the ones answered).
        self.started = 0
        self.starting: tuple[Callable[[Request], None], ...] = tuple(
            observer.request_started
            for observer in observers
            if getattr(type(observer), "request_started", None)
            is not RequestObserver.request_started
        )
        self.ending: tuple[Callable[[Request, Outcome, float], None], ...] = tuple(
            observer.request_ended
            for observer in observers
            if getattr(type(observer), "request_ended", None) is not RequestObserver.request_ended
        )
