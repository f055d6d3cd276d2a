"""The one request path of a client connection: classify, admit, run, answer.

Every transport feeds its decoded messages through a `Connection`: stdio and the in-process
client with `accept` (each request becomes a task of its own), HTTP with `receive`, `admit`
and `run` (the request runs in the ASGI task, between checks of its own), batches with
`batch`. Whichever way, a request is admitted into the session's in-flight table, answered
by the engine, and taken out again; one cut short by shutdown gets the one shutdown answer,
one the client withdrew gets none.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import versions
from .errors import INTERNAL_ERROR, INVALID_PARAMS, McpError
from .jsonrpc import error, invalid_request
from .observers import BUCKETS, FIRST_BUCKET
from .session import Outlet, Request, Session

if TYPE_CHECKING:
    from .engine import Engine
    from .observers import Outcome

SERVER_BUSY = -32000  # implementation-defined: too many requests in flight (or sessions open)
#: The answer's message for a request cancelled because the server is shutting down.
SHUTTING_DOWN = "Request cancelled: the server is shutting down"
#: Where the requests' done-callbacks run: they read no context variables, so one context
#: serves them all (instead of a copy of the current one per request).
_CALLBACK_CONTEXT = contextvars.Context()
perf_counter = time.perf_counter


class Connection:
    """One client connection's request path: its session, the engine that answers, and how
    many requests may be in flight at once (more are refused at once, never queued)."""

    __slots__ = ("_batches", "_forget", "engine", "max_in_flight", "session")

    def __init__(self, engine: Engine, session: Session, max_in_flight: int) -> None:
        self.engine = engine
        self.session = session
        self.max_in_flight = max_in_flight
        session.request_timeout = engine.client_request_timeout
        self._batches: set[asyncio.Task[None]] = set()
        # Bound once: a request's done-callback allocates nothing.
        self._forget: Callable[[asyncio.Task[Any]], None] = self._forget_cancelled

    # -- classifying ----------------------------------------------------------------------------
    def receive(self, message: Any, outlet: Outlet) -> Request | dict[str, Any] | None:
        """Classify one decoded message: a `Request` to run (its own messages go to `outlet`),
        an error to answer at once, or None (a notification or a response, handled here)."""
        if not isinstance(message, dict):
            return invalid_request(None, "a JSON-RPC message must be an object")
        session = self.session
        method = message.get("method")
        has_id = "id" in message
        msg_id = message.get("id")
        if message.get("jsonrpc") != "2.0":
            return invalid_request(safe_id(msg_id), 'the "jsonrpc" member must be "2.0"')
        if method is None:
            if has_id and ("result" in message or "error" in message):
                session.resolve(message)
                return None
            return invalid_request(
                safe_id(msg_id), 'a message needs a "method", or a "result" or "error"'
            )
        if not isinstance(method, str):
            return invalid_request(safe_id(msg_id), '"method" must be a string')
        params = message.get("params", {})
        if not isinstance(params, dict):
            if not has_id:
                return None
            return invalid_request(safe_id(msg_id), '"params" must be an object')
        if not has_id:
            self.notification(method, params)
            return None
        if isinstance(msg_id, bool) or not isinstance(msg_id, str | int) or msg_id is None:
            return invalid_request(safe_id(msg_id), '"id" must be a string or an integer')
        meta = params.get("_meta")
        modern = isinstance(meta, dict) and versions.META_PROTOCOL_VERSION in meta
        if modern:
            version = meta[versions.META_PROTOCOL_VERSION]  # type: ignore[index]
        elif method == "initialize":
            # Decided now, not when the handler runs: requests pipelined behind the
            # handshake must already see the session's version.
            version = session.version = versions.negotiate(params.get("protocolVersion"))
        elif session.version is not None:
            version = session.version
        elif method == "ping":
            version = versions.LATEST_LEGACY
        else:
            return error(
                msg_id,
                INVALID_PARAMS,
                f"{method}: missing _meta[{versions.META_PROTOCOL_VERSION!r}]; send `initialize` "
                f"first (protocol {versions.LEGACY_VERSIONS[0]} to {versions.LATEST_LEGACY}) or "
                f"give the version and client capabilities in each request's _meta "
                f"({versions.LATEST})",
            )
        return Request(session, msg_id, method, params, outlet, version, modern)

    def notification(self, method: str, params: dict[str, Any]) -> None:
        """A notification from the client: the handshake's end, or a request withdrawn."""
        if method == "notifications/initialized":
            self.session.initialized = True
        elif method == "notifications/cancelled":
            target = params.get("requestId")
            in_flight = self.session.in_flight
            request = in_flight.get(target) if isinstance(target, str | int) else None
            if request is not None and request.task is not None:
                request.cancelled_by_client = True
                request.task.cancel()
        # notifications/roots/list_changed and notifications/progress need no action here.

    # -- running --------------------------------------------------------------------------------
    def admit(self, req: Request) -> dict[str, Any] | None:
        """Register `req` as in flight, or the error that refuses it: its id is already in
        flight, or `max_in_flight` requests are."""
        in_flight = self.session.in_flight
        if req.id in in_flight:
            return invalid_request(req.id, f"request id {req.id!r} is already in flight")
        if len(in_flight) >= self.max_in_flight:
            return error(
                req.id, SERVER_BUSY, f"Server busy: {self.max_in_flight} requests already in flight"
            )
        in_flight[req.id] = req
        return None

    async def run(self, req: Request, deliver: bool = False) -> dict[str, Any] | None:
        """The answer to an admitted request, which then leaves the in-flight table. Cancelled,
        it is the shutdown answer, or None when the client withdrew the request (no answer).
        `deliver`: also send the answer to the request's outlet."""
        answer: dict[str, Any] | None
        engine = self.engine
        observers = engine.observers
        if observers is not None:
            stats = observers.stats
            if stats is not None:
                stats.started += 1
            if observers.starting:  # (a test is cheaper than looping over nothing)
                for begin in observers.starting:
                    try:
                        begin(req)
                    except Exception as exc:
                        observers.report(begin, exc)
            started = perf_counter()
        try:
            answer = await engine.handle(req)
        except asyncio.CancelledError as cancelled:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # taken: the task goes on to deliver the answer
            answer = cut_short(req)
            req.failure = cancelled
        finally:
            in_flight = self.session.in_flight
            if in_flight.get(req.id) is req:
                del in_flight[req.id]
        if observers is not None:
            seconds = perf_counter() - started
            failure = req.failure
            if failure is None:  # answered with a result
                result = answer["result"]  # type: ignore[index]
                outcome: Outcome = "tool_error" if result.get("isError") is True else "ok"
            else:
                outcome = outcome_of(failure)
            if stats is not None:  # counted here: a call would cost as much as the counting
                key = req.target or req.method
                histogram = stats.histograms.get(key if outcome == "ok" else (key, outcome))
                if histogram is None:
                    histogram = stats.series(req, outcome)
                if seconds <= FIRST_BUCKET:
                    histogram[0] += 1
                else:
                    histogram[bisect_left(BUCKETS, seconds)] += 1
                histogram[-1] += seconds
            if observers.ending:
                for end in observers.ending:
                    try:
                        end(req, outcome, seconds)
                    except Exception as exc:
                        observers.report(end, exc)
        if deliver and answer is not None:
            await req.outlet.send(answer)
        return answer

    def accept(self, message: Any, outlet: Outlet) -> dict[str, Any] | None:
        """Take one message: a request is admitted and run as a task of its own, its answer
        sent to `outlet`. Returns what to send at once instead (an error, a refusal), or None."""
        outcome = self.receive(message, outlet)
        if outcome is None or isinstance(outcome, dict):
            return outcome
        req = outcome
        refusal = self.admit(req)
        if refusal is not None:
            return refusal
        req.task = asyncio.get_running_loop().create_task(self.run(req, deliver=True))
        req.task.add_done_callback(self._forget, context=_CALLBACK_CONTEXT)
        return None

    def _forget_cancelled(self, task: asyncio.Task[Any]) -> None:
        # Cancelled before it ever ran, run() did not clear the request's slot: done here.
        if task.cancelled():
            in_flight = self.session.in_flight
            for req in [req for req in in_flight.values() if req.task is task]:
                del in_flight[req.id]

    # -- batches --------------------------------------------------------------------------------
    async def batch(self, messages: list[Any], outlet: Outlet) -> list[dict[str, Any]]:
        """A JSON-RPC batch (2025-03-26 only; the transport checks the version): every message
        received in order, its requests admitted and run side by side. Returns the answers; a
        request the client withdrew has none. `initialize` cannot be in one."""
        answers: list[dict[str, Any]] = []
        requests: list[Request] = []
        for message in messages:
            if isinstance(message, dict) and message.get("method") == "initialize":
                answers.append(
                    invalid_request(
                        safe_id(message.get("id")), "initialize cannot be part of a batch"
                    )
                )
                continue
            outcome = self.receive(message, outlet)
            if isinstance(outcome, dict):
                answers.append(outcome)
            elif outcome is not None:
                refusal = self.admit(outcome)
                if refusal is not None:
                    answers.append(refusal)
                    continue
                requests.append(outcome)
        tasks = [asyncio.ensure_future(self.run(req)) for req in requests]
        for req, task in zip(requests, tasks, strict=True):
            req.task = task
        try:
            done = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            in_flight = self.session.in_flight
            for req in requests:  # those cancelled before they ran
                if in_flight.get(req.id) is req:
                    del in_flight[req.id]
        for req, answer in zip(requests, done, strict=True):
            if isinstance(answer, asyncio.CancelledError):  # before it ran
                answer = cut_short(req)
            elif isinstance(answer, BaseException):
                answer = error(req.id, INTERNAL_ERROR, f"Internal error: {answer!r}")
            if answer is not None:
                answers.append(answer)
        return answers

    def start_batch(
        self, messages: list[Any], outlet: Outlet, deliver: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        """Run a batch as a task of its own; `deliver(answers)` gets its answers (if any)."""
        task = asyncio.get_running_loop().create_task(self._run_batch(messages, outlet, deliver))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_batch(
        self, messages: list[Any], outlet: Outlet, deliver: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        answers = await self.batch(messages, outlet)
        if answers:
            deliver(answers)

    # -- ending ---------------------------------------------------------------------------------
    async def drain(self, grace: float) -> None:
        """Let the requests in flight finish for `grace` seconds, cancel the rest (they answer
        that the server is shutting down), then close the session."""
        in_flight = self.session.in_flight
        tasks: list[asyncio.Future[Any]] = [
            r.task for r in in_flight.values() if r.task is not None
        ]
        tasks += self._batches
        for req in list(in_flight.values()):
            if req.method == "subscriptions/listen" and req.task is not None:
                req.task.cancel()  # never ends by itself: answer it now
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self.session.close()


def outcome_of(failure: BaseException) -> Outcome:
    """How a request that `failure` ended did end, for its observers."""
    if isinstance(failure, asyncio.CancelledError):
        return "cancelled"
    return "error" if isinstance(failure, McpError) else "exception"


def cut_short(req: Request) -> dict[str, Any] | None:
    """The answer to a request cancelled before its end: none when the client withdrew it
    (the spec wants no response), else that the server is shutting down."""
    if req.cancelled_by_client:
        return None
    return error(req.id, INTERNAL_ERROR, SHUTTING_DOWN)


def safe_id(value: Any) -> Any:
    """A message's id if it is a valid JSON-RPC id, else None (for answering an invalid one)."""
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None
