"""Legacy HTTP sessions and where they live: the `SessionStore` interface and its in-process
default, `MemorySessionStore`.

A legacy session is opened by ``initialize`` and named by the ``Mcp-Session-Id`` header after
it. The store creates, finds and ends sessions, holds to ``http.max_sessions`` and ends idle
ones. `MemorySessionStore` keeps them in this process; a shared store (Redis, for several
workers or replicas) implements the same interface. The 2026-07-28 era needs no session.
"""

from __future__ import annotations

import abc
import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...protocol.connection import Connection
from ...protocol.session import Session
from .sse import Stream

if TYPE_CHECKING:
    from ...config import HttpSettings
    from ...protocol.engine import Engine


class HttpSession(Session):
    """A legacy session as HTTP serves it: its request path, its SSE streams (the GET stream
    among them), and when it was last used."""

    __slots__ = ("connection", "last_active", "standalone", "stream_ids", "streams")

    def __init__(self, engine: Engine, session_id: str, max_in_flight: int) -> None:
        super().__init__("http", None, session_id, host=engine.host)
        self.connection = Connection(engine, self, max_in_flight)
        self.streams: dict[str, Stream] = {}
        self.standalone: Stream | None = None  # the GET stream, once opened
        self.stream_ids = 0
        self.last_active = time.monotonic()

    def touch(self) -> None:
        """The session was just used: it is not idle."""
        self.last_active = time.monotonic()

    def open_stream(self, kind: str, buffer_size: int) -> Stream:
        """A new SSE stream of this session (`kind`: "s" for a POST's, "g" for the GET's)."""
        self.stream_ids += 1
        stream = Stream(f"{kind}{self.stream_ids}", buffer_size)
        self.streams[stream.id] = stream
        return stream

    def idle_since(self, deadline: float) -> bool:
        """Unused since `deadline`, with nothing in flight and no GET stream connected."""
        return (
            self.last_active < deadline
            and not self.in_flight
            and (self.standalone is None or self.standalone.connection is None)
        )

    def end(self) -> None:
        """Close the session: its requests are cancelled and its streams finish."""
        self.close()
        for stream in self.streams.values():
            stream.finish()


class TooManySessions(Exception):
    """`http.max_sessions` sessions are open (after ending the idle ones)."""


class SessionStore(abc.ABC):
    """Where the legacy sessions of the HTTP transport live."""

    @abc.abstractmethod
    async def create(self) -> HttpSession:
        """A new session, found by its id from now on; `TooManySessions` at the limit."""

    @abc.abstractmethod
    async def get(self, session_id: str) -> HttpSession | None:
        """The live session of that id, or None (it ended or never existed)."""

    @abc.abstractmethod
    async def remove(self, session_id: str) -> None:
        """End the session of that id (if any): it is not found again."""

    @abc.abstractmethod
    def reap(self) -> None:
        """End the sessions idle for longer than ``http.session_idle_timeout``."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """How many sessions are open."""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[HttpSession]:
        """The open sessions this process serves."""

    @abc.abstractmethod
    async def close(self) -> None:
        """The server is stopping: end every session."""


class MemorySessionStore(SessionStore):
    """Sessions in this process's memory, reaped by a task of its own while any exist."""

    def __init__(self, engine: Engine, settings: HttpSettings, max_in_flight: int) -> None:
        self.engine = engine
        self.settings = settings
        self.max_in_flight = max_in_flight
        self._sessions: dict[str, HttpSession] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def create(self) -> HttpSession:
        """A new session; at the limit the idle ones are reaped first. The first session
        starts the reaper."""
        limit = self.settings.max_sessions
        if len(self._sessions) >= limit:
            self.reap()
            if len(self._sessions) >= limit:
                raise TooManySessions(
                    f"Service unavailable: {limit} sessions are open (http.max_sessions)"
                )
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_forever())
        session = HttpSession(self.engine, secrets.token_urlsafe(24), self.max_in_flight)
        self.engine.notifier.add_session(session)
        self._sessions[session.id] = session  # type: ignore[index]
        return session

    async def get(self, session_id: str) -> HttpSession | None:
        """The live session of that id, or None."""
        return self._sessions.get(session_id)

    async def remove(self, session_id: str) -> None:
        """End the session of that id and forget it."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.end()

    def reap(self) -> None:
        """Close and forget the sessions idle past ``http.session_idle_timeout``."""
        deadline = time.monotonic() - self.settings.session_idle_timeout
        for session_id, session in list(self._sessions.items()):
            if session.idle_since(deadline):
                del self._sessions[session_id]
                session.close()

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[HttpSession]:
        return iter(list(self._sessions.values()))

    async def close(self) -> None:
        """Stop the reaper and end every session."""
        if self._reaper is not None:
            self._reaper.cancel()
        for session in self._sessions.values():
            session.end()
        self._sessions.clear()

    async def _reap_forever(self) -> None:
        interval = min(60.0, self.settings.session_idle_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            self.reap()


__all__ = ["HttpSession", "MemorySessionStore", "SessionStore", "TooManySessions"]
