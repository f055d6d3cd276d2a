"""Server-sent events: one SSE stream of numbered events, replayable after a reconnect.

A legacy session's streams carry event ids (``<stream>_<seq>``); a client that lost the
connection sends ``Last-Event-ID`` on a GET and the stream replays what came after it. With a
state backend, a `LoggedStream` also keeps its events there, so any replica replays them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator, MutableMapping
from typing import Any

from ...log import get_logger
from ...protocol.jsonrpc import encode
from .responses import AsgiSend
from .state import StateBackend, StateUnavailable

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
RETRY_MS = 1000  # the reconnection delay a priming event suggests
KEEPALIVE_SECONDS = 15.0


class OpenStreams:
    """How many SSE responses this process has open, for the metrics: each one counts from its
    start to the end of the request that answers with it."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def counting(self, send: AsgiSend) -> Iterator[AsgiSend]:
        """`send`, counting the response it starts as an open stream until the block ends."""
        started = False

        async def counted(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                self.count += 1
            await send(message)

        try:
            yield counted
        finally:
            if started:
                self.count -= 1


OPEN_STREAMS = OpenStreams()
"""The SSE responses open in this process."""


class Stream:
    """One SSE stream of a legacy session: numbered events, replayable after a reconnect."""

    __slots__ = ("buffer", "connection", "done", "finished", "id", "seq")

    def __init__(self, id: str, buffer_size: int) -> None:
        self.id = id
        self.seq = 0
        self.buffer: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=buffer_size)
        self.connection: AsgiSend | None = None  # the response now carrying it, if any
        self.done = False  # the final response was sent: nothing more will come
        self.finished = asyncio.Event()

    def event(self, data: bytes | None, retry: bool = False) -> bytes:
        """The next event (kept for replay); no `data` makes an empty priming event."""
        self.seq += 1
        head = f"id: {self.id}_{self.seq}\n" + (f"retry: {RETRY_MS}\n" if retry else "")
        chunk = head.encode() + (b"data: " + data + b"\n\n" if data is not None else b"data: \n\n")
        self.buffer.append((self.seq, chunk))
        return chunk

    async def emit(self, message: dict[str, Any]) -> None:
        """Send `message` as the next event."""
        await self.write(self.event(encode(message)))

    async def prime(self) -> None:
        """Send the empty first event that gives the client an id to resume from."""
        await self.write(self.event(None, retry=True))

    async def write(self, chunk: bytes) -> None:
        """Write raw SSE bytes to the current connection (none: the client resumes later)."""
        connection = self.connection
        if connection is not None:
            try:
                await connection({"type": "http.response.body", "body": chunk, "more_body": True})
            except OSError:
                self.connection = None

    async def attach(self, send: AsgiSend, after: int) -> None:
        """Take over a (re)connected response: replay what it missed, then go live."""
        self.connection = send
        for seq, chunk in list(self.buffer):
            if seq > after:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def detach(self) -> None:
        """End the current connection without ending the stream (the client may resume)."""
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                await connection({"type": "http.response.body", "body": b"", "more_body": False})

    def finish(self) -> None:
        """Nothing more will be sent on this stream."""
        self.done = True
        self.finished.set()


class LoggedStream(Stream):
    """A stream whose events are also logged in the state backend (the last `buffer_size`),
    and announced on its bus: any replica can replay it, and follow it live."""

    __slots__ = ("backend", "session_id", "ttl")

    def __init__(
        self, id: str, buffer_size: int, session_id: str, backend: StateBackend, ttl: float
    ) -> None:
        super().__init__(id, buffer_size)
        self.session_id = session_id
        self.backend = backend
        self.ttl = ttl

    async def emit(self, message: dict[str, Any]) -> None:
        """Send `message` as the next event, and log it (a response ends the stream)."""
        chunk = self.event(encode(message))
        await self.write(chunk)
        await self.log(chunk, "method" not in message)

    async def prime(self) -> None:
        """Send and log the empty first event."""
        chunk = self.event(None, retry=True)
        await self.write(chunk)
        await self.log(chunk, False)

    async def log(self, chunk: bytes, final: bool) -> None:
        """Log the event just made; the store failing only costs replay on other replicas."""
        event = (self.seq, chunk.decode(), final)
        try:
            await self.backend.append_event(
                self.session_id, self.id, event, self.buffer.maxlen or 1, self.ttl
            )
        except StateUnavailable as exc:
            get_logger("mcp_runner.http").warning(
                "stream event not logged", stream=self.id, error=str(exc)
            )


async def keepalive(stream: Stream) -> None:
    """Comment lines every few seconds until the stream is finished (e.g. by DELETE)."""
    while not stream.done:
        try:
            await asyncio.wait_for(stream.finished.wait(), KEEPALIVE_SECONDS)
        except TimeoutError:
            await stream.write(b": keepalive\n\n")
