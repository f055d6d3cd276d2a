"""One request of ours in flight at a backend: where its progress, logs and the backend's
questions (elicitation, sampling) go; and the ways a call fails before reaching a backend."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ...context import Context

if TYPE_CHECKING:
    from ...client import Outstanding, Progress
    from ...components import Component
    from ...protocol.session import Request
    from .backend import Backend


class BackendDown(Exception):
    """The backend cannot take calls now (its message names the backend and its state)."""


class CallerToken(BackendDown):
    """The backend takes each caller's own token, and the request has none meant for it."""


class QuestionUnclaimed(Exception):
    """A question was queued on a call that ended before taking it."""


class ForwardedCall:
    """A request of ours in flight at a backend.

    For a legacy-era request the backend call runs in the request's own task and a question is
    asked of our client straight from the task that received it (``inline``). A 2026-07-28
    request cannot wait for an answer (it ends with an input-required result and comes back as
    a new request), so its backend call is started (``task``, a `client.Outstanding`) and can
    outlive the round: the request's task awaits the answer itself (``direct``) until a
    question interrupts it; questions queue in ``asks`` for that task to turn into input
    rounds. Between rounds the call is parked under ``token`` (`ProxyManager.park`).
    """

    __slots__ = (
        "asks",
        "backend",
        "component",
        "direct",
        "expiry",
        "futures",
        "inline",
        "owner",
        "pending",
        "request",
        "seq",
        "started",
        "task",
        "token",
        "waiter",
    )

    def __init__(self, backend: Backend, component: Component, request: Request) -> None:
        self.backend = backend
        self.component = component
        self.request: Request | None = request
        self.inline = not request.modern
        self.owner: asyncio.Task[Any] | None = None  # the task of the request awaiting it
        self.asks: collections.deque[tuple[str, dict[str, Any], asyncio.Future[Any]]] = (
            collections.deque()
        )
        self.pending: tuple[str, dict[str, Any], asyncio.Future[Any], str] | None = None
        self.futures: set[asyncio.Future[Any]] = set()
        self.seq = 0
        self.started = time.monotonic()
        self.task: Outstanding | None = None
        self.direct = False  # the request's task awaits `task` itself
        self.waiter: asyncio.Future[None] | None = None
        self.token: str | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def context(self) -> Context | None:
        """A tool context for the request (None while the call is parked between rounds)."""
        return Context(self.request, self.component) if self.request is not None else None

    def progress_callback(self) -> Callable[[Progress], Awaitable[None]] | None:
        """What passes the backend's progress on to our client (None when it asked for none)."""
        if self.request is None or self.request.progress_token is None:
            return None

        async def forward(progress: Progress) -> None:
            ctx = self.context()
            if ctx is not None:
                await ctx.report_progress(progress.progress, progress.total, progress.message)

        return forward

    def wake(self, *_: Any) -> None:
        """Something happened (a question, the answer): rouse the task waiting on the call."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self.direct and self.task is not None:
            self.task.interrupt()

    def release(self) -> None:
        """The call ended without taking its queued questions: hand them back to be routed
        again (`Backend` sends each to its next oldest call)."""
        while self.asks:
            _, _, future = self.asks.popleft()
            if not future.done():
                future.set_exception(QuestionUnclaimed())

    def sever(self, severed: dict[asyncio.Task[Any], str], reason: str) -> None:
        """The backend stopped answering: the request awaiting the call fails with `reason`
        (its task is cancelled, and noted in `severed` to raise `BackendDown` instead); a
        parked call is abandoned."""
        owner = self.owner
        if self.request is not None and owner is not None and not owner.done():
            severed[owner] = reason
            owner.cancel()
        else:
            self.abandon()

    def abandon(self) -> None:
        """Nobody will come back for this call: cancel its questions and the backend call."""
        for future in list(self.futures) if self.futures else ():
            if not future.done():
                future.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()
