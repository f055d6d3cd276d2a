"""The request middleware chain: built once at start-up, run for every JSON-RPC request.

A middleware is ``async def mw(request, call_next)``: it may return a result (or raise)
without calling ``call_next(request)``, change ``request.params`` first, or wrap what
``call_next`` returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

Band = Literal["errors", "observe", "auth", "plugin"]
"""Where in the chain a middleware sits: its band, then its `order` within the band."""
BANDS: tuple[Band, ...] = ("errors", "observe", "auth", "plugin")
"""The bands, outermost first."""

Handler = Callable[[Any], Awaitable[Any]]
"""What a middleware calls next: ``await call_next(request)`` answers the request's result."""
MiddlewareFn = Callable[[Any, Handler], Awaitable[Any]]
"""A middleware function: ``async def mw(request, call_next)``."""


@dataclass(frozen=True)
class Middleware:
    """A middleware function and its place in the chain: outermost band first, then `order`."""

    fn: MiddlewareFn
    band: Band = "plugin"
    order: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if self.band not in BANDS:
            raise ValueError(
                f"middleware band must be one of {', '.join(BANDS)}, not {self.band!r}"
            )


def build_chain(middlewares: list[Middleware], core: Handler) -> Handler:
    """Compose `middlewares` around `core`, outermost first."""
    ordered = sorted(middlewares, key=lambda m: (BANDS.index(m.band), m.order))
    handler = core
    for mw in reversed(ordered):
        handler = _link(mw.fn, handler)
    return handler


def _link(fn: MiddlewareFn, call_next: Handler) -> Handler:
    def run(request: Any) -> Awaitable[Any]:  # the middleware's own awaitable: no extra frame
        return fn(request, call_next)

    return run
