"""Legacy HTTP sessions and where they live: the `SessionStore` interface and its in-process
default, `MemorySessionStore`.

A legacy session is opened by ``initialize`` and named by the ``Mcp-Session-Id`` header after
it. The store creates, finds and ends sessions, holds to ``http.max_sessions`` and ends idle
ones. `MemorySessionStore` keeps them in this process. `SharedSessionStore` keeps their records
in a state backend (`state.StateBackend`, from a plugin such as Redis) so that any replica
serves any request of a session: a replica rebuilds a session it has not seen from its record,
and the backend's bus carries what must reach the replica holding a live object (an answer to a
server-to-client request, the end of a session, a change). The 2026-07-28 era needs no session.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ...auth.principal import Principal
from ...log import get_logger
from ...protocol.connection import Connection
from ...protocol.session import Session
from ...protocol.tasks import BUS_KINDS as TASK_MESSAGES
from ...protocol.tasks import TaskStore
from .sse import LoggedStream, Stream
from .state import BusMessage, LoggedEvent, StateBackend, StateUnavailable

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

    @abc.abstractmethod
    async def save(self, session: HttpSession) -> None:
        """The session's negotiated state changed (initialized, log level, subscriptions):
        record it where other replicas find it."""

    async def replay(
        self, session: HttpSession, stream_id: str, after: int
    ) -> AsyncIterator[bytes] | None:
        """The events of a stream this process does not hold, after `after`, then live until
        the stream ends; None when no replica logged it (in one process, none does)."""
        return None


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

    async def save(self, session: HttpSession) -> None:
        """Nothing to record: the session object is its own record."""

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


class SharedSession(HttpSession):
    """A legacy session whose record lives in a state backend: its streams are logged there,
    its server-to-client requests carry ids unique across replicas, and an answer this replica
    is not waiting for goes on the bus to the replica that is."""

    __slots__ = ("store",)

    def __init__(self, store: SharedSessionStore, session_id: str) -> None:
        super().__init__(store.engine, session_id, store.max_in_flight)
        self.store = store

    def open_stream(self, kind: str, buffer_size: int) -> Stream:
        """A new stream, named for this replica, its events logged in the backend."""
        self.stream_ids += 1
        store = self.store
        stream = LoggedStream(
            f"{kind}{store.replica}x{self.stream_ids}",
            buffer_size,
            self.id or "",
            store.backend,
            store.settings.session_idle_timeout,
        )
        self.streams[stream.id] = stream
        return stream

    def new_request_id(self) -> Any:
        """A server-to-client request id no other replica of the session uses."""
        return f"{self.store.replica}-{next(self.store.request_ids)}"

    def resolve(self, message: dict[str, Any]) -> bool:
        """Hand a client's response to the request waiting for it, here or on another replica."""
        if super().resolve(message):
            return True
        self.store.publish({"t": "answer", "s": self.id, "m": message})
        return True

    def record(self) -> dict[str, Any]:
        """What another replica needs to serve this session."""
        principal = self.principal
        return {
            "version": self.version,
            "initialized": self.initialized,
            "capabilities": self.client_capabilities,
            "info": self.client_info,
            "log": self.log_threshold,
            "subject": getattr(principal, "subject", None),
            "scopes": sorted(getattr(principal, "scopes", ())),
            "subscriptions": sorted(self.subscriptions),
        }

    def restore(self, record: dict[str, Any]) -> None:
        """Take the negotiated state of `record` (from any replica)."""
        self.version = record["version"]
        self.initialized = record["initialized"]
        self.client_capabilities = record["capabilities"]
        self.client_info = record["info"]
        self.log_threshold = record["log"]
        self.subscriptions = set(record["subscriptions"])
        subject = record["subject"]
        if subject is None:
            self.principal = None
        elif getattr(self.principal, "subject", None) != subject:
            self.principal = Principal(subject, frozenset(record["scopes"]))


