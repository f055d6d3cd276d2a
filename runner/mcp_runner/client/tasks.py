"""Tasks from the client's side (the ``io.modelcontextprotocol/tasks`` extension): start a tool
call as a task, poll it, answer what it asks, wait for it and cancel it.

``client.tasks`` is a `TaskClient`. Once used, the client declares the extension on every
request, so a tool that supports tasks answers with a task; `Client.call_tool` then waits for
it and returns its result, as it would a plain call's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..protocol.errors import INTERNAL_ERROR, REQUEST_TIMEOUT
from ..protocol.tasks import EXTENSION, TERMINAL
from .errors import McpClientError
from .types import CallToolResult

if TYPE_CHECKING:
    from .client import Client

#: Bounds of the pause between two polls, whatever the server suggests (seconds).
MIN_POLL = 0.01
MAX_POLL = 5.0
#: The error code a cancelled task is reported with by `TaskClient.result`.
CANCELLED = -32800


@dataclass(slots=True)
class Task:
    """A task as ``tasks/get`` (or the `CreateTaskResult`) showed it."""

    id: str
    status: str
    status_message: str | None = None
    created_at: str | None = None
    last_updated_at: str | None = None
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None
    input_requests: dict[str, Any] = field(default_factory=dict)
    result: CallToolResult | None = None
    error: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Task:
        """From the wire dict (``resultType: "task"`` or a ``tasks/get`` result)."""
        result = raw.get("result")
        error = raw.get("error")
        requests = raw.get("inputRequests")
        return cls(
            id=str(raw.get("taskId", "")),
            status=str(raw.get("status", "")),
            status_message=raw.get("statusMessage"),
            created_at=raw.get("createdAt"),
            last_updated_at=raw.get("lastUpdatedAt"),
            ttl_ms=raw.get("ttlMs"),
            poll_interval_ms=raw.get("pollIntervalMs"),
            input_requests=requests if isinstance(requests, dict) else {},
            result=CallToolResult.from_wire(result) if isinstance(result, dict) else None,
            error=error if isinstance(error, dict) else None,
            raw=raw,
        )

    @property
    def done(self) -> bool:
        """Whether the task ended (completed, failed or cancelled)."""
        return self.status in TERMINAL


class TaskClient:
    """The tasks methods of one `Client` (``client.tasks``)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def declare(self) -> None:
        """Declare the tasks extension on the client's requests from now on."""
        self.client.declare_extension(EXTENSION)

    async def start(self, name: str, arguments: dict[str, Any] | None = None) -> Task:
        """Call a tool as a task. A tool that does not run as a task (or answers at once) gives
        a task that already ended, without an id, holding the result."""
        self.declare()
        answer = await self.client.request(
            "tools/call", {"name": name, "arguments": arguments or {}}
        )
        if answer.get("resultType") == "task":
            return Task.from_wire(answer)
        return Task(id="", status="completed", result=CallToolResult.from_wire(answer), raw=answer)

    async def get(self, task_id: str) -> Task:
        """The task now (``tasks/get``)."""
        return Task.from_wire(await self._ask("tasks/get", task_id))

    async def update(self, task_id: str, responses: dict[str, Any]) -> None:
        """Answer some of the task's input requests, by key (``tasks/update``)."""
        await self._ask("tasks/update", task_id, inputResponses=responses)

    async def cancel(self, task_id: str) -> None:
        """Cancel the task (``tasks/cancel``); a task that already ended stays as it is."""
        await self._ask("tasks/cancel", task_id)

    async def wait(self, task: Task | str, *, timeout: float | None = None) -> Task:
        """Poll the task until it ends, at the pace the server suggests, answering its input
        requests with the client's handlers (elicitation, sampling, roots) on the way.
        Raises `McpClientError` (-32001) when `timeout` seconds pass first."""
        if isinstance(task, Task) and task.done:
            return task
        task_id = task.id if isinstance(task, Task) else task
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = await self.get(task_id)
            if now.done:
                return now
            if now.status == "input_required" and now.input_requests:
                answers = await self.client.answer_inputs(now.input_requests)
                await self.update(task_id, answers)
                continue
            pause = (now.poll_interval_ms or 1000) / 1000
            pause = min(max(pause, MIN_POLL), MAX_POLL)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise McpClientError(
                        REQUEST_TIMEOUT, f"task {task_id} did not end within {timeout:g} s"
                    )
                pause = min(pause, left)
            await asyncio.sleep(pause)

    async def result(self, task: Task | str, *, timeout: float | None = None) -> CallToolResult:
        """The tool's result once the task ends; a failed task raises its error, a cancelled
        one `McpClientError` (-32800)."""
        ended = await self.wait(task, timeout=timeout)
        if ended.status == "completed" and ended.result is not None:
            return ended.result
        if ended.status == "cancelled":
            raise McpClientError(CANCELLED, f"task {ended.id} was cancelled")
        error = ended.error or {}
        raise McpClientError(
            int(error.get("code", INTERNAL_ERROR)),
            str(error.get("message", f"task {ended.id} failed")),
            error.get("data"),
        )

    async def _ask(self, method: str, task_id: str, **params: Any) -> dict[str, Any]:
        self.declare()
        return await self.client.request(
            method, {"taskId": task_id, **params}, headers={"Mcp-Name": task_id}
        )
