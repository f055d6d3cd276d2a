"""The Streamable HTTP transport: a POST per message, answers as JSON or an SSE stream, and the
MCP headers each era puts on a request."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import re
from typing import TYPE_CHECKING, Any

from ..protocol import versions
from ..protocol.jsonrpc import encode, loads
from .errors import TRANSPORT_ERROR, ConnectionClosed, McpClientError, SessionExpired
from .sse import StreamState, sse_messages
from .tracecontext import TRACE_KEYS
from .transport import Sink, Transport

if TYPE_CHECKING:
    import httpx

    from .types import Tool

# The param that a 2026-07-28 request names in its ``Mcp-Name`` header, by method.
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# A tool's header parameters: (argument, header name) for each ``x-mcp-header`` property.
HeaderParams = list[tuple[str, str]]
# The property types an ``x-mcp-header`` may annotate, and the characters of a header name.
HEADER_TYPES = ("string", "integer", "boolean")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def params_meta(message: dict[str, Any]) -> dict[str, Any] | None:
    """A message's ``params._meta``, when it has one."""
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) else None


def _modern_version(message: dict[str, Any]) -> str | None:
    meta = params_meta(message)
    version = meta.get(versions.META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


def header_value(value: Any) -> str:
    """A header value for ``Mcp-Name`` / ``Mcp-Param-*``, base64 sentinel-encoded when needed."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    plain = (
        text.isascii()
        and text.isprintable()
        and text == text.strip(" \t")
        and not (text.startswith("=?base64?") and text.endswith("?="))
    )
    if plain:
        return text
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


def header_annotation_problem(input_schema: dict[str, Any]) -> str | None:
    """Why a tool's ``x-mcp-header`` annotations are invalid (None when they are fine): each
    must name a non-empty HTTP token, unique without regard to case, on a string, integer or
    boolean property. A 2026-07-28 client excludes a tool that breaks these rules."""
    props = input_schema.get("properties")
    seen: dict[str, str] = {}
    for prop, spec in (props if isinstance(props, dict) else {}).items():
        if not isinstance(spec, dict) or "x-mcp-header" not in spec:
            continue
        name = spec["x-mcp-header"]
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            return f"property {prop!r}: x-mcp-header {name!r} is not an HTTP header name"
        if spec.get("type") not in HEADER_TYPES:
            return (
                f"property {prop!r}: x-mcp-header is only for {', '.join(HEADER_TYPES)} "
                f"properties, not {spec.get('type')!r}"
            )
        if name.lower() in seen:
            return (
                f"property {prop!r}: x-mcp-header {name!r} repeats that of {seen[name.lower()]!r}"
            )
        seen[name.lower()] = prop
    return None


def tool_header_params(tools: list[Tool]) -> dict[str, HeaderParams]:
    """Each tool's arguments mirrored into ``Mcp-Param-*`` headers (its ``x-mcp-header``
    properties), by tool name."""
    return {
        t.name: [
            (prop, spec["x-mcp-header"])
            for prop, spec in (t.input_schema.get("properties") or {}).items()
            if isinstance(spec, dict) and isinstance(spec.get("x-mcp-header"), str)
        ]
        for t in tools
    }


def param_headers(mirrored: HeaderParams, arguments: dict[str, Any]) -> dict[str, str]:
    """The ``Mcp-Param-*`` headers of a 2026-07-28 ``tools/call`` with these arguments."""
    headers = {}
    for prop, name in mirrored:
        value = arguments.get(prop)
        if value is not None:
            headers[f"Mcp-Param-{name}"] = header_value(value)
    return headers


class HttpTransport(Transport):
    """Streamable HTTP: one POST per message; answers as JSON or an SSE stream.

    Legacy era: keeps the ``Mcp-Session-Id``, opens the GET stream for server messages, and
    resumes a POST's stream with ``Last-Event-ID`` when it drops before the answer. 2026-07-28:
    sends ``MCP-Protocol-Version``, ``Mcp-Method`` and ``Mcp-Name`` on every request; closing
    a request's stream cancels it.
    """

    kind = "http"

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        resume_attempts: int = 5,
        auth: httpx.Auth | None = None,
    ) -> None:
        if auth is not None and http_client is not None:
            raise ValueError("give auth= to your http_client instead")
        self.url = url
        self.auth = auth  # e.g. mcp_runner.client.oauth.OAuth: on the client made in open()
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.resume_attempts = resume_attempts
        self.session_id: str | None = None
        self.protocol_version: str | None = None  # legacy: negotiated by initialize
        self._http = http_client
        self._own_http = http_client is None
        self._sink: Sink | None = None
        self._tasks: dict[Any, tuple[asyncio.Task[None], bool]] = {}
        self._standalone: asyncio.Task[None] | None = None
        self._closed = False

    def describe(self) -> str:
        """The endpoint's URL."""
        return self.url

    async def open(self, sink: Sink) -> None:
        """Make the HTTP client (unless one was given); no request is sent yet."""
        import httpx

        self._sink = sink
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, read=None),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                auth=self.auth,
            )

    def started(self, era: str) -> None:
        """Legacy: open the GET stream for the server's messages outside our requests."""
        if era == "legacy" and self._standalone is None:
            self._standalone = asyncio.create_task(self._get_stream())

    # -- headers ----------------------------------------------------------------------------
    def _legacy_headers(self) -> dict[str, str]:
        out = dict(self.headers)
        if self.session_id is not None:
            out["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            out["MCP-Protocol-Version"] = self.protocol_version
        return out

    def _post_headers(
        self, message: dict[str, Any], extra: dict[str, str] | None
    ) -> dict[str, str]:
        version = _modern_version(message)
        if version is None:
            out = self._legacy_headers()
        else:
            out = dict(self.headers)
            out["MCP-Protocol-Version"] = version
            method = message.get("method")
            if isinstance(method, str):
                out["Mcp-Method"] = method
                field = NAMED.get(method)
                params = message.get("params") or {}
                if field is not None and field in params:
                    out["Mcp-Name"] = header_value(params[field])
        out["Accept"] = "application/json, text/event-stream"
        out["Content-Type"] = "application/json"
        meta = params_meta(message)
        if meta is not None and "traceparent" in meta:
            for key in TRACE_KEYS:  # the trace context in _meta goes in the headers too
                if isinstance(meta.get(key), str):
                    out[key] = meta[key]
        if extra:
            out.update(extra)
        return out

    # -- sending ----------------------------------------------------------------------------
    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """POST the message; a request's answer (JSON or an SSE stream) is read in a task of
        its own."""
        if self._closed:
            raise ConnectionClosed("the client is closed")
        if "method" in message and "id" in message:
            rid = message["id"]
            modern = _modern_version(message) is not None
            task = asyncio.create_task(self._exchange(message, headers))
            self._tasks[rid] = (task, modern)
            task.add_done_callback(functools.partial(self._forget, rid))
            return
        await self._post_only(message)

    def _forget(self, rid: Any, task: asyncio.Task[None]) -> None:
        entry = self._tasks.get(rid)
        if entry is not None and entry[0] is task:
            del self._tasks[rid]

    def abort(self, request_id: Any) -> bool:
        """Stop reading the request's answer; on 2026-07-28 that closes its stream, which
        cancels it."""
        entry = self._tasks.pop(request_id, None)
        if entry is None:
            return False
        task, modern = entry
        task.cancel()
        return modern

    async def _post_only(self, message: dict[str, Any]) -> None:
        import httpx

        assert self._http is not None
        try:
            response = await self._http.post(
                self.url, content=encode(message), headers=self._post_headers(message, None)
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._lost(f"cannot reach {self.url}: {exc}")
            return
        except httpx.HTTPError:
            return
        if response.status_code == 404 and self.session_id is not None:
            self._lost("the HTTP session ended (404 Session not found)", SessionExpired)

    async def _exchange(self, message: dict[str, Any], extra: dict[str, str] | None) -> None:
        import httpx

        from .oauth.errors import OAuthError

        assert self._http is not None and self._sink is not None
        rid, method = message["id"], message["method"]
        modern = _modern_version(message) is not None
        state = StreamState()
        try:
            async with self._http.stream(
                "POST",
                self.url,
                content=encode(message),
                headers=self._post_headers(message, extra),
            ) as response:
                if method == "initialize" and "mcp-session-id" in response.headers:
                    self.session_id = response.headers["mcp-session-id"]
                await self._consume(response, rid, method, modern, state)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self._lost(f"cannot reach {self.url}: {exc}")
            return
        except httpx.HTTPError:
            pass  # the stream dropped: resumed below when it can be
        except OAuthError as exc:  # auth=: no token could be had
            self._sink.fail_request(rid, exc)
            return
        if state.answered or self._closed:
            return
        if not modern and state.last_id is not None:
            await self._resume(rid, state)
            if state.answered or self._closed:
                return
        self._sink.fail_request(
            rid, ConnectionClosed(f"{method}: the server closed the stream before answering")
        )

    async def _consume(
        self, response: httpx.Response, rid: Any, method: str, modern: bool, state: StreamState
    ) -> None:
        sink = self._sink
        assert sink is not None
        status = response.status_code
        ctype = response.headers.get("content-type", "")
        if status == 404 and not modern and self.session_id is not None and method != "initialize":
            state.answered = True
            ended = "the HTTP session ended (404 Session not found)"
            sink.fail_request(rid, SessionExpired(f"{method}: {ended}, so it was not run"))
            self._lost(ended, SessionExpired)
            return
        if status == 200 and ctype.startswith("text/event-stream"):
            await self._read_sse(response, rid, state)
            return
        body = await response.aread()
        state.answered = True
        if ctype.startswith("application/json"):
            try:
                answer = loads(body)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and ("result" in answer or "error" in answer):
                if answer.get("id") is None:
                    answer["id"] = rid  # an error the server could not tie to our id
                await sink.deliver(answer, rid)
                if answer["id"] != rid:
                    sink.fail_request(
                        rid,
                        McpClientError(
                            TRANSPORT_ERROR, f"HTTP {status}: answer for another request"
                        ),
                    )
                return
        text = body[:300].decode("utf-8", "replace").strip()
        sink.fail_request(
            rid,
            McpClientError(
                TRANSPORT_ERROR,
                f"HTTP {status} from {self.url}" + (f": {text}" if text else ""),
                {"status": status},
            ),
        )

    async def _read_sse(self, response: httpx.Response, rid: Any, state: StreamState) -> None:
        sink = self._sink
        assert sink is not None
        async for message in sse_messages(response, state):
            await sink.deliver(message, rid)
            if message.get("id") == rid and ("result" in message or "error" in message):
                state.answered = True
                return

    async def _resume(self, rid: Any, state: StreamState) -> None:
        """GET with Last-Event-ID until the answer arrives (the legacy resumability rules)."""
        import httpx

        assert self._http is not None
        failures = 0
        while not state.answered and not self._closed and failures < self.resume_attempts:
            await asyncio.sleep(state.retry if state.retry is not None else 1.0)
            headers = self._legacy_headers()
            headers["Accept"] = "text/event-stream"
            headers["Last-Event-ID"] = state.last_id or ""
            before = state.last_id
            try:
                async with self._http.stream("GET", self.url, headers=headers) as response:
                    if response.status_code != 200:
                        return  # 404 unknown event id, 405 no resumption: give up
                    await self._read_sse(response, rid, state)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._lost(f"cannot reach {self.url}: {exc}")
                return
            except httpx.HTTPError:
                pass
            failures = 0 if state.last_id != before else failures + 1

    async def _get_stream(self) -> None:
        """The legacy standalone GET stream: server requests and notifications outside requests."""
        import httpx

        assert self._http is not None and self._sink is not None
        state = StreamState()
        failures = 0
        while not self._closed and failures < 5:
            headers = self._legacy_headers()
            headers["Accept"] = "text/event-stream"
            if state.last_id is not None:
                headers["Last-Event-ID"] = state.last_id
            try:
                async with self._http.stream("GET", self.url, headers=headers) as response:
                    if response.status_code == 404 and state.last_id is not None:
                        state.last_id = None  # the stream is gone: open a new one
                        continue
                    if response.status_code == 404 and self.session_id is not None:
                        self._lost("the HTTP session ended (404 Session not found)", SessionExpired)
                        return
                    ctype = response.headers.get("content-type", "")
                    if response.status_code != 200 or not ctype.startswith("text/event-stream"):
                        return  # 405 (or 404 without a session): the server offers no GET stream
                    failures = 0
                    async for message in sse_messages(response, state):
                        await self._sink.deliver(message, None)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._lost(f"cannot reach {self.url}: {exc}")
                return
            except httpx.HTTPError:
                failures += 1
            await asyncio.sleep(state.retry if state.retry is not None else 1.0)

    def _lost(self, why: str, kind: type[ConnectionClosed] = ConnectionClosed) -> None:
        if not self._closed and self._sink is not None:
            self._sink.transport_closed(kind(why))

    async def close(self) -> None:
        """Stop every stream, end the legacy session (DELETE), close our own HTTP client."""
        import httpx

        if self._closed:
            return
        self._closed = True
        tasks = [t for t, _ in self._tasks.values()]
        if self._standalone is not None:
            tasks.append(self._standalone)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self._http is not None:
            if self.session_id is not None:
                with contextlib.suppress(httpx.HTTPError, asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self._http.delete(self.url, headers=self._legacy_headers()), 2.0
                    )
            if self._own_http:
                await self._http.aclose()