class SharedSessionStore(SessionStore):
    """Sessions any replica serves: records in a state backend, live objects here.

    A legacy request costs one round trip to the backend (its record, read with its expiry
    pushed back); a change of negotiated state, one more. Sessions idle for
    ``http.session_idle_timeout`` expire in the backend; their objects here are dropped by a
    reaper task. ``http.max_sessions`` bounds the sessions this replica holds.
    """

    def __init__(
        self, engine: Engine, settings: HttpSettings, max_in_flight: int, backend: StateBackend
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.max_in_flight = max_in_flight
        self.backend = backend
        self.replica = secrets.token_hex(4)  # names this replica's streams and request ids
        self.request_ids = itertools.count(1)
        self._sessions: dict[str, SharedSession] = {}
        self._followers: dict[tuple[str, str], asyncio.Queue[LoggedEvent]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._started: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to the backend and hear its bus (once; later calls wait for the first)."""
        if self._started is None:
            self._started = asyncio.ensure_future(self.backend.start(self.deliver))
            self.engine.notifier.relay = self.publish
            if isinstance(self.backend, TaskStore):  # tasks kept where every replica finds them
                self.engine.tasks.share(self.backend, self.publish)
            self._reaper = asyncio.ensure_future(self._reap_forever())
        await asyncio.shield(self._started)

    async def create(self) -> HttpSession:
        """A new session held by this replica; at this replica's limit the idle ones are
        reaped first. Its record reaches the backend with its first `save`."""
        limit = self.settings.max_sessions
        if len(self._sessions) >= limit:
            self.reap()
            if len(self._sessions) >= limit:
                raise TooManySessions(
                    f"Service unavailable: {limit} sessions are open on this replica "
                    "(http.max_sessions)"
                )
        session = SharedSession(self, secrets.token_urlsafe(24))
        self.engine.notifier.add_session(session)
        self._sessions[session.id] = session  # type: ignore[index]
        return session

    async def get(self, session_id: str) -> HttpSession | None:
        """The session of that id from its record in the backend (its expiry pushed back),
        made live here if another replica opened it; None once it ended or expired."""
        record = await self.backend.load_session(session_id, self.settings.session_idle_timeout)
        session = self._sessions.get(session_id)
        if record is None:
            if session is not None:  # ended, or expired, elsewhere
                del self._sessions[session_id]
                session.end()
            return None
        if session is None:
            session = SharedSession(self, session_id)
            self.engine.notifier.add_session(session)
            self._sessions[session_id] = session
        session.restore(record)
        return session

    async def save(self, session: HttpSession) -> None:
        """Write the session's record to the backend and tell the other replicas."""
        assert isinstance(session, SharedSession)
        record = session.record()
        await self.backend.save_session(
            session.id or "", record, self.settings.session_idle_timeout
        )
        self.publish({"t": "record", "s": session.id, "r": record})

    async def remove(self, session_id: str) -> None:
        """End the session here, delete its record and tell the other replicas to end it."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.end()
        await self.backend.delete_session(session_id)
        self.publish({"t": "end", "s": session_id})

    async def replay(
        self, session: HttpSession, stream_id: str, after: int
    ) -> AsyncIterator[bytes] | None:
        """The stream's logged events after `after`, then those the bus brings, until the
        stream ends; None when no replica logged it."""
        key = (session.id or "", stream_id)
        live: asyncio.Queue[LoggedEvent] = asyncio.Queue()
        self._followers[key] = live  # before reading the log: nothing falls between the two
        try:
            logged = await self.backend.events_after(key[0], stream_id, after)
        except BaseException:
            del self._followers[key]
            raise
        if logged is None:
            del self._followers[key]
            return None
        return self._follow(key, live, logged, after)

    async def _follow(
        self,
        key: tuple[str, str],
        live: asyncio.Queue[LoggedEvent],
        logged: list[LoggedEvent],
        after: int,
    ) -> AsyncIterator[bytes]:
        """The logged events, then the live ones, until the one that ends the stream."""
        try:
            seen = after
            for seq, text, final in logged:
                seen = seq
                yield text.encode()
                if final:
                    return
            while True:
                seq, text, final = await live.get()
                if seq > seen:
                    seen = seq
                    yield text.encode()
                    if final:
                        return
        finally:
            if self._followers.get(key) is live:
                del self._followers[key]

    def reap(self) -> None:
        """Drop the live objects of sessions idle here past ``http.session_idle_timeout``
        (their records expire in the backend by themselves)."""
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
        """Stop the reaper and the bus, end the sessions held here, close the backend."""
        for task in (self._reaper, self._started):
            if task is not None:
                task.cancel()
        for session in self._sessions.values():
            session.end()
        self._sessions.clear()
        await self.engine.tasks.close()  # recorded as cancelled while the backend is there
        await self.backend.close()

    # -- the bus --------------------------------------------------------------------------------
    def publish(self, message: BusMessage) -> None:
        """Send `message` to every replica, in the background (a failure is logged)."""
        task = asyncio.ensure_future(self._publish(message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self, message: BusMessage) -> None:
        try:
            await self.backend.publish(message)
        except StateUnavailable as exc:
            get_logger("mcp_runner.http").warning(
                "bus message lost", type=message.get("t"), error=str(exc)
            )
            if message["t"] in ("list", "updated"):  # this replica's own listeners still hear
                self.deliver(message)

    def deliver(self, message: BusMessage) -> None:
        """Act on a bus message from any replica, this one included."""
        kind = message.get("t")
        notifier = self.engine.notifier
        if kind == "updated":
            notifier.deliver_resource_updated(message["uri"])
        elif kind == "list":
            notifier.deliver_list_changed(message["kind"])
        elif kind in TASK_MESSAGES:
            self.engine.tasks.deliver(message)
            return
        elif kind == "event":
            follower = self._followers.get((message["s"], message["k"]))
            if follower is not None:
                seq, text, final = message["e"]
                follower.put_nowait((seq, text, final))
            return
        session = self._sessions.get(message.get("s") or "")
        if session is None:
            return
        if kind == "answer":
            Session.resolve(session, message["m"])
        elif kind == "record":
            session.restore(message["r"])
        elif kind == "end":
            del self._sessions[session.id or ""]
            session.end()

    async def _reap_forever(self) -> None:
        interval = min(60.0, self.settings.session_idle_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            self.reap()
            streaming = [s.id or "" for s in self._sessions.values() if s.standalone is not None]
            if streaming:
                try:
                    await self.backend.keep_sessions(streaming, self.settings.session_idle_timeout)
                except StateUnavailable as exc:
                    get_logger("mcp_runner.http").warning("sessions not kept alive", error=str(exc))


__all__ = [
    "HttpSession",
    "MemorySessionStore",
    "SessionStore",
    "SharedSession",
    "SharedSessionStore",
    "TooManySessions",
]
