"""How a `Client` reaches a server: a subprocess over stdio, Streamable HTTP, or a `Runner` in
this process.

A transport moves JSON-RPC messages (plain dicts) and hands what the server sends to its sink
(the `Client`):

* ``await sink._deliver(message, related)`` - a message from the server; `related` is the id
  of our request whose stream carried it (HTTP, in-process), or None (stdio, GET stream);
* ``sink._fail_request(request_id, exc)`` - that request will get no answer;
* ``sink._transport_closed(exc)`` - the connection is gone (everything pending fails).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..protocol import versions
from ..protocol.jsonrpc import encode, loads
from .errors import TRANSPORT_ERROR, ConnectionClosed, McpClientError

if TYPE_CHECKING:
    import httpx

    from .client import Client

MAX_LINE = 64 * 1024 * 1024
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def _modern_version(message: dict[str, Any]) -> str | None:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(versions.META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


class Transport:
    """The interface every transport implements."""

    kind = "base"

    async def open(self, sink: Client) -> None:
        raise NotImplementedError

    def started(self, era: str) -> None:
        """The handshake is done (`era` is "legacy" or "modern")."""

    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raise NotImplementedError

    def abort(self, request_id: Any) -> bool:
        """Stop waiting for a request's answer; True when that alone cancels it on the server
        (a 2026-07-28 HTTP stream closed), False when a `notifications/cancelled` is needed."""
        return False

    async def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind


# ---------------------------------------------------------------------------------------------
# stdio


class _StdioProtocol(asyncio.SubprocessProtocol):
    def __init__(self, owner: StdioTransport) -> None:
        self.owner = owner

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.owner._feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.owner._eof()

    def process_exited(self) -> None:
        self.owner._exited()

    def pause_writing(self) -> None:
        self.owner._writable.clear()

    def resume_writing(self) -> None:
        self.owner._writable.set()


class StdioTransport(Transport):
    """Spawns ``command args...`` and speaks newline-delimited JSON-RPC on its stdin/stdout.

    The server's stderr goes to ours unless `stderr` says otherwise (a file object, or
    ``asyncio.subprocess.DEVNULL``). `env` is added to this process's environment
    (``inherit_env=False``: it is the whole environment).

    Lines are parsed as they arrive; an answer that nothing is queued before is handed to its
    waiting request at once, everything else goes through one ordered dispatcher (so a
    request's progress can never overtake its answer).
    """

    kind = "stdio"

    def __init__(
        self,
        command: str,
        args: list[str] | tuple[str, ...] = (),
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        inherit_env: bool = True,
        stderr: Any = None,
        close_timeout: float = 2.0,
    ) -> None:
        self.command = command
        self.args = list(args)
        self.env = dict(env or {})
        self.cwd = cwd
        self.inherit_env = inherit_env
        self.stderr = stderr
        self.close_timeout = close_timeout
        self._process: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._sink: Client | None = None
        self._buffer = bytearray()
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._exit = asyncio.Event()
        self._stdout_closed = False
        self._closing = False
        self._reported = False

    @property
    def pid(self) -> int | None:
        return self._process.get_pid() if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        return self._process.get_returncode() if self._process is not None else None

    def describe(self) -> str:
        return " ".join([self.command, *self.args])

    async def open(self, sink: Client) -> None:
        self._sink = sink
        env = {**os.environ, **self.env} if self.inherit_env else dict(self.env)
        loop = asyncio.get_running_loop()
        try:
            process, _ = await loop.subprocess_exec(
                lambda: _StdioProtocol(self),
                self.command,
                *self.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=self.stderr,
                env=env,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise ConnectionClosed(f"cannot start {self.command!r}: {exc.strerror or exc}") from exc
        self._process = process
        self._stdin = process.get_pipe_transport(0)  # type: ignore[assignment]
        self._dispatcher = asyncio.create_task(self._dispatch())

    # -- reading ----------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        buffer = self._buffer
        if not buffer and data.find(b"\n") == len(data) - 1:  # the common case: one whole line
            if data.strip():
                self._line(data)
            return
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end]).strip()
            start = end + 1
            if line:
                self._line(line)
        del buffer[:start]
        if len(buffer) > MAX_LINE:
            buffer.clear()
            print(
                f"mcp-runner client: dropped a message over {MAX_LINE} bytes from {self.command}",
                file=sys.stderr,
            )

    def _line(self, line: bytes) -> None:
        try:
            message = loads(line)
        except ValueError:
            print(
                f"mcp-runner client: ignoring a line that is not JSON-RPC from {self.command}: {line[:200]!r}",
                file=sys.stderr,
            )
            return
        for item in message if isinstance(message, list) else (message,):
            if not isinstance(item, dict):
                continue
            if (
                not self._queue
                and "method" not in item
                and self._sink is not None
                and self._sink._resolve(item)
            ):
                continue  # an answer, nothing before it: straight to the waiting request
            self._queue.append(item)
            self._wakeup.set()

    async def _dispatch(self) -> None:
        sink = self._sink
        assert sink is not None
        while True:
            while self._queue:
                message = self._queue[0]
                try:
                    await sink._deliver(message, None)
                finally:
                    self._queue.popleft()
            if self._stdout_closed:
                break
            self._wakeup.clear()
            await self._wakeup.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._exit.wait(), 0.5)
        code = self.returncode
        reason = (
            "the server closed its stdout"
            if code is None
            else f"the server process exited with code {code}"
        )
        self._reported = True
        sink._transport_closed(ConnectionClosed(reason))

    def _eof(self) -> None:
        self._stdout_closed = True
        self._wakeup.set()

    def _exited(self) -> None:
        self._exit.set()

    # -- writing ----------------------------------------------------------------------------
    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        stdin = self._stdin
        if stdin is None or self._closing or stdin.is_closing():
            raise ConnectionClosed("the server's stdin is closed")
        stdin.write(encode(message) + b"\n")
        if not self._writable.is_set():
            await self._writable.wait()

    async def close(self) -> None:
        self._closing = True
        process = self._process
        if process is not None:
            if self._stdin is not None and not self._stdin.is_closing():
                self._stdin.close()
            for step in ("wait", "terminate", "kill"):
                if process.get_returncode() is not None:
                    break
                if step != "wait":
                    with contextlib.suppress(ProcessLookupError):
                        getattr(process, step)()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._exit.wait(), self.close_timeout)
            process.close()
        if self._dispatcher is not None:
            self._stdout_closed = True
            self._wakeup.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._dispatcher), 1.0)
            self._dispatcher.cancel()


# ---------------------------------------------------------------------------------------------
# Streamable HTTP


@dataclass(slots=True)
class _Event:
    id: str | None
    data: str
    retry: float | None


async def _sse_events(response: httpx.Response) -> AsyncIterator[_Event]:
    """Server-sent events of a streaming response (comments and empty priming data kept out
    of `data` but their ids and retry delays reported)."""
    data: list[str] = []
    event_id: str | None = None
    retry: float | None = None
    seen = False
    async for line in response.aiter_lines():
        if not line:
            if seen:
                yield _Event(event_id, "\n".join(data), retry)
            data, event_id, retry, seen = [], None, None, False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
            seen = True
        elif name == "id":
            event_id = value
            seen = True
        elif name == "retry" and value.isdigit():
            retry = int(value) / 1000
            seen = True
    if seen:
        yield _Event(event_id, "\n".join(data), retry)


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


@dataclass(slots=True)
class _StreamState:
    answered: bool = False
    last_id: str | None = None
    retry: float | None = None


async def _sse_messages(
    response: httpx.Response, state: _StreamState
) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE stream; its event ids and retry delays go to `state`
    (for a resume). Events that carry no JSON object are skipped."""
    async for event in _sse_events(response):
        if event.id:
            state.last_id = event.id
        if event.retry is not None:
            state.retry = event.retry
        if not event.data.strip():
            continue
        try:
            message = loads(event.data)
        except ValueError:
            continue
        if isinstance(message, dict):
            yield message


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
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.resume_attempts = resume_attempts
        self.session_id: str | None = None
        self.protocol_version: str | None = None  # legacy: negotiated by initialize
        self._http = http_client
        self._own_http = http_client is None
        self._sink: Client | None = None
        self._tasks: dict[Any, tuple[asyncio.Task[None], bool]] = {}
        self._standalone: asyncio.Task[None] | None = None
        self._closed = False

    def describe(self) -> str:
        return self.url

    async def open(self, sink: Client) -> None:
        import httpx

        self._sink = sink
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, read=None),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            )

    def started(self, era: str) -> None:
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
        if extra:
            out.update(extra)
        return out

    # -- sending ----------------------------------------------------------------------------
    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
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
            self._lost("the HTTP session ended (404 Session not found)")

    async def _exchange(self, message: dict[str, Any], extra: dict[str, str] | None) -> None:
        import httpx

        assert self._http is not None and self._sink is not None
        rid, method = message["id"], message["method"]
        modern = _modern_version(message) is not None
        state = _StreamState()
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
        if state.answered or self._closed:
            return
        if not modern and state.last_id is not None:
            await self._resume(rid, state)
            if state.answered or self._closed:
                return
        self._sink._fail_request(
            rid, ConnectionClosed(f"{method}: the server closed the stream before answering")
        )

    async def _consume(
        self, response: httpx.Response, rid: Any, method: str, modern: bool, state: _StreamState
    ) -> None:
        sink = self._sink
        assert sink is not None
        status = response.status_code
        ctype = response.headers.get("content-type", "")
        if status == 404 and not modern and self.session_id is not None and method != "initialize":
            state.answered = True
            self._lost("the HTTP session ended (404 Session not found)")
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
                await sink._deliver(answer, rid)
                if answer["id"] != rid:
                    sink._fail_request(
                        rid,
                        McpClientError(
                            TRANSPORT_ERROR, f"HTTP {status}: answer for another request"
                        ),
                    )
                return
        text = body[:300].decode("utf-8", "replace").strip()
        sink._fail_request(
            rid,
            McpClientError(
                TRANSPORT_ERROR,
                f"HTTP {status} from {self.url}" + (f": {text}" if text else ""),
                {"status": status},
            ),
        )

    async def _read_sse(self, response: httpx.Response, rid: Any, state: _StreamState) -> None:
        sink = self._sink
        assert sink is not None
        async for message in _sse_messages(response, state):
            await sink._deliver(message, rid)
            if message.get("id") == rid and ("result" in message or "error" in message):
                state.answered = True
                return

    async def _resume(self, rid: Any, state: _StreamState) -> None:
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
        state = _StreamState()
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
                    if response.status_code == 404:
                        self._lost("the HTTP session ended (404 Session not found)")
                        return
                    ctype = response.headers.get("content-type", "")
                    if response.status_code != 200 or not ctype.startswith("text/event-stream"):
                        return  # 405: the server offers no GET stream
                    failures = 0
                    async for message in _sse_messages(response, state):
                        await self._sink._deliver(message, None)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                self._lost(f"cannot reach {self.url}: {exc}")
                return
            except httpx.HTTPError:
                failures += 1
            await asyncio.sleep(state.retry if state.retry is not None else 1.0)

    def _lost(self, why: str) -> None:
        if not self._closed and self._sink is not None:
            self._sink._transport_closed(ConnectionClosed(why))

    async def close(self) -> None:
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
