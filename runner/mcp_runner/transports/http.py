"""Streamable HTTP: both protocol eras on one endpoint.

Each POST is classified as the spec says: a 2026-07-28 request (``_meta`` envelope, or that
version in the ``MCP-Protocol-Version`` header) is served statelessly; anything else belongs to
a legacy session opened by ``initialize``. A request is answered with plain JSON unless it sends
something before its response (progress, logs, a server-to-client request); then the answer
becomes an SSE stream. Legacy streams carry event ids and can be resumed with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..protocol import versions
from ..protocol.errors import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    McpError,
)
from ..protocol.jsonrpc import encode, encode_safely, error, loads
from ..protocol.session import SERVER_BUSY, Request, Session

if TYPE_CHECKING:
    from ..runner import Runner

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
AsgiSend = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
RETRY_MS = 1000
KEEPALIVE_SECONDS = 15.0
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
WELL_KNOWN = "/.well-known/oauth-protected-resource"
WATCH_AFTER = 0.005  # seconds before a 2026-07-28 call starts watching for a hang-up


class HttpError(Exception):
    """An HTTP-level refusal: status, and a JSON-RPC error body (or none)."""

    def __init__(self, status: int, code: int | None, message: str, id: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.id = status, code, message, id


class Stream:
    """One SSE stream of a legacy session: numbered events, replayable after a reconnect."""

    __slots__ = ("buffer", "connection", "done", "finished", "id", "primed", "seq", "version")

    def __init__(self, id: str, buffer_size: int, version: str | None) -> None:
        self.id = id
        self.seq = 0
        self.buffer: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=buffer_size)
        self.connection: AsgiSend | None = None
        self.done = False  # the final response was sent: nothing more will come
        self.finished = asyncio.Event()
        self.version = version

    def event(self, data: bytes | None, retry: bool = False) -> bytes:
        self.seq += 1
        head = f"id: {self.id}_{self.seq}\n" + (f"retry: {RETRY_MS}\n" if retry else "")
        chunk = head.encode() + (b"data: " + data + b"\n\n" if data is not None else b"data: \n\n")
        self.buffer.append((self.seq, chunk))
        return chunk

    async def emit(self, message: dict[str, Any]) -> None:
        chunk = self.event(encode(message))
        await self._write(chunk)

    async def _write(self, chunk: bytes) -> None:
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
        self.done = True
        self.finished.set()


class LegacySession(Session):
    __slots__ = ("standalone", "stream_ids", "streams")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.streams: dict[str, Stream] = {}
        self.standalone: Stream | None = None
        self.stream_ids = 0


class _Exchange:
    """One POSTed request's answer: plain JSON until something must stream first."""

    __slots__ = (
        "app",
        "headers",
        "legacy",
        "opening",
        "request",
        "send",
        "session",
        "sse",
        "status",
        "stream",
    )

    def __init__(
        self, app: McpHttpApp, send: AsgiSend, session: Session, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.app = app
        self.send = send
        self.session = session
        self.headers = headers
        self.legacy = isinstance(session, LegacySession)
        self.sse = False
        self.stream: Stream | None = None
        self.status = 200
        self.request: Request | None = None
        self.opening = False  # answering `initialize`: the session exists only if it succeeds

    async def start_sse(self) -> None:
        self.sse = True
        await self.send(
            {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + self.headers}
        )
        if self.legacy:
            session = self.session
            assert isinstance(session, LegacySession)
            session.stream_ids += 1
            stream = Stream(f"s{session.stream_ids}", self.app.settings.sse_buffer, session.version)
            session.streams[stream.id] = stream
            stream.connection = self.send
            self.stream = stream
            if (session.version or "") >= "2025-11-25":
                await stream._write(stream.event(None, retry=True))  # priming event

    async def message(self, message: dict[str, Any]) -> None:
        """A message related to the request, sent before its response."""
        if not self.sse:
            await self.start_sse()
        if self.stream is not None:
            await self.stream.emit(message)
        else:
            await self.send(
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

    async def abandon(self) -> None:
        """End the exchange without an answer (the request was cancelled)."""
        if self.stream is not None:
            self.stream.finish()
            await self.stream.detach()
        elif self.sse:
            await _end(self.send)
        else:
            await _accepted(self.send)

    async def finish_batch(self, answers: list[dict[str, Any]]) -> None:
        """The answers to a batch: one JSON array, or one event each on the stream it opened."""
        if not self.sse:
            body = b"[" + b",".join(encode_safely(a) for a in answers) + b"]"
            headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *self.headers]
            await self.send({"type": "http.response.start", "status": 200, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
            return
        for answer in answers[:-1]:
            await self.message(answer)
        await self.finish(answers[-1], 200)

    async def finish(self, answer: dict[str, Any], status: int) -> None:
        if self.opening:
            session = self.session
            assert isinstance(session, LegacySession) and session.id is not None
            if "result" in answer:
                self.app.sessions[session.id] = session
            else:
                self.headers = []  # no session was opened
                session.close()
        if not self.sse:
            body = encode_safely(answer)
            headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *self.headers]
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
            return
        stream = self.stream
        if stream is not None:
            await stream.emit(answer)
            stream.finish()
            if stream.connection is not None:  # delivered: nothing left to resume
                session = self.session
                assert isinstance(session, LegacySession)
                session.streams.pop(stream.id, None)
            await stream.detach()
            return
        await self.send(
            {
                "type": "http.response.body",
                "body": b"data: " + encode(answer) + b"\n\n",
                "more_body": False,
            }
        )


class McpHttpApp:
    """The MCP endpoint as a plain ASGI application (mount it anywhere)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner.start()
        self.engine = runner.engine
        self.settings = runner.settings.http
        self.max_body = runner.settings.server.max_message_bytes
        self.max_in_flight = runner.settings.server.max_in_flight
        self.sessions: dict[str, LegacySession] = {}
        self._header_params: dict[int, list[tuple[str, str]]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.auth = runner.authenticator
        self._listening: set[Request] = set()

    # ------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        if scope["type"] != "http":
            return
        if self.engine._loop is None:
            self.engine._loop = asyncio.get_running_loop()
        method = scope["method"]
        try:
            headers = _headers(scope)
            self._check_origin(headers)
            principal = None
            if self.auth is not None:
                try:
                    principal = await self.auth.authenticate(
                        headers, query=scope.get("query_string", b"")
                    )
                except McpError as exc:
                    await _json(
                        send,
                        exc.http_status or 401,
                        error(None, exc.code, exc.message, exc.data),
                        exc.http_headers,
                    )
                    return
            if method == "POST":
                await self._post(scope, headers, receive, send, principal)
            elif method == "GET":
                await self._get(headers, receive, send, principal)
            elif method == "DELETE":
                await self._delete(headers, send, principal)
            else:
                raise HttpError(405, None, f"Method not allowed: {method}")
        except HttpError as exc:
            await _refuse(send, exc)

    async def metadata(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        """RFC 9728 protected resource metadata (only when auth is configured)."""
        if self.auth is None:
            await _refuse(send, HttpError(404, None, "Not found: this server does not use OAuth"))
            return
        await _json(send, 200, self.auth.metadata(_headers(scope)))

    # -- security -------------------------------------------------------------------------------
    def _check_origin(self, headers: dict[str, str]) -> None:
        host = headers.get("host", "")
        allowed_hosts = self.settings.allowed_hosts
        bound_local = self.settings.host in LOCAL_HOSTS
        if allowed_hosts or bound_local:
            name = _host_name(host)
            if not (
                host in allowed_hosts
                or name in allowed_hosts
                or (bound_local and name in LOCAL_HOSTS)
            ):
                raise HttpError(
                    421, INVALID_REQUEST, f"Misdirected request: Host {host!r} is not allowed"
                )
        origin = headers.get("origin")
        if origin is not None:
            allowed = self.settings.allowed_origins
            name = _host_name(urlsplit(origin).netloc) if "://" in origin else ""
            if not (origin in allowed or "*" in allowed or (bound_local and name in LOCAL_HOSTS)):
                raise HttpError(
                    403, INVALID_REQUEST, f"Forbidden: Origin {origin!r} is not allowed"
                )

    # -- POST -----------------------------------------------------------------------------------
    async def _post(
        self,
        scope: Scope,
        headers: dict[str, str],
        receive: Receive,
        send: AsgiSend,
        principal: Any,
    ) -> None:
        content_type = headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            raise HttpError(
                415,
                INVALID_REQUEST,
                "Unsupported Media Type: POST a JSON-RPC message as application/json",
            )
        body = await _read_body(receive, self.max_body)
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
        session = Session(self.engine, "http")
        session.principal = principal
        outcome = self.engine.receive(session, message, _nowhere)
        if outcome is None:
            if "method" not in message:
                raise HttpError(
                    400,
                    INVALID_REQUEST,
                    "Invalid request: clients do not POST responses on the 2026-07-28 wire",
                )
            await _accepted(send)
            return
        if isinstance(outcome, dict):
            await _json(send, 400, outcome)
            return
        req = outcome
        req.headers = headers
        problem = self._check_modern_headers(req, headers)
        if problem is not None:
            await _json(send, problem[0], problem[1])
            return
        exchange = _Exchange(self, send, session, [])
        req.send = exchange.message
        await self._run(req, exchange, receive, cancel_on_disconnect=True)

    def _check_modern_headers(
        self, req: Request, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        meta = req.meta
        version = meta.get(versions.META_PROTOCOL_VERSION)
        if not isinstance(version, str) or not isinstance(
            meta.get(versions.META_CLIENT_CAPABILITIES), dict
        ):
            missing = "protocolVersion" if not isinstance(version, str) else "clientCapabilities"
            return 400, error(
                req.id,
                INVALID_PARAMS,
                f"Invalid params: _meta needs io.modelcontextprotocol/{missing}",
            )

        def mismatch(why: str) -> tuple[int, dict[str, Any]]:
            return 400, error(req.id, HEADER_MISMATCH, f"Header mismatch: {why}")

        header = _ows(headers.get("mcp-protocol-version"))
        if header is None:
            return mismatch("the MCP-Protocol-Version header is missing")
        if header != version:
            return mismatch(
                f"MCP-Protocol-Version header {header!r} does not match the body's {version!r}"
            )
        if version not in versions.MODERN_VERSIONS:
            return 400, error(
                req.id,
                -32022,
                f"Unsupported protocol version: {version}",
                {"supported": list(versions.SUPPORTED_VERSIONS), "requested": version},
            )
        method_header = _ows(headers.get("mcp-method"))
        if method_header != req.method:
            what = "missing" if method_header is None else f"{method_header!r}"
            return mismatch(
                f"Mcp-Method header {what} does not match the body's method {req.method!r}"
            )
        field = NAMED_METHODS.get(req.method)
        if field is not None:
            expected = req.params.get(field)
            raw = headers.get("mcp-name")
            if raw is None:
                return mismatch(f"the Mcp-Name header is missing (expected params.{field})")
            got = _decode_header(raw)
            if got is None:
                return mismatch("the Mcp-Name header has invalid base64")
            if got != expected:
                return mismatch(
                    f"Mcp-Name header {got!r} does not match params.{field} {expected!r}"
                )
        if req.method == "tools/call":
            tool = self.engine.registry.tools.get(req.params.get("name"))  # type: ignore[arg-type]
            if tool is not None:
                arguments = req.params.get("arguments") or {}
                for prop, name in self._mirrored(tool):
                    value = arguments.get(prop) if isinstance(arguments, dict) else None
                    raw = headers.get(f"mcp-param-{name.lower()}")
                    if value is None:
                        continue
                    if raw is None:
                        return mismatch(
                            f"the Mcp-Param-{name} header is missing (argument {prop!r} is set)"
                        )
                    got = _decode_header(raw)
                    if got is None:
                        return mismatch(f"the Mcp-Param-{name} header has invalid base64")
                    if got != _header_text(value):
                        return mismatch(
                            f"Mcp-Param-{name} header {got!r} does not match argument {prop!r}"
                        )
        return None

    def _mirrored(self, tool: Any) -> list[tuple[str, str]]:
        found = self._header_params.get(id(tool))
        if found is None:
            props = tool.input_schema.get("properties", {})
            found = [
                (p, s["x-mcp-header"])
                for p, s in props.items()
                if isinstance(s, dict) and isinstance(s.get("x-mcp-header"), str)
            ]
            self._header_params[id(tool)] = found
        return found

    async def _post_legacy(
        self, message: dict[str, Any], headers: dict[str, str], send: AsgiSend, principal: Any
    ) -> None:
        header_version = _ows(headers.get("mcp-protocol-version"))
        if header_version is not None and header_version not in versions.LEGACY_VERSIONS:
            raise HttpError(
                400,
                INVALID_REQUEST,
                f"Bad Request: unsupported MCP-Protocol-Version {header_version!r}",
            )
        session_id = headers.get("mcp-session-id")
        if message.get("method") == "initialize" and "id" in message:
            if session_id is not None:
                raise HttpError(
                    400, INVALID_REQUEST, "Bad Request: initialize must not carry an Mcp-Session-Id"
                )
            session = self._new_session(message.get("id"))
            session.principal = principal
        else:
            if session_id is None:
                raise HttpError(
                    400,
                    INVALID_REQUEST,
                    "Bad Request: missing Mcp-Session-Id header (send initialize first)",
                )
            session = self._session_for(headers, principal)
        session.last_active = time.monotonic()
        exchange = _Exchange(self, send, session, [(b"mcp-session-id", session.id.encode())])  # type: ignore[union-attr]
        outcome = self.engine.receive(session, message, exchange.message)
        if outcome is None:
            await _accepted(send)
            return
        if isinstance(outcome, dict):
            if session.id not in self.sessions:
                raise HttpError(
                    400, outcome["error"]["code"], outcome["error"]["message"], outcome.get("id")
                )
            await _json(send, 200, outcome)
            return
        req = outcome
        req.headers = headers
        if req.method == "initialize":
            exchange.opening = True
        refusal = session.admit(req, self.max_in_flight)
        if refusal is not None:
            await _json(send, 200, refusal)
            return
        await self._run(req, exchange, None, cancel_on_disconnect=False)

    async def _post_batch(
        self, messages: list[Any], headers: dict[str, str], send: AsgiSend, principal: Any
    ) -> None:
        """A JSON-RPC batch: only 2025-03-26 has them (later versions removed them)."""
        session = self._session_for(headers, principal) if "mcp-session-id" in headers else None
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
        exchange = _Exchange(self, send, session, [(b"mcp-session-id", session.id.encode())])  # type: ignore[union-attr]
        try:
            answers = await self.engine.run_batch(
                session, messages, exchange.message, self.max_in_flight, headers
            )
        finally:
            session.last_active = time.monotonic()
        if not answers:  # notifications and responses only
            await _accepted(send)
            return
        await exchange.finish_batch(answers)

    async def _run(
        self,
        req: Request,
        exchange: _Exchange,
        receive: Receive | None,
        *,
        cancel_on_disconnect: bool,
    ) -> None:
        session = req.session
        req.close_stream = exchange.close_stream
        exchange.request = req
        task = asyncio.current_task()
        req.task = task
        watcher: Any = None
        if cancel_on_disconnect and receive is not None and task is not None:
            # Most calls end within a few milliseconds: only those still running then get a
            # task that watches for the client hanging up (which cancels them).
            watcher = asyncio.get_running_loop().call_later(
                WATCH_AFTER, _watch_disconnect, receive, req, task
            )
        session.in_flight[req.id] = req
        if req.method == "subscriptions/listen":
            self._listening.add(req)
        try:
            answer = await self.engine.handle(req)
        except asyncio.CancelledError:
            if task is not None:
                task.uncancel()
            if req.cancelled_by_client:
                # The client withdrew the request (notifications/cancelled, or it hung up on
                # the 2026-07-28 wire): no JSON-RPC answer, just a clean end of the exchange.
                await exchange.abandon()
                return
            answer = error(req.id, -32603, "Request cancelled: the server is shutting down")
        finally:
            session.in_flight.pop(req.id, None)
            self._listening.discard(req)
            session.last_active = time.monotonic()
            if watcher is not None:
                watcher.cancel()
                if req.watcher is not None:
                    req.watcher.cancel()
        if req.response_headers:
            exchange.headers = exchange.headers + [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in req.response_headers.items()
            ]
        await exchange.finish(answer, req.status if "error" in answer else 200)

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
        session = self._session_for(headers, principal)
        last = headers.get("last-event-id")
        base = {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, (b"mcp-session-id", (session.id or "").encode())],
        }
        if last is not None:
            stream_id, _, seq = last.strip().rpartition("_")
            stream = session.streams.get(stream_id) if stream_id else None
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
                await _end(send)
            return
        if session.standalone is not None and session.standalone.connection is not None:
            raise HttpError(
                409, INVALID_REQUEST, "Conflict: this session already has an open GET stream"
            )
        session.stream_ids += 1
        stream = Stream(f"g{session.stream_ids}", self.settings.sse_buffer, session.version)
        session.standalone = stream
        session.streams[stream.id] = stream
        await send(base)
        stream.connection = send
        await stream._write(stream.event(None, retry=True))
        session.outbound = stream.emit
        try:
            await _until(_keepalive(stream), receive)
        finally:
            if session.standalone is stream:
                stream.connection = None
                session.outbound = None
        await _end(send)

    async def _delete(self, headers: dict[str, str], send: AsgiSend, principal: Any) -> None:
        session = self._session_for(headers, principal)
        self.sessions.pop(session.id, None)  # type: ignore[arg-type]
        session.close()
        for stream in session.streams.values():
            stream.finish()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def _session_for(self, headers: dict[str, str], principal: Any) -> LegacySession:
        session_id = headers.get("mcp-session-id")
        if session_id is None:
            raise HttpError(400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id header")
        session = self.sessions.get(session_id)
        if session is None or _subject(session.principal) != _subject(principal):
            raise HttpError(
                404,
                INVALID_REQUEST,
                "Session not found: it ended or never existed; initialize again",
            )
        session.principal = principal  # the current token's scopes apply (same subject)
        session.last_active = time.monotonic()
        return session

    # -- sessions -------------------------------------------------------------------------------
    def _new_session(self, request_id: Any = None) -> LegacySession:
        if len(self.sessions) >= self.settings.max_sessions:
            self.reap()
            if len(self.sessions) >= self.settings.max_sessions:
                raise HttpError(
                    503,
                    SERVER_BUSY,
                    f"Service unavailable: {self.settings.max_sessions} sessions are open (http.max_sessions)",
                    request_id if isinstance(request_id, str | int) else None,
                )
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap_forever())
        session = LegacySession(self.engine, "http", None, secrets.token_urlsafe(24))
        self.engine.sessions.add(session)
        return session

    def reap(self) -> None:
        """End sessions idle for longer than http.session_idle_timeout."""
        deadline = time.monotonic() - self.settings.session_idle_timeout
        for sid, session in list(self.sessions.items()):
            if (
                session.last_active < deadline
                and not session.in_flight
                and (session.standalone is None or session.standalone.connection is None)
            ):
                del self.sessions[sid]
                session.close()

    async def _reap_forever(self) -> None:
        interval = min(60.0, self.settings.session_idle_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            self.reap()

    def end_streams(self) -> None:
        """Shutting down: end GET streams and subscriptions; requests in flight go on."""
        for session in self.sessions.values():
            if session.standalone is not None:
                session.standalone.finish()
        for req in list(self._listening):
            if req.task is not None:
                req.task.cancel()  # the listen request then answers its final result

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for session in list(self.sessions.values()):
            session.close()
            for stream in session.streams.values():
                stream.finish()
        self.sessions.clear()


# ----------------------------------------------------------------------------------------------
# helpers


async def _nowhere(message: dict[str, Any]) -> None:  # replaced before anything is sent
    return None


def _subject(principal: Any) -> Any:
    return getattr(principal, "subject", None)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _ows(value: str | None) -> str | None:
    return value.strip(" \t") if value is not None else None


def _decode_header(raw: str) -> str | None:
    """A header value with the ``=?base64?...?=`` sentinel decoded; None when it is invalid."""
    value = raw.strip(" \t")
    if value.startswith("=?base64?") and value.endswith("?=") and len(value) >= 11:
        encoded = value[9:-2]
        if len(encoded) % 4:
            return None
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return value


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, INVALID_REQUEST, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(
                413,
                INVALID_REQUEST,
                f"Payload too large: the body exceeds {limit} bytes (server.max_message_bytes)",
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(
    send: AsgiSend, status: int, message: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    body = encode_safely(message)
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    length = [(b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": JSON_HEADERS + length + extra}
    )
    await send({"type": "http.response.body", "body": body})


async def _accepted(send: AsgiSend) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: AsgiSend, exc: HttpError) -> None:
    if exc.code is None:
        await send(
            {
                "type": "http.response.start",
                "status": exc.status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": exc.message.encode()})
        return
    await _json(send, exc.status, error(exc.id, exc.code, exc.message))


async def _end(send: AsgiSend) -> None:
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _watch_disconnect(receive: Receive, req: Request, task: asyncio.Task[Any]) -> None:
    req.watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, req, task))


async def _cancel_on_disconnect(receive: Receive, req: Request, task: asyncio.Task[Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            req.cancelled_by_client = True
            task.cancel()
            return


async def _until(work: Awaitable[Any], receive: Receive) -> None:
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


async def _keepalive(stream: Stream) -> None:
    """Comment lines every few seconds until the stream is finished (e.g. by DELETE)."""
    while not stream.done:
        try:
            await asyncio.wait_for(stream.finished.wait(), KEEPALIVE_SECONDS)
        except TimeoutError:
            await stream._write(b": keepalive\n\n")


# ----------------------------------------------------------------------------------------------
# The application and the server


class _Asgi:
    """Marks a coroutine function as a raw ASGI app for Starlette's router."""

    def __init__(self, app: Callable[[Scope, Receive, AsgiSend], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        await self.app(scope, receive, send)


def http_app(runner: Runner | None = None, *, path: str | None = None) -> Any:
    """A Starlette application serving `runner` (default: every discovered plugin) at `path`.

    Mount it in another ASGI application, or serve it with any ASGI server.
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    if runner is None:
        from ..runner import Runner

        runner = Runner()
    runner.start()
    endpoint = McpHttpApp(runner)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with runner.lifespan():
            runner.ready("http")
            yield
        await endpoint.close()

    mount = path or runner.settings.http.path
    routes = [
        Route(mount, endpoint, methods=["GET", "POST", "DELETE"]),
        Route(WELL_KNOWN, _Asgi(endpoint.metadata), methods=["GET"]),
        Route(WELL_KNOWN + mount, _Asgi(endpoint.metadata), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.mcp = endpoint
    return app


async def serve(runner: Runner, options: dict[str, Any]) -> None:
    import uvicorn

    settings = runner.settings.http
    endpoint = McpHttpApp(runner)

    async def app(scope: Scope, receive: Receive, send: AsgiSend) -> None:
        if scope["type"] == "http" and scope["path"] == settings.path:
            await endpoint(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith(WELL_KNOWN):
            await endpoint.metadata(scope, receive, send)
        elif scope["type"] == "http":
            await _refuse(
                send, HttpError(404, None, f"Not found: the MCP endpoint is {settings.path}")
            )
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(runner.settings.server.shutdown_grace, 0.01),  # type: ignore[arg-type]
    )
    server = _server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.stop)

    async def watch() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        for s in server.servers:
            for sock in s.sockets:
                host, port = sock.getsockname()[:2]
                print(
                    f"mcp-runner: serving http://{_url_host(host)}:{port}{settings.path}",
                    file=sys.stderr,
                    flush=True,
                )
        runner.ready("http")
        while not server.should_exit:
            await asyncio.sleep(0.05)
        endpoint.end_streams()  # open SSE streams end now, not at the end of the grace

    watcher = asyncio.ensure_future(watch())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        await endpoint.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _server(config: Any) -> Any:
    """uvicorn's server with signals left to us: a signal ends serving, and the runner then
    exits the plugins' lifespans (uvicorn itself would re-raise the signal and skip them)."""
    import uvicorn

    class Server(uvicorn.Server):
        def capture_signals(self) -> Any:
            return contextlib.nullcontext()

        def stop(self) -> None:
            if self.should_exit:  # a second signal: stop waiting for connections
                self.force_exit = True
            self.should_exit = True

    return Server(config)


async def _lifespan(receive: Receive, send: AsgiSend) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
