"""What a state backend is: the store that replicas of one server share, so that any replica
serves any request of a legacy session.

A plugin offers one through ``mcp_runner_state_backend`` (the first answer wins; without one,
sessions stay in this process, as `MemorySessionStore` keeps them). A backend holds:

- session records: what a replica needs to serve a session it has not seen (the negotiated
  version, the client's capabilities and info, the log level, the principal's subject and
  scopes, the subscriptions), each expiring when the session has been idle for
  ``http.session_idle_timeout``;
- the SSE event log of each stream, its last ``http.sse_buffer`` events, for ``Last-Event-ID``
  on any replica;
- a bus: a message published by one replica reaches every replica (itself included), for
  answers to server-to-client requests, ended sessions, stream events and changes;
- task records, when the backend is also a `TaskStore` (the tasks extension: any replica finds
  a task, and the bus carries its cancellation and answers to the replica running it).

Live objects (requests in flight, open connections, futures awaiting an answer) never leave
their replica. Every method may raise `StateUnavailable`, and none may wait longer than the
backend's own timeout: a request that needs the store then gets an error, never a hang.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from ...protocol.tasks import TaskStore

#: A bus message as published: a JSON object with a ``t`` (its type) member.
BusMessage = dict[str, Any]
#: One logged SSE event: its number, its bytes as text, and whether it ends the stream.
LoggedEvent = tuple[int, str, bool]


class StateUnavailable(Exception):
    """The state backend did not answer in time, or failed: the request needing it cannot be
    served now (the client may retry)."""


class StateBackend(abc.ABC):
    """The store every replica shares: session records, stream event logs, and a bus."""

    #: A short name for messages and logs ("redis").
    name = "state backend"

    @abc.abstractmethod
    async def start(self, deliver: Callable[[BusMessage], None]) -> None:
        """Connect, and from now on call `deliver` (on the event loop) with every message
        published on the bus, until `close`. Reconnects by itself after a failure."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering and disconnect."""

    @abc.abstractmethod
    async def save_session(self, session_id: str, record: dict[str, Any], ttl: float) -> None:
        """Store (or replace) a session's record, expiring after `ttl` seconds unused."""

    @abc.abstractmethod
    async def load_session(self, session_id: str, ttl: float) -> dict[str, Any] | None:
        """A session's record, its expiry pushed back to `ttl` seconds from now; None when it
        ended, expired or never existed."""

    @abc.abstractmethod
    async def keep_sessions(self, session_ids: list[str], ttl: float) -> None:
        """Push back the expiry of sessions still in use here (an open GET stream)."""

    @abc.abstractmethod
    async def delete_session(self, session_id: str) -> None:
        """Forget a session's record and its streams' event logs."""

    @abc.abstractmethod
    async def append_event(
        self,
        session_id: str,
        stream_id: str,
        event: LoggedEvent,
        keep: int,
        ttl: float,
    ) -> None:
        """Add `event` to the stream's log, keeping the last `keep`, and announce it on the bus
        as ``{"t": "event", "s": session_id, "k": stream_id, "e": [seq, text, final]}``, for a
        replica replaying that stream live."""

    @abc.abstractmethod
    async def events_after(
        self, session_id: str, stream_id: str, seq: int
    ) -> list[LoggedEvent] | None:
        """The stream's logged events after `seq`, oldest first; None when it has no log."""

    @abc.abstractmethod
    async def publish(self, message: BusMessage) -> None:
        """Send `message` to every replica's `deliver`, this one's included."""


__all__ = ["BusMessage", "LoggedEvent", "StateBackend", "StateUnavailable", "TaskStore"]
