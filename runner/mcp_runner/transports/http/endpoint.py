"""The MCP endpoint: POST (a message), GET (the session's stream, or a resumed one), DELETE.

Each POST is classified as the spec says: a 2026-07-28 request (``_meta`` envelope, or that
version in the ``MCP-Protocol-Version`` header) is served statelessly; anything else belongs
to a legacy session opened by ``initialize``. Either way the request takes the one request
path (`protocol.connection`), run in the ASGI task itself.

Legacy sessions live in a `SessionStore`: in this process, or, when a plugin offers a state
backend (``mcp_runner_state_backend``), in a store every replica shares. A request that needs
that store while it fails is answered 503 with a JSON-RPC error, at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ...log import get_logger
from ...protocol import versions
from ...protocol.connection import SERVER_BUSY, Connection
from ...protocol.errors import INVALID_REQUEST, PARSE_ERROR, McpError
from ...protocol.jsonrpc import error, loads
from ...protocol.session import Request, Session
from .exchange import Exchange
from .headers import HostCheck, ModernHeaders, ows, request_headers
from .responses import (
    AsgiSend,
    HttpError,
    Receive,
    Scope,
    accepted,
    end,
    header_pairs,
    refuse,
    send_json,
)
from .sessions import (
    HttpSession,
    MemorySessionStore,
    SessionStore,
    SharedSessionStore,
    TooManySessions,
)
from .sse import OPEN_STREAMS, SSE_HEADERS, keepalive
from .state import StateUnavailable

if TYPE_CHECKING:
    from ...runner import Runner

#: The methods that change a legacy session's negotiated state: a shared store records it.
#: The ASGI scope key under which the router hands the endpoint a request's `HttpAccess` (when
#: plugins observe requests): the endpoint gives the request its correlation id and tells the
#: access record the authenticated subject.
ACCESS_SCOPE_KEY = "mcp_runner.access"

RECORDED = frozenset(
    {"initialize", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)


class McpHttpApp:
    """The MCP endpoint as a plain ASGI application (mount it anywhere).

    Legacy sessions live in `sessions`, a `SessionStore`: the one given, else a
    `SharedSessionStore` on the state backend a plugin offers, else in memory.
    """

    def __init__(self, runner: Runner, sessions: SessionStore | None = None) -> None:
        self.runner = runner.start()
        self.engine = runner.engine
        self.settings = runner.settings.http
        self.max_body = runner.settings.server.max_message_bytes
        self.max_in_flight = runner.settings.server.max_in_flight
        if sessions is None:
            backend = runner.host.state_backend()
            if backend is not None:
                sessions = SharedSessionStore(
                    self.engine, self.settings, self.max_in_flight, backend
                )
            else:
                sessions = MemorySessionStore(self.engine, self.settings, self.max_in_flight)
        self.sessions = sessions
        # A shared store connects on the first request (the event loop is running by then).
        self.unstarted = self.sessions if isinstance(self.sessions, SharedSessionStore) else None
        self.recording = self.unstarted is not None
        self.modern_headers = ModernHeaders(self.engine.registry)
        self.host_check = HostCheck(self.settings)
        self.slow_bodies = SlowBodies(self.settings.body_timeout)
        self.auth = runner.authenticator
        self._listening: set[Request] = set()

    # ------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        if scope["type"] != "http":
            return
        if self.unstarted is not None:
            await self.unstarted.start()
            self.unstarted = None
        method = scope["method"]
        try:
            headers = request_headers(scope)
            access = scope.get(ACCESS_SCOPE_KEY)
            if access is not None:  # the request is known by the access log's id
                headers["x-request-id"] = access.correlation_id
            self.host_check.check(headers, scope)
            principal = None
            if self.auth is not None:
                try:
                    principal = await self.auth.authenticate(
                        headers,
                        query=scope.get("query_string", b""),
                        scheme=scope["scheme"],
                        root_path=scope.get("root_path", ""),
                    )
                except McpError as exc:
                    await send_json(
                        send,
                        exc.http_status or 401,
                        error(None, exc.code, exc.message, exc.data),
                        header_pairs(exc.http_headers),
                    )
                    return
                if access is not None and principal is not None:
                    access.subject = _subject(principal)
            if method == "POST":
                await self._post(headers, receive, send, principal)
            elif method == "GET":
                with OPEN_STREAMS.counting(send) as counted:
                    await self._get(headers, receive, counted, principal)
            elif method == "DELETE":
                await self._delete(headers, send, principal)
            else:
                raise HttpError(405, None, f"Method not allowed: {method}")
        except HttpError as exc:
            await refuse(send, exc)
        except StateUnavailable as exc:
            await refuse(send, store_failed(exc))

    async def metadata(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        """RFC 9728 protected resource metadata (only when auth is configured), behind the
        same Host and Origin checks as the endpoint."""
        headers = request_headers(scope)
        try:
            self.host_check.check(headers, scope)
        except HttpError as exc:
            await refuse(send, exc)
            return
        if self.auth is None:
            await refuse(send, HttpError(404, None, "Not found: this server does not use OAuth"))
            return
        metadata = self.auth.metadata(headers, scope["scheme"], scope.get("root_path", ""))
        await send_json(send, 200, metadata)

    # -- POST -----------------------------------------------------------------------------------
    async def _post(
        self, headers: dict[str, str], receive: Receive, send: AsgiSend, principal: Any
    ) -> None:
        content_type = headers.get("content-type", "")
        if (
            content_type != "application/json"
            and content_type.partition(";")[0].strip().lower() != "application/json"
        ):
            raise HttpError(
                415,
                INVALID_REQUEST,
                "Unsupported Media Type: POST a JSON-RPC message as application/json",
            )
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _too_large(self.max_body)
        body = await self._read_body(receive)
        try:
            message = loads(body)
        except ValueError as exc:
            raise HttpError(400, PARSE_ERROR, f"Parse error: {exc}") from None
        if isinstance(message, list):
            await self._post_batch(message, headers, send, principal)
            return
        if not isinstance(message, dict):
            raise HttpError(
                400, INVALID_REQUEST, "Invalid request: a JSON-RPC message must be an object"
            )
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        header_version = headers.get("mcp-protocol-version")
        body_modern = isinstance(meta, dict) and versions.META_PROTOCOL_VERSION in meta
        if body_modern or (
            header_version is not None and versions.is_modern(header_version.strip())
        ):
            await self._post_modern(message, headers, receive, send, principal)
        else:
            await self._post_legacy(message, headers, send, principal)

    async def _post_modern(
        self,
        message: dict[str, Any],
        headers: dict[str, str],
        receive: Receive,
        send: AsgiSend,
        principal: Any,
    ) -> None:
        session = Session("http", host=self.engine.host)
        session.principal = principal
        connection = Connection(self.engine, session, self.max_in_flight)
        exchange = Exchange(send, session, headers, [], self.settings.sse_buffer)
        outcome = connection.receive(message, exchange)
        if outcome is None:
            if "method" not in message:
                raise HttpError(
                    400,
                    INVALID_REQUEST,
                    "Invalid request: clients do not POST responses on the 2026-07-28 wire",
                )
            await accepted(send)
            return
        if isinstance(outcome, dict):
            await send_json(send, 400, outcome)
            return
        req = outcome
        problem = self.modern_headers.check(req, headers)
        if problem is not None:
            await send_json(send, problem[0], problem[1])
            return
        session.in_flight[req.id] = req  # a session of its own: nothing to refuse
        await self._run(connection, req, exchange, receive)

    async def _post_legacy(
        self, message: dict[str, Any], headers: dict[str, str], send: AsgiSend, principal: Any
    ) -> None:
        header_version = ows(headers.get("mcp-protocol-version"))
        if header_version is not None and header_version not in versions.LEGACY_VERSIONS:
            raise HttpError(
                400,
                INVALID_REQUEST,
                f"Bad Request: unsupported MCP-Protocol-Version {header_version!r}",
            )
        session_id = headers.get("mcp-session-id")
        opening = message.get("method") == "initialize" and "id" in message
        if opening:
            if session_id is not None:
                raise HttpError(
                    400, INVALID_REQUEST, "Bad Request: initialize must not carry an Mcp-Session-Id"
                )
            session = await self._open_session(message.get("id"))
            session.principal = principal
        else:
            if session_id is None:
                raise HttpError(
                    400,
                    INVALID_REQUEST,
                    "Bad Request: missing Mcp-Session-Id header (send initialize first)",
                )
            session = await self._session_for(headers, principal)
        exchange = Exchange(
            send,
            session,
            headers,
            [(b"mcp-session-id", session.id.encode())],  # type: ignore[union-attr]
            self.settings.sse_buffer,
        )
        connection = session.connection
        outcome = connection.receive(message, exchange)
        if outcome is None:
            if self.recording and message.get("method") == "notifications/initialized":
                await self.sessions.save(session)
            await accepted(send)
            return
        if isinstance(outcome, dict):
            if opening:  # no session was opened
                await self.sessions.remove(session.id)  # type: ignore[arg-type]
                raise HttpError(
                    400, outcome["error"]["code"], outcome["error"]["message"], outcome.get("id")
                )
            await send_json(send, 200, outcome)
            return
        req = outcome
        refusal = connection.admit(req)
        if refusal is not None:
            await send_json(send, 200, refusal)
            return
        await self._run(connection, req, exchange, None, opening=opening)

    async def _post_batch(
        self, messages: list[Any], headers: dict[str, str], send: AsgiSend, principal: Any
    ) -> None:
        """A JSON-RPC batch: only 2025-03-26 has them (later versions removed them)."""
        session = (
            await self._session_for(headers, principal) if "mcp-session-id" in headers else None
        )
        version = session.version if session is not None else None
        if session is None or version != "2025-03-26":
            raise HttpError(
                400,
                INVALID_REQUEST,
                "Invalid request: JSON-RPC batches are only allowed in a 2025-03-26 session "
                f"({f'this one is {version}' if session is not None else 'no Mcp-Session-Id'})",
            )
        if not messages:
            raise HttpError(400, INVALID_REQUEST, "Invalid request: empty batch")
        exchange = Exchange(
            send,
            session,
            headers,
            [(b"mcp-session-id", session.id.encode())],  # type: ignore[union-attr]
            self.settings.sse_buffer,
        )
        try:
            answers = await session.connection.batch(messages, exchange)
            if answers:
                await exchange.finish_batch(answers)
        finally:
            session.touch()
            exchange.ended()
        if not answers:  # notifications and responses only
            await accepted(send)

    async def _run(
        self,
        connection: Connection,
        req: Request,
        exchange: Exchange,
        receive: Receive | None,
        *,
        opening: bool = False,
    ) -> None:
        """Run an admitted request in this (the ASGI) task and answer it on `exchange`.
        With `receive` (2026-07-28), the client hanging up withdraws the request."""
        try:
            await self._answer(connection, req, exchange, receive, opening)
        finally:
            exchange.ended()

    async def _answer(
        self,
        connection: Connection,
        req: Request,
        exchange: Exchange,
        receive: Receive | None,
        opening: bool,
    ) -> None:
        req.task = asyncio.current_task()
        if receive is not None:
            exchange.watch_disconnect(receive, req)
        if req.method == "subscriptions/listen":
            self._listening.add(req)
        try:
            answer = await connection.run(req)
        finally:
            self._listening.discard(req)
            if isinstance(connection.session, HttpSession):
                connection.session.touch()
            exchange.stop_watching()
        if self.recording and req.method in RECORDED and answer is not None and "result" in answer:
            answer = await self._record(connection.session, req, answer)
        if opening and (answer is None or "result" not in answer):  # no session was opened
            exchange.response_headers = []
            await self.sessions.remove(connection.session.id)  # type: ignore[arg-type]
        if answer is None:
            # The client withdrew the request (notifications/cancelled, or it hung up on the
            # 2026-07-28 wire): no JSON-RPC answer, just a clean end of the exchange.
            await exchange.abandon()
            return
        await exchange.finish(answer, req)

    async def _read_body(self, receive: Receive) -> bytes:
        """The request body, refused once it passes ``max_message_bytes`` (413) or takes
        longer than ``body_timeout`` to arrive (408)."""
        limit = self.max_body
        task = asyncio.current_task()
        assert task is not None
        self.slow_bodies.start(task)
        chunks = []
        size = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise HttpError(400, INVALID_REQUEST, "client disconnected")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
        except asyncio.CancelledError:
            if self.slow_bodies.timed_out(task):
                raise HttpError(
                    408,
                    INVALID_REQUEST,
                    f"Request timeout: the body did not arrive within {self.slow_bodies.timeout} s"
                    " (http.body_timeout)",
                ) from None
            raise
        finally:
            self.slow_bodies.reading.pop(task, None)

    # -- GET: the standalone stream, or a resumed one -------------------------------------------
    async def _get(
        self, headers: dict[str, str], receive: Receive, send: AsgiSend, principal: Any
    ) -> None:
        if "text/event-stream" not in headers.get("accept", "text/event-stream"):
            raise HttpError(
                406,
                INVALID_REQUEST,
                "Not Acceptable: GET opens an SSE stream (Accept: text/event-stream)",
            )
        session = await self._session_for(headers, principal)
        last = headers.get("last-event-id")
        base = {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, (b"mcp-session-id", (session.id or "").encode())],
        }
        if last is not None:
            stream_id, _, seq = last.strip().rpartition("_")
            stream = session.streams.get(stream_id) if stream_id else None
            if stream is None and stream_id and seq.isdigit():
                replay = await self.sessions.replay(session, stream_id, int(seq))
                if replay is not None:  # a stream of another replica
                    await send(base)
                    await _until(_relay(replay, send), receive)
                    await end(send)
                    return
            if stream is None or not seq.isdigit():
                raise HttpError(
                    404, INVALID_REQUEST, f"Unknown Last-Event-ID {last!r}: nothing to resume"
                )
            await send(base)
            await stream.attach(send, int(seq))
            if not stream.done:
                await _until(stream.finished.wait(), receive)
            if stream.done:
                session.streams.pop(stream.id, None)
            if stream.connection is send:  # not already ended by the stream's final message
                stream.connection = None
                await end(send)
            return
        if session.standalone is not None and session.standalone.connection is not None:
            raise HttpError(
                409, INVALID_REQUEST, "Conflict: this session already has an open GET stream"
            )
        stream = session.open_stream("g", self.settings.sse_buffer)
        session.standalone = stream
        await send(base)
        stream.connection = send
        await stream.prime()
        session.outbound = stream.emit
        try:
            await _until(keepalive(stream), receive)
        finally:
            if session.standalone is stream:
                stream.connection = None
                session.outbound = None
        await end(send)

    async def _delete(self, headers: dict[str, str], send: AsgiSend, principal: Any) -> None:
        session = await self._session_for(headers, principal)
        await self.sessions.remove(session.id)  # type: ignore[arg-type]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    # -- sessions -------------------------------------------------------------------------------
    async def _record(self, session: Any, req: Request, answer: dict[str, Any]) -> dict[str, Any]:
        """Record the session's new negotiated state; the answer becomes an error if the
        store fails (an `initialize` then opens no session)."""
        try:
            await self.sessions.save(session)
        except StateUnavailable as exc:
            return error(req.id, SERVER_BUSY, store_failed(exc).message)
        return answer

    async def _open_session(self, request_id: Any) -> HttpSession:
        try:
            return await self.sessions.create()
        except TooManySessions as exc:
            raise HttpError(
                503,
                SERVER_BUSY,
                str(exc),
                request_id if isinstance(request_id, str | int) else None,
            ) from None

    async def _session_for(self, headers: dict[str, str], principal: Any) -> HttpSession:
        session_id = headers.get("mcp-session-id")
        if session_id is None:
            raise HttpError(400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id header")
        session = await self.sessions.get(session_id)
        if session is None or _subject(session.principal) != _subject(principal):
            raise HttpError(
                404,
                INVALID_REQUEST,
                "Session not found: it ended or never existed; initialize again",
            )
        session.principal = principal  # the current token's scopes apply (same subject)
        session.touch()
        return session

    # -- shutting down --------------------------------------------------------------------------
    def end_streams(self) -> None:
        """Shutting down: end GET streams and subscriptions; requests in flight go on."""
        for session in self.sessions:
            if session.standalone is not None:
                session.standalone.finish()
        for req in list(self._listening):
            if req.task is not None:
                req.task.cancel()  # the listen request then answers its final result

    async def close(self) -> None:
        """End every session (the server has stopped)."""
        await self.sessions.close()


def store_failed(exc: StateUnavailable) -> HttpError:
    """The 503 a request gets when the state backend it needs fails."""
    get_logger("mcp_runner.http").warning("state backend unavailable", error=str(exc))
    return HttpError(
        503,
        SERVER_BUSY,
        f"Service unavailable: the session store did not answer ({exc}); retry shortly",
    )


async def _relay(replay: Any, send: AsgiSend) -> None:
    async for chunk in replay:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


def _subject(principal: Any) -> Any:
    return getattr(principal, "subject", None)


def _too_large(limit: int) -> HttpError:
    return HttpError(
        413,
        INVALID_REQUEST,
        f"Payload too large: the body exceeds {limit} bytes (server.max_message_bytes)",
    )


class SlowBodies:
    """Bounds how long a request body may take to arrive (``[http] body_timeout``).

    One timer serves every body being read: it is armed for the earliest deadline when none
    is, and cancels the reads past theirs, so a read costs a dict entry, not a timer.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.reading: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.timer: asyncio.TimerHandle | None = None

    def start(self, task: asyncio.Task[Any]) -> None:
        """`task` starts reading a body."""
        loop = task.get_loop()
        deadline = loop.time() + self.timeout
        self.reading[task] = deadline
        if self.timer is None:
            self.timer = loop.call_at(deadline, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        now = loop.time()
        earliest = None
        for task, deadline in list(self.reading.items()):
            if deadline <= now:
                del self.reading[task]
                self.expired.add(task)
                task.cancel()
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            self.timer = loop.call_at(earliest, self._expire, loop)

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """Whether `task` was cancelled because its body was too slow (and forget it)."""
        if task in self.expired:
            self.expired.discard(task)
            task.uncancel()
            return True
        return False


async def _until(work: Any, receive: Receive) -> None:
    """Run `work` until it ends or the client disconnects."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(disconnected())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
