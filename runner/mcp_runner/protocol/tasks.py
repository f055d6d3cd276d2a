"""Tasks (the ``io.modelcontextprotocol/tasks`` extension): tool calls that outlive their request.

A client that declares the extension and calls a tool that supports tasks gets a
`CreateTaskResult` at once, once the task is stored; the tool runs on in the background (a
`Job`, on the replica that took the call) and its outcome lands in the task's record, which
``tasks/get`` reads from any replica. A task moves from ``working`` to ``input_required`` (the
tool asked the client for input: ``tasks/update`` brings the answers) and back, and ends
``completed`` (the tool's result, an ``isError`` one included), ``failed`` (a protocol error)
or ``cancelled``. Records live in a `TaskStore`: `MemoryTaskStore` in this process, or a state
backend every replica shares; a relay carries cancellations and answers to the replica
running the task.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import heapq
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import INTERNAL_ERROR, INVALID_PARAMS, MISSING_CAPABILITY, McpError, invalid_params
from .inputs import CAPABILITY_OF, valid_answer

if TYPE_CHECKING:
    from .notify import Notifier
    from .session import Request

#: The extension's identifier, in capabilities and in a request's client capabilities.
EXTENSION = "io.modelcontextprotocol/tasks"
#: What a tool may say about running as a task.
TASK_SUPPORT = ("never", "optional", "required")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: How a relayed task (another server's, adopted by the proxy) is reached: ``relay(method,
#: remote_id, params)`` sends a tasks method to the server that holds it and returns its answer.
Relay = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: The bus messages of tasks: answers for a task, its cancellation, a change of its status.
BUS_KINDS = frozenset({"task-input", "task-cancel", "task-status"})
# What a task's record holds beside the wire fields: whose it is.
_OWNER = "owner"


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """How long tasks are kept, how often to poll them, and how many a principal may hold."""

    ttl: float = 3600.0  # seconds a task is kept after its last change
    max_ttl: float = 86_400.0  # the longest ttl a client may ask for (``params.task.ttl``)
    poll_interval: float = 1.0  # seconds between polls, as suggested to the client
    max_per_principal: int = 1000  # tasks (kept, not expired) one principal may hold
    max_result_bytes: int = 10 * 1024 * 1024  # a larger result fails the task


class TaskStore(abc.ABC):
    """Where task records are kept. Every method may raise the backend's unavailability error;
    none may wait longer than the backend's own timeout."""

    @abc.abstractmethod
    async def add_task(self, task_id: str, record: dict[str, Any], ttl: float, limit: int) -> bool:
        """Store a new task's record for `ttl` seconds, unless its owner (``record["owner"]``)
        already holds `limit` tasks: then store nothing and return False."""

    @abc.abstractmethod
    async def put_task(self, task_id: str, record: dict[str, Any], ttl: float) -> None:
        """Replace a task's record, kept `ttl` seconds from now."""

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> dict[str, Any] | None:
        """A task's record; None when it expired or never existed."""


