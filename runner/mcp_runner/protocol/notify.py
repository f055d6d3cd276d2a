"""The change fan-out: telling clients that the lists or a resource changed.

Legacy sessions hear ``notifications/*/list_changed`` and ``notifications/resources/updated``
on their session stream; a 2026-07-28 ``subscriptions/listen`` request hears what it asked for
on its own stream, and the status of the tasks it names (``taskIds``) as
``notifications/tasks``. A change may be announced from a worker thread (a sync tool): the
fan-out hands it over to the event loop it serves. With a `relay` (replicas sharing a state backend), a
change is published to every replica, and each one delivers it to its own sessions and
listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .jsonrpc import notification
from .versions import META_SUBSCRIPTION_ID

if TYPE_CHECKING:
    from .session import Send, Session

#: The `subscriptions/listen` flag of each kind of list.
LIST_FLAGS = {
    "tools": "toolsListChanged",
    "prompts": "promptsListChanged",
    "resources": "resourcesListChanged",
}


class Listener:
    """One `subscriptions/listen` request: what it asked to hear, and where to send it."""

    __slots__ = ("filter", "id", "send")

    def __init__(self, id: Any, filter: dict[str, Any], send: Send) -> None:
        self.id = id
        self.filter = filter
        self.send = send


class Notifier:
    """Every session and listener that may hear of a change, and the sending of it."""

    def __init__(self) -> None:
        self.sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self.listeners: dict[int, Listener] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Where changes go to reach every replica (None: this process is the only one). It
        #: gets ``{"t": "list", "kind": kind}`` or ``{"t": "updated", "uri": uri}``.
        self.relay: Callable[[dict[str, Any]], None] | None = None

    def add_session(self, session: Session) -> None:
        """Let a legacy session hear of changes."""
        self.sessions.add(session)
        self._bind_loop()

    def add_listener(self, key: int, listener: Listener) -> None:
        """Let a `subscriptions/listen` request hear what it asked for, until removed."""
        self.listeners[key] = listener
        self._bind_loop()

    def remove_listener(self, key: int) -> None:
        """The listen request ended."""
        del self.listeners[key]

    def list_changed(self, kind: str) -> None:
        """Tell everyone who listens that the `kind` list (tools, prompts, resources) changed."""
        if self.relay is not None:
            self._relay({"t": "list", "kind": kind})
        else:
            self.deliver_list_changed(kind)

    def resource_updated(self, uri: str) -> None:
        """Tell every session and listener subscribed to `uri` that it changed."""
        if self.relay is not None:
            self._relay({"t": "updated", "uri": uri})
        else:
            self.deliver_resource_updated(uri)

    def deliver_list_changed(self, kind: str) -> None:
        """Tell this process's sessions and listeners that the `kind` list changed."""
        method = f"notifications/{kind}/list_changed"
        flag = LIST_FLAGS[kind]
        for session in list(self.sessions):
            if session.initialized and session.outbound is not None:
                self._spawn(session.notify(method))
        for listener in list(self.listeners.values()):
            if listener.filter.get(flag):
                params = {"_meta": {META_SUBSCRIPTION_ID: listener.id}}
                self._spawn(listener.send(notification(method, params)))

    def deliver_resource_updated(self, uri: str) -> None:
        """Tell this process's sessions and listeners subscribed to `uri` that it changed."""
        method = "notifications/resources/updated"
        for session in list(self.sessions):
            if uri in session.subscriptions:
                self._spawn(session.notify(method, {"uri": uri}))
        for listener in list(self.listeners.values()):
            if uri in listener.filter.get("resourceSubscriptions", ()):
                params = {"_meta": {META_SUBSCRIPTION_ID: listener.id}, "uri": uri}
                self._spawn(listener.send(notification(method, params)))

    def deliver_task_status(self, task: dict[str, Any]) -> None:
        """Tell this process's listeners that watch the task (``taskIds``) of its new status:
        ``notifications/tasks`` with the task as ``tasks/get`` answers it."""
        task_id = task.get("taskId")
        for listener in list(self.listeners.values()):
            if task_id in listener.filter.get("taskIds", ()):
                params = {"_meta": {META_SUBSCRIPTION_ID: listener.id}, **task}
                self._spawn(listener.send(notification("notifications/tasks", params)))

    def _relay(self, message: dict[str, Any]) -> None:
        relay = self.relay
        assert relay is not None
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: the relay runs on the loop
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(relay, message)
            return
        relay(message)

    def _bind_loop(self) -> None:
        with contextlib.suppress(RuntimeError):  # no loop yet: bound by the next one
            self._loop = asyncio.get_running_loop()

    def _spawn(self, coro: Coroutine[Any, Any, Any] | Awaitable[Any]) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # called from a worker thread (a sync tool): hand over to the loop
            if self._loop is None or self._loop.is_closed():
                if isinstance(coro, Coroutine):
                    coro.close()
                return
            self._loop.call_soon_threadsafe(self._spawn, coro)
            return
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
