"""Our requests awaiting answers: the bookkeeping by request id and progress token, and
`Outstanding`, a request sent without waiting for its answer."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ConnectionClosed, Interrupted, McpClientError
from .types import Progress

if TYPE_CHECKING:
    from .client import Client

ProgressCallback = Callable[[Progress], Any]


def result_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The result dict of a JSON-RPC answer; an error answer raises `McpClientError`."""
    if "error" in answer:
        raise McpClientError.from_error(answer["error"])
    result = answer.get("result")
    return result if isinstance(result, dict) else {}


class PendingRequest:
    """One request of ours awaiting its answer: the answer message (or the failure) lands in
    `future`; `tag` is the caller's object, given back with what arrives about the request."""

    __slots__ = ("future", "id", "method", "tag")

    def __init__(
        self, id: Any, method: str, future: asyncio.Future[dict[str, Any]], tag: Any
    ) -> None:
        self.id = id
        self.method = method
        self.future = future
        self.tag = tag


class RequestTable:
    """The requests awaiting answers (`pending`, by id) and the progress callbacks of those that
    asked for progress (`progress`, by token: the callback and the request's tag).

    `withdraw(request_id, reason)` tells the server a request is no longer wanted.
    """

    __slots__ = ("_ids", "_tokens", "pending", "progress", "withdraw")

    def __init__(self, withdraw: Callable[[Any, str], None]) -> None:
        self.pending: dict[Any, PendingRequest] = {}
        self.progress: dict[Any, tuple[ProgressCallback, Any]] = {}
        self.withdraw = withdraw
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)

    def open(self, method: str, tag: Any) -> PendingRequest:
        """A new request id, registered as awaiting its answer."""
        request_id = next(self._ids)
        pending = PendingRequest(
            request_id, method, asyncio.get_running_loop().create_future(), tag
        )
        self.pending[request_id] = pending
        return pending

    def watch_progress(self, callback: ProgressCallback, tag: Any) -> str:
        """A new progress token whose notifications go to `callback`."""
        token = f"p{next(self._tokens)}"
        self.progress[token] = (callback, tag)
        return token

    def forget(self, request_id: Any, token: str | None) -> None:
        """The request is over: drop it and its progress token."""
        self.pending.pop(request_id, None)
        if token is not None:
            self.progress.pop(token, None)

    def fail(self, request_id: Any, exc: BaseException) -> None:
        """The request will get no answer: its awaiting caller gets `exc`."""
        pending = self.pending.get(request_id)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(exc)

    def fail_all(self, reason: BaseException) -> None:
        """The connection is gone: every request fails with a `ConnectionClosed`."""
        for pending in list(self.pending.values()):
            if not pending.future.done():
                pending.future.set_exception(ConnectionClosed(str(reason)))

    def tag_of(self, request_id: Any) -> Any:
        """The tag of a pending request (None when there is no such request)."""
        pending = self.pending.get(request_id) if request_id is not None else None
        return pending.tag if pending is not None else None


class Outstanding:
    """A request sent by `Client.start` whose answer may not be there yet.

    ``done()`` tells whether it is; ``result()`` then gives the result dict or raises (as
    `Client.request` would); ``add_done_callback(fn)`` calls ``fn(outstanding)`` when the
    answer arrives; ``cancel()`` withdraws the request at the server; ``interrupt()`` wakes a
    task awaiting it with `Interrupted`, the request going on.
    """

    __slots__ = ("_callbacks", "_client", "_pending", "_requests", "_token")

    def __init__(
        self, client: Client, requests: RequestTable, pending: PendingRequest, token: str | None
    ) -> None:
        self._client = client
        self._requests = requests
        self._pending = pending
        self._token = token
        self._callbacks: list[Callable[[Outstanding], Any]] = []
        pending.future.add_done_callback(self._finished)

    @property
    def id(self) -> Any:
        """The request's JSON-RPC id."""
        return self._pending.id

    @property
    def client(self) -> Client:
        """The client that sent it."""
        return self._client

    def _finished(self, future: asyncio.Future[Any]) -> None:
        if future is not self._pending.future:
            return  # an interrupted wait, not the answer
        self._requests.forget(self._pending.id, self._token)
        for fn in self._callbacks:
            fn(self)

    def done(self) -> bool:
        """Whether the answer (or a failure) is there."""
        return self._pending.future.done()

    def result(self) -> dict[str, Any]:
        """The result dict, or the exception `Client.request` would raise (once `done()`)."""
        return result_of(self._pending.future.result())

    def add_done_callback(self, fn: Callable[[Outstanding], Any]) -> None:
        """Call ``fn(self)`` when the answer arrives (soon, when it is already there)."""
        if self.done():
            self._pending.future.get_loop().call_soon(fn, self)
        else:
            self._callbacks.append(fn)

    def cancel(self, reason: str = "cancelled") -> bool:
        """Withdraw the request at the server; False when it was already done."""
        if self._pending.future.done():
            return False
        self._requests.withdraw(self._pending.id, reason)
        return self._pending.future.cancel()

    def interrupt(self) -> bool:
        """Wake a task awaiting this request now: its ``await`` raises `Interrupted`. The
        request stays outstanding (its answer is kept for the next ``await``)."""
        woken = self._pending.future
        if woken.done():
            return False
        answer = woken.get_loop().create_future()
        answer.add_done_callback(self._finished)
        self._pending.future = answer
        woken.set_exception(Interrupted(f"request {self._pending.id!r} interrupted"))
        woken.exception()  # retrieved: nobody may be awaiting it
        return True

    def __await__(self) -> Any:
        try:
            yield from self._pending.future.__await__()
        except asyncio.CancelledError:  # the awaiting task was cancelled: so is the request
            self._requests.withdraw(self._pending.id, "cancelled")
            raise
        return self.result()