class MemoryTaskStore(TaskStore):
    """Task records in this process (the default): they end with it. Expired records are
    dropped as new tasks are added, oldest expiry first."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[float, str, str]] = {}  # id: (expiry, owner, JSON)
        self._owned: dict[str, set[str]] = {}  # owner: ids
        self._expiries: list[tuple[float, str]] = []  # a heap of (expiry, id), some stale

    async def add_task(self, task_id: str, record: dict[str, Any], ttl: float, limit: int) -> bool:
        self._drop_expired()
        if len(self._owned.get(record[_OWNER], ())) >= limit:
            return False
        await self.put_task(task_id, record, ttl)
        return True

    async def put_task(self, task_id: str, record: dict[str, Any], ttl: float) -> None:
        expiry = time.monotonic() + ttl
        owner = record[_OWNER]
        self._records[task_id] = (expiry, owner, json.dumps(record))
        self._owned.setdefault(owner, set()).add(task_id)
        heapq.heappush(self._expiries, (expiry, task_id))

    async def get_task(self, task_id: str) -> dict[str, Any] | None:
        found = self._records.get(task_id)
        if found is None or found[0] <= time.monotonic():
            return None
        record: dict[str, Any] = json.loads(found[2])
        return record

    def _drop_expired(self) -> None:
        now = time.monotonic()
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, task_id = heapq.heappop(expiries)
            found = self._records.get(task_id)
            if found is not None and found[0] <= now:  # not kept longer by a later change
                del self._records[task_id]
                owned = self._owned[found[1]]
                owned.discard(task_id)
                if not owned:
                    del self._owned[found[1]]


def negotiated(req: Request) -> bool:
    """Whether the request's client declared the tasks extension."""
    extensions = req.client_capabilities.get("extensions")
    return isinstance(extensions, dict) and EXTENSION in extensions


def missing_extension(why: str) -> McpError:
    """-32021: the client must declare the tasks extension for this."""
    return McpError(
        MISSING_CAPABILITY,
        f"{why}: the client must declare the {EXTENSION} extension",
        {"requiredCapabilities": {"extensions": {EXTENSION: {}}}},
    )


def wire(record: dict[str, Any]) -> dict[str, Any]:
    """A task's record as the client sees it (``tasks/get``): without its owner."""
    return {key: value for key, value in record.items() if key != _OWNER}


def owner_of(req: Request) -> str:
    """Whose tasks a request may see: its principal's subject ("" without auth)."""
    return str(getattr(req.principal, "subject", "") or "") if req.principal is not None else ""


