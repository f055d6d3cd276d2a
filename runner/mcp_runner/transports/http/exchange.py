"""One POSTed message's answer: plain JSON, or an SSE stream once something must go first.

The `Exchange` is the outlet of the requests a POST carries: a request that sends progress,
a log message or a question to the client before its answer turns the response into an SSE
stream (numbered and resumable in a legacy session). Its answer's HTTP status comes from
the error behind it (`answer_status`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ...protocol.errors import (
    HEADER_MISMATCH,
    METHOD_NOT_FOUND,
    MISSING_CAPABILITY,
    UNSUPPORTED_VERSION,
)
from ...protocol.jsonrpc import encode
from .responses import AsgiSend, Receive, accepted, end, header_pairs, send_json
from .sessions import HttpSession
from .sse import OPEN_STREAMS, SSE_HEADERS, LoggedStream, Stream

if TYPE_CHECKING:
    from ...protocol.session import Request, Session

#: HTTP statuses the 2026-07-28 transport gives these errors, whoever raises them.
MODERN_STATUS = {
    HEADER_MISMATCH: 400,
    MISSING_CAPABILITY: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
WATCH_AFTER = 0.005  # seconds before a 2026-07-28 call starts watching for a hang-up


def answer_status(req: Request) -> tuple[int, dict[str, str] | None]:
    """The HTTP status of an answer to `req`, and any headers its error brings: the error's
    own (auth), else the 2026-07-28 table; 200 for everything else."""
    err = req.error
    if err is None:
        return 200, None
    if err.http_status is not None:
        return err.http_status, err.http_headers
    if req.modern:
        return MODERN_STATUS.get(err.code, 200), None
    return 200, None


class Exchange:
    """One POSTed message's answer: plain JSON until something must stream first."""

    __slots__ = (
        "buffer_size",
        "headers",
        "response_headers",
        "send_asgi",
        "session",
        "sse",
        "stream",
        "watch",
        "watcher",
    )

    def __init__(
        self,
        send: AsgiSend,
        session: Session,
        headers: dict[str, str],
        response_headers: list[tuple[bytes, bytes]],
        buffer_size: int,
    ) -> None:
        self.send_asgi = send
        self.session = session
        self.headers = headers  # the request's (an outlet's `headers`)
        self.response_headers = response_headers
        self.buffer_size = buffer_size
        self.sse = False
        self.stream: Stream | None = None
        self.watch: asyncio.TimerHandle | None = None
        self.watcher: asyncio.Task[None] | None = None

    # -- the outlet of the requests it carries --------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        """A message related to the request, sent before its response."""
        if not self.sse:
            await self.start_sse()
        if self.stream is not None:
            await self.stream.emit(message)
        else:
            await self.send_asgi(
                {
                    "type": "http.response.body",
                    "body": b"data: " + encode(message) + b"\n\n",
                    "more_body": True,
                }
            )

    async def close_stream(self) -> None:
        """Drop the connection now; the rest of the stream waits for a resume."""
        if not self.sse:
            await self.start_sse()
        if self.stream is not None:
            await self.stream.detach()

    # -- the response ---------------------------------------------------------------------------
    async def start_sse(self) -> None:
        """Answer with an SSE stream from now on (numbered and resumable in a session)."""
        self.sse = True
        OPEN_STREAMS.count += 1  # until `ended`
        await self.send_asgi(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": SSE_HEADERS + self.response_headers,
            }
        )
        session = self.session
        if isinstance(session, HttpSession):
            stream = self.stream = session.open_stream("s", self.buffer_size)
            stream.connection = self.send_asgi
            if (session.version or "") >= "2025-11-25":
                await stream.prime()

    def ended(self) -> None:
        """The request is over: its SSE response, if it had one, is no longer open."""
        if self.sse:
            OPEN_STREAMS.count -= 1

    async def abandon(self) -> None:
        """End the exchange without an answer (the client withdrew the request)."""
        if self.stream is not None:
            self.stream.finish()
            await self.stream.detach()
        elif self.sse:
            await end(self.send_asgi)
        else:
            await accepted(self.send_asgi)

    async def finish(self, answer: dict[str, Any], req: Request | None = None) -> None:
        """Send the answer: the JSON response, or the stream's last event. With `req`, an
        error answer gets the status (and headers) its error calls for."""
        status = 200
        if req is not None and req.error is not None:
            status, extra = answer_status(req)
            if extra:
                self.response_headers = self.response_headers + header_pairs(extra)
        if not self.sse:
            await send_json(self.send_asgi, status, answer, self.response_headers)
            return
        stream = self.stream
        if stream is not None:
            await stream.emit(answer)
            stream.finish()
            if stream.connection is not None:  # delivered: nothing left to resume
                session = self.session
                assert isinstance(session, HttpSession)
                session.streams.pop(stream.id, None)
            await stream.detach()
            return
        await self.send_asgi(
            {
                "type": "http.response.body",
                "body": b"data: " + encode(answer) + b"\n\n",
                "more_body": False,
            }
        )

    async def finish_batch(self, answers: list[dict[str, Any]]) -> None:
        """The answers to a batch: one JSON array, or one event each on the stream it opened."""
        if not self.sse:
            await send_json(self.send_asgi, 200, answers, self.response_headers)
            return
        stream = self.stream
        for answer in answers[:-1]:
            if stream is None:
                await self.send(answer)
                continue
            # Logged as not final: a replica following the stream stops at the last answer only.
            chunk = stream.event(encode(answer))
            await stream.write(chunk)
            if isinstance(stream, LoggedStream):
                await stream.log(chunk, False)
        await self.finish(answers[-1])

    # -- a 2026-07-28 call the client may hang up on --------------------------------------------
    def watch_disconnect(self, receive: Receive, req: Request) -> None:
        """Cancel `req` (as withdrawn) if the client hangs up, watching only once it has run
        for a few milliseconds: most calls end sooner and never pay for a watcher."""
        self.watch = asyncio.get_running_loop().call_later(
            WATCH_AFTER, self._start_watching, receive, req
        )

    def stop_watching(self) -> None:
        """The call ended: no more watching."""
        if self.watch is not None:
            self.watch.cancel()
            if self.watcher is not None:
                self.watcher.cancel()

    def _start_watching(self, receive: Receive, req: Request) -> None:
        self.watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, req))


async def _cancel_on_disconnect(receive: Receive, req: Request) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            req.cancelled_by_client = True
            if req.task is not None:
                req.task.cancel()
            return