def now_iso() -> str:
    """The current time in ISO 8601, UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Tasks:
    """The tasks of one server: creating them, running them here, and answering about them."""

    def __init__(self, limits: TaskLimits, notifier: Notifier | None = None) -> None:
        self.limits = limits
        self.store: TaskStore = MemoryTaskStore()
        self.notifier = notifier
        #: Where messages for every replica go (None: this process is the only one).
        self.relay: Callable[[dict[str, Any]], None] | None = None
        #: The tasks running in this process, by id.
        self.running: dict[str, Job] = {}
        #: Where relayed tasks live, by the name they are namespaced with (a proxy's backend).
        self.relays: dict[str, Relay] = {}

    def share(self, store: TaskStore, relay: Callable[[dict[str, Any]], None]) -> None:
        """Keep tasks in a store every replica shares, and reach the other replicas by `relay`."""
        self.store = store
        self.relay = relay

    # -- running a call ---------------------------------------------------------------------------
    async def call(
        self, req: Request, work: Callable[[], Awaitable[dict[str, Any]]], deferred: bool
    ) -> dict[str, Any]:
        """Run a tool call as a task: a `CreateTaskResult` once the task is stored, at once or,
        when `deferred`, when the tool begins its task (`Job.begin`); until then the call is
        answered as usual (its result, or an input-required round)."""
        job = Job(self, req)
        req.job = job
        if not deferred:
            await job.begin()
            job.worker = asyncio.ensure_future(job.work(work))
            return {"resultType": "task", **wire(job.record)}
        worker = asyncio.ensure_future(job.work(work))
        job.worker = worker
        either: set[asyncio.Future[Any]] = {worker, job.begun}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not job.started:
                worker.cancel()
            raise
        result = None if job.started else worker.result()
        return {"resultType": "task", **wire(job.record)} if result is None else result

    async def adopt(self, req: Request, via: str, created: dict[str, Any]) -> dict[str, Any]:
        """Answer a call with a task another server created for it (`created`, its
        `CreateTaskResult`), under an id namespaced by `via` (``<via>:<its id>``): kept as the
        caller's, and reached through ``relays[via]`` by the tasks methods."""
        remote = str(created.get("taskId", ""))
        task_id = f"{via}:{remote}"
        ttl_ms = created.get("ttlMs")
        ttl = ttl_ms / 1000 if isinstance(ttl_ms, int) and ttl_ms > 0 else self.limits.ttl
        record = {"taskId": task_id, "via": via, "remote": remote, _OWNER: owner_of(req)}
        if not await self.store.add_task(task_id, record, ttl, self.limits.max_per_principal):
            raise too_many(self.limits)
        own = {k: v for k, v in created.items() if k != "_meta"}
        return {**own, "resultType": "task", "taskId": task_id}

    async def _relayed(
        self, record: dict[str, Any], method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        relay = self.relays.get(record["via"])
        if relay is None:
            raise McpError(
                INTERNAL_ERROR,
                f"Task {record['taskId']!r} lives at {record['via']!r}, which is not served here",
            )
        answer = await relay(method, record["remote"], params)
        out = {k: v for k, v in answer.items() if k not in ("_meta", "resultType")}
        if "taskId" in out:
            out["taskId"] = record["taskId"]
        return out

    def ttl_for(self, req: Request) -> float:
        """The task's ttl in seconds: the client's ``params.task.ttl`` (ms, SEP-1686 form)
        within ``max_ttl``, else the server's."""
        hint = req.params.get("task")
        asked = hint.get("ttl") if isinstance(hint, dict) else None
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
            return float(min(asked / 1000, self.limits.max_ttl))
        return self.limits.ttl

    # -- the tasks/* methods ----------------------------------------------------------------------
    async def get(self, req: Request) -> dict[str, Any]:
        """``tasks/get``: the task's status, and its result or error once it ended."""
        record = await self._find(req)
        if "via" in record:
            return await self._relayed(record, "tasks/get", {})
        return wire(record)

    async def update(self, req: Request) -> dict[str, Any]:
        """``tasks/update``: answers to the task's input requests (unknown keys are ignored)."""
        record = await self._find(req)
        responses = req.params.get("inputResponses")
        if not isinstance(responses, dict):
            raise invalid_params("tasks/update: params.inputResponses must be an object")
        if "via" in record:
            return await self._relayed(record, "tasks/update", {"inputResponses": responses})
        task_id = record["taskId"]
        job = self.running.get(task_id)
        if job is not None:
            await job.answer(responses)
        elif record["status"] == "input_required":
            if answered(record, responses):
                await self.save(record)
            self._publish({"t": "task-input", "id": task_id, "r": responses})
        return {}

    async def cancel(self, req: Request) -> dict[str, Any]:
        """``tasks/cancel``: end the task as cancelled; a task that already ended stays as it is."""
        record = await self._find(req)
        if "via" in record:
            return await self._relayed(record, "tasks/cancel", {})
        if record["status"] in TERMINAL:
            return {}
        task_id = record["taskId"]
        job = self.running.get(task_id)
        if job is not None:
            await job.cancel()
            return {}
        set_status(record, "cancelled", "Cancelled by the client")
        record.pop("inputRequests", None)
        await self.save(record)
        self._publish({"t": "task-cancel", "id": task_id})
        return {}

    async def _find(self, req: Request) -> dict[str, Any]:
        if not negotiated(req):
            raise missing_extension(f"{req.method} needs the tasks extension")
        task_id = req.params.get("taskId")
        if not isinstance(task_id, str):
            raise invalid_params(f"{req.method}: params.taskId must be a string")
        record = await self.find(task_id, owner_of(req))
        if record is None:
            raise McpError(INVALID_PARAMS, f"Unknown task: {task_id!r}", {"taskId": task_id})
        return record

    async def find(self, task_id: str, owner: str) -> dict[str, Any] | None:
        """The task's record when `owner` owns it (anyone else is told nothing of it)."""
        record = await self.store.get_task(task_id)
        if record is None or record.get(_OWNER) != owner:
            return None
        return record

    async def save(self, record: dict[str, Any]) -> None:
        """Store a changed record, and tell the task's listeners of its status."""
        await self.store.put_task(record["taskId"], record, record["ttlMs"] / 1000)
        if self.relay is not None:
            self._publish({"t": "task-status", "r": wire(record)})
        elif self.notifier is not None:
            self.notifier.deliver_task_status(wire(record))

    async def close(self, grace: float = 5.0) -> None:
        """The server is stopping: interrupt the tasks running here, and give them `grace`
        seconds to be recorded as cancelled (a task no replica runs any more must not stay
        ``working``)."""
        jobs = list(self.running.values())
        for job in jobs:
            job.interrupt("Cancelled: the server running it stopped")
        workers = [job.worker for job in jobs if job.worker is not None]
        if workers:
            await asyncio.wait(workers, timeout=grace)

    # -- the bus ----------------------------------------------------------------------------------
    def _publish(self, message: dict[str, Any]) -> None:
        if self.relay is not None:
            self.relay(message)

    def deliver(self, message: dict[str, Any]) -> None:
        """Act on a task message from any replica (this one included)."""
        kind = message.get("t")
        if kind == "task-status":
            if self.notifier is not None:
                self.notifier.deliver_task_status(message["r"])
            return
        job = self.running.get(message.get("id", ""))
        if job is None:
            return
        if kind == "task-cancel":
            job.interrupt("Cancelled by the client")
        elif kind == "task-input" and isinstance(message.get("r"), dict):
            job.spawn(job.answer(message["r"]))


def too_many(limits: TaskLimits) -> McpError:
    """-32602: the caller holds as many tasks as it may."""
    return McpError(
        INVALID_PARAMS,
        f"Too many tasks: at most {limits.max_per_principal} are kept per client "
        "(tasks.max_per_principal); collect or let some expire first",
    )


def set_status(record: dict[str, Any], status: str, message: str | None = None) -> None:
    """Move a record to `status` now, with an optional status message."""
    record["status"] = status
    record["lastUpdatedAt"] = now_iso()
    if message is None:
        record.pop("statusMessage", None)
    else:
        record["statusMessage"] = message


def answered(record: dict[str, Any], responses: dict[str, Any]) -> bool:
    """Drop the input requests that `responses` answers from the record (back to ``working``
    once none is left); whether any was."""
    pending = record.get("inputRequests") or {}
    done = [
        key
        for key, answer in responses.items()
        if key in pending and valid_answer(pending[key].get("method", ""), answer)
    ]
    for key in done:
        del pending[key]
    if done and not pending:
        record.pop("inputRequests", None)
        set_status(record, "working")
    return bool(done)


class Job:
    """One task running in this process: the tool's call, and what it waits for."""

    def __init__(self, tasks: Tasks, req: Request) -> None:
        self.tasks = tasks
        self.req = req
        self.record: dict[str, Any] = {}
        self.begun: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.worker: asyncio.Future[Any] | None = None
        self.waiting: dict[str, asyncio.Future[Any]] = {}
        self.reason = "Cancelled"  # the status message if the call is interrupted
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def started(self) -> bool:
        """Whether the call is a task yet (its `CreateTaskResult` may be answered)."""
        return self.begun.done()

    async def begin(self) -> None:
        """Store the task, so that the call is answered with it; the tool runs on detached
        from its request (whose notifications are dropped from now on). A no-op once begun."""
        if self.started:
            return
        req, tasks = self.req, self.tasks
        created = now_iso()
        ttl = tasks.ttl_for(req)
        task_id = secrets.token_urlsafe(18)
        record = {
            "taskId": task_id,
            "status": "working",
            "createdAt": created,
            "lastUpdatedAt": created,
            "ttlMs": max(1, round(ttl * 1000)),
            "pollIntervalMs": max(1, round(tasks.limits.poll_interval * 1000)),
            _OWNER: owner_of(req),
        }
        if not await tasks.store.add_task(task_id, record, ttl, tasks.limits.max_per_principal):
            raise too_many(tasks.limits)
        self.record = record
        tasks.running[task_id] = self
        self.begun.set_result(None)

    async def work(self, work: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
        """Run the call; once it is a task, its outcome goes to the record (never raised)."""
        try:
            result = await work()
        except asyncio.CancelledError:
            if self.started:
                await self._settle("cancelled", message=self.reason)
            raise
        except McpError as exc:
            if not self.started:
                raise
            await self._settle("failed", error=exc.to_error())
            return None
        except BaseException:
            if not self.started:
                raise
            await self._settle("failed", error={"code": -32603, "message": "Internal error"})
            return None
        if not self.started:
            return result
        await self._settle("completed", result=result)
        return None

    async def _settle(
        self,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        record, tasks = self.record, self.tasks
        tasks.running.pop(record["taskId"], None)
        for future in self.waiting.values():
            future.cancel()
        with contextlib.suppress(Exception):  # the store is gone: the outcome cannot be kept
            stored = await tasks.store.get_task(record["taskId"])
            if stored is not None and stored["status"] == "cancelled":
                return  # cancelled already (here or on another replica)
            if result is not None:
                size = len(json.dumps(result))
                limit = tasks.limits.max_result_bytes
                if size > limit:
                    status, result = "failed", None
                    error = {
                        "code": -32603,
                        "message": f"The task's result ({size} bytes) is larger than "
                        f"tasks.max_result_bytes ({limit})",
                    }
            record.pop("inputRequests", None)
            set_status(record, status, message)
            if result is not None:
                record["result"] = result
            if error is not None:
                record["error"] = error
            await tasks.save(record)

    async def ask(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Answers to `requests` (``{key: (method, params)}``): the task waits in
        ``input_required`` until ``tasks/update`` brings every one."""
        caps = self.req.client_capabilities
        futures: dict[str, asyncio.Future[Any]] = {}
        pending = self.record.setdefault("inputRequests", {})
        loop = asyncio.get_running_loop()
        for key, (method, params) in requests.items():
            capability = CAPABILITY_OF[method]
            if capability not in caps:
                raise McpError(
                    MISSING_CAPABILITY,
                    f"This task needs the client's {capability!r} capability ({method})",
                    {"requiredCapabilities": {capability: {}}},
                )
            futures[key] = self.waiting[key] = loop.create_future()
            pending[key] = {"method": method, "params": params}
        set_status(self.record, "input_required")
        await self.tasks.save(self.record)
        try:
            return {key: await future for key, future in futures.items()}
        finally:
            for key in futures:
                self.waiting.pop(key, None)

    async def answer(self, responses: dict[str, Any]) -> None:
        """Hand `responses` to the input requests waiting for them."""
        if not answered(self.record, responses):
            return
        for key, value in responses.items():
            future = self.waiting.get(key)
            if future is not None and not future.done():
                future.set_result(value)
        await self.tasks.save(self.record)

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """The tool's progress, as the task's status message."""
        if message is None:
            message = f"{progress:g}/{total:g}" if total is not None else f"{progress:g}"
        set_status(self.record, self.record["status"], message)
        await self.tasks.save(self.record)

    async def cancel(self) -> None:
        """Cancel the task: recorded at once, and the tool's call interrupted."""
        record = self.record
        self.tasks.running.pop(record["taskId"], None)
        record.pop("inputRequests", None)
        set_status(record, "cancelled", "Cancelled by the client")
        await self.tasks.save(record)
        self.interrupt("Cancelled by the client")

    def interrupt(self, reason: str = "Cancelled") -> None:
        """Stop the tool's call (the task is cancelled, for `reason`)."""
        self.reason = reason
        if self.worker is not None:
            self.worker.cancel()

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run `coro` in the background (a bus message's work)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
