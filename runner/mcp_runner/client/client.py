"""`Client`: an async MCP client for both protocol eras, over stdio, HTTP or in process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..protocol import versions
from ..protocol.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, UNSUPPORTED_VERSION
from .errors import (
    TRANSPORT_ERROR,
    ConnectionClosed,
    Interrupted,
    McpClientError,
    RequestTimeout,
)
from .inprocess import InProcessTransport
from .transports import HttpTransport, StdioTransport, Transport
from .types import (
    CallToolResult,
    Completion,
    GetPromptResult,
    LogMessage,
    Progress,
    Prompt,
    ReadResourceResult,
    RequestInfo,
    Resource,
    ResourceTemplate,
    ServerInfo,
    Tool,
)

if TYPE_CHECKING:
    import httpx

    from ..runner import Runner

Era = Literal["legacy", "modern", "auto"]
Handler = Callable[..., Awaitable[Any]]
ProgressCallback = Callable[[Progress], Any]

_DEFAULT: Any = object()
LIST_KINDS = ("tools", "prompts", "resources")
_LISTEN_FLAGS = {
    "tools": "toolsListChanged",
    "prompts": "promptsListChanged",
    "resources": "resourcesListChanged",
}
CLIENT_INFO = {"name": "mcp-runner-client", "version": "0.1.0"}


class _Pending:
    __slots__ = ("future", "id", "method", "tag")

    def __init__(
        self, id: Any, method: str, future: asyncio.Future[dict[str, Any]], tag: Any
    ) -> None:
        self.id = id
        self.method = method
        self.future = future
        self.tag = tag


def _result_of(answer: dict[str, Any]) -> dict[str, Any]:
    if "error" in answer:
        raise McpClientError.from_error(answer["error"])
    result = answer.get("result")
    return result if isinstance(result, dict) else {}


class Outstanding:
    """A request sent by `Client.start` whose answer may not be there yet.

    ``done()`` tells whether it is; ``result()`` then gives the result dict or raises (as
    `Client.request` would); ``add_done_callback(fn)`` calls ``fn(outstanding)`` when the
    answer arrives; ``cancel()`` withdraws the request at the server; ``interrupt()`` wakes a
    task awaiting it with `Interrupted`, the request going on.
    """

    __slots__ = ("_callbacks", "_client", "_pending", "_token")

    def __init__(self, client: Client, pending: _Pending, token: str | None) -> None:
        self._client = client
        self._pending = pending
        self._token = token
        self._callbacks: list[Callable[[Outstanding], Any]] = []
        pending.future.add_done_callback(self._finished)

    @property
    def id(self) -> Any:
        return self._pending.id

    @property
    def client(self) -> Client:
        return self._client

    def _finished(self, future: asyncio.Future[Any]) -> None:
        if future is not self._pending.future:
            return  # an interrupted wait, not the answer
        self._client._pending.pop(self._pending.id, None)
        if self._token is not None:
            self._client._progress.pop(self._token, None)
        for fn in self._callbacks:
            fn(self)

    def done(self) -> bool:
        return self._pending.future.done()

    def result(self) -> dict[str, Any]:
        return _result_of(self._pending.future.result())

    def add_done_callback(self, fn: Callable[[Outstanding], Any]) -> None:
        if self.done():
            self._pending.future.get_loop().call_soon(fn, self)
        else:
            self._callbacks.append(fn)

    def cancel(self, reason: str = "cancelled") -> bool:
        if self._pending.future.done():
            return False
        self._client._cancel_remote(self._pending.id, reason)
        return self._pending.future.cancel()

    def interrupt(self) -> bool:
        """Wake a task awaiting this request now: its ``await`` raises `Interrupted`. The
        request stays outstanding (its answer is kept for the next ``await``)."""
        woken = self._pending.future
        if woken.done():
            return False
        answer = woken.get_loop().create_future()
        answer.add_done_callback(self._finished)
        self._pending.future = answer
        woken.set_exception(Interrupted(f"request {self._pending.id!r} interrupted"))
        woken.exception()  # retrieved: nobody may be awaiting it
        return True

    def __await__(self) -> Any:
        try:
            yield from self._pending.future.__await__()
        except asyncio.CancelledError:  # the awaiting task was cancelled: so is the request
            self._client._cancel_remote(self._pending.id, "cancelled")
            raise
        return self.result()


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return len(positional)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _as_wire(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        dumped: dict[str, Any] = value.model_dump(by_alias=True, exclude_none=True, mode="json")
        return dumped
    if is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in asdict(value).items() if v is not None}
    raise TypeError(f"a handler must return a dict, not {type(value).__name__}")


class Client:
    """An MCP client.

    ::

        async with Client.stdio("mcp-runner", ["serve"]) as client:
            tools = await client.list_tools()
            result = await client.call_tool("add", {"a": 1, "b": 2})

    `era` picks the protocol era: ``"legacy"`` (an ``initialize`` handshake), ``"modern"``
    (2026-07-28: a ``_meta`` envelope on every request) or ``"auto"``: first the era
    `prefer` names (``"modern"``, the default: ``server/discover``; ``"legacy"``:
    ``initialize``), then the other.

    Callbacks (sync or async): ``on_log(LogMessage)``, ``on_list_changed(kind)`` with kind
    ``"tools"``/``"prompts"``/``"resources"``, ``on_resource_updated(uri)`` and
    ``on_notification(method, params)`` (every notification). Handlers answer the server's
    questions and are declared as client capabilities only when given: ``sampling`` and
    ``elicitation`` are ``async (params) -> dict`` or ``async (params, RequestInfo) -> dict``;
    ``roots`` is a list of roots (dicts or URIs) or such a function returning one.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        era: Era = "auto",
        prefer: Literal["legacy", "modern"] = "modern",
        client_info: dict[str, Any] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = 60.0,
        discover_timeout: float = 10.0,
        protocol_version: str = versions.LATEST_LEGACY,
        log_level: str | None = None,
        on_log: Callable[[LogMessage], Any] | None = None,
        on_list_changed: Callable[[str], Any] | None = None,
        on_resource_updated: Callable[[str], Any] | None = None,
        on_notification: Callable[[str, dict[str, Any]], Any] | None = None,
        sampling: Handler | None = None,
        elicitation: Handler | None = None,
        roots: list[Any] | Handler | None = None,
        listen: bool | None = None,
        max_input_rounds: int = 16,
    ) -> None:
        if era not in ("legacy", "modern", "auto"):
            raise ValueError(f"era must be 'legacy', 'modern' or 'auto', not {era!r}")
        if prefer not in ("legacy", "modern"):
            raise ValueError(f"prefer must be 'legacy' or 'modern', not {prefer!r}")
        if protocol_version not in versions.LEGACY_VERSIONS:
            raise ValueError(
                f"protocol_version is the legacy handshake version, one of "
                f"{', '.join(versions.LEGACY_VERSIONS)}; use era='modern' for {versions.LATEST}"
            )
        self.transport = transport
        self.requested_era: Era = era
        self.prefer = prefer
        self.client_info = dict(client_info or CLIENT_INFO)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.discover_timeout = discover_timeout
        self.requested_version = protocol_version
        self.log_level = log_level
        self.on_log = on_log
        self.on_list_changed = on_list_changed
        self.on_resource_updated = on_resource_updated
        self.on_notification = on_notification
        self._sampling = sampling
        self._elicitation = elicitation
        self._roots = roots
        self.listen = (
            listen
            if listen is not None
            else (on_list_changed is not None or on_resource_updated is not None)
        )
        self.max_input_rounds = max_input_rounds
        # what the server told us
        self.era: Literal["legacy", "modern"] | None = None
        self.protocol_version: str | None = None
        self.server_info = ServerInfo()
        self.server_capabilities: dict[str, Any] = {}
        self.instructions: str | None = None
        self.supported_versions: list[str] = []
        self.close_reason: BaseException | None = None
        # bookkeeping
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._pending: dict[Any, _Pending] = {}
        self._progress: dict[Any, tuple[ProgressCallback, Any]] = {}
        self._serving: dict[Any, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._header_params: dict[str, list[tuple[str, str]]] = {}
        self._subscriptions: set[str] = set()
        self._listen_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Event | None = asyncio.Event()
        self._connected = False
        self._closing = False
        self._envelope_cache: tuple[str | None, dict[str, Any]] | None = None

    # ------------------------------------------------------------------------------------------
    # Constructors

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Iterable[str] = (),
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        inherit_env: bool = True,
        stderr: Any = None,
        **options: Any,
    ) -> Client:
        """A server started as a subprocess (its stderr goes to ours unless `stderr` is given)."""
        transport = StdioTransport(
            command, list(args), env=env, cwd=cwd, inherit_env=inherit_env, stderr=stderr
        )
        return cls(transport, **options)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        http_timeout: float = 30.0,
        **options: Any,
    ) -> Client:
        """A Streamable HTTP server at `url` (``headers`` go on every HTTP request)."""
        return cls(
            HttpTransport(url, headers=headers, http_client=http_client, timeout=http_timeout),
            **options,
        )

    @classmethod
    def inprocess(cls, runner: Runner, *, lifespan: bool = True, **options: Any) -> Client:
        """A `Runner` in this process (its plugin lifespans are entered unless lifespan=False)."""
        options.setdefault("era", "legacy")
        return cls(InProcessTransport(runner, lifespan=lifespan), **options)

    # ------------------------------------------------------------------------------------------
    # Connecting

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed is not None and self._closed.is_set()

    async def connect(self) -> Client:
        """Open the transport and do the handshake of the chosen era."""
        if self._connected:
            return self
        if self._closed is None:
            self._closed = asyncio.Event()
        self._connected = True
        try:
            await self.transport.open(self)
            async with asyncio.timeout(self.connect_timeout):
                if self.requested_era == "legacy":
                    await self._initialize()
                elif self.requested_era == "modern":
                    await self._discover(probe=False)
                elif self.prefer == "legacy":
                    try:
                        await self._initialize()
                    except McpClientError:  # e.g. a server of 2026-07-28 only
                        await self._discover(probe=False)
                elif not await self._discover(probe=True):
                    await self._initialize()
            assert self.era is not None
            self.transport.started(self.era)
            if self.listen and self.era == "modern":
                self._listen_task = asyncio.create_task(self._listen_loop())
        except BaseException as exc:
            await self.close()
            if isinstance(exc, TimeoutError) and not isinstance(exc, RequestTimeout):
                raise ConnectionClosed(
                    f"no handshake with {self.transport.describe()} within {self.connect_timeout:g} s"
                ) from None
            raise
        return self

    def _capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = {}
        if self._sampling is not None:
            caps["sampling"] = {}
        if self._elicitation is not None:
            caps["elicitation"] = {}
        if self._roots is not None:
            caps["roots"] = {"listChanged": True}
        return caps

    def _envelope(self) -> dict[str, Any]:
        """The 2026-07-28 ``_meta`` keys of every request (built once per log level)."""
        cached = self._envelope_cache
        if cached is not None and cached[0] == self.log_level:
            return cached[1]
        meta: dict[str, Any] = {
            versions.META_PROTOCOL_VERSION: versions.LATEST,
            versions.META_CLIENT_CAPABILITIES: self._capabilities(),
            versions.META_CLIENT_INFO: self.client_info,
        }
        if self.log_level is not None:
            meta[versions.META_LOG_LEVEL] = self.log_level
        self._envelope_cache = (self.log_level, meta)
        return meta

    async def _initialize(self) -> None:
        result = await self._raw_request(
            "initialize",
            {
                "protocolVersion": self.requested_version,
                "capabilities": self._capabilities(),
                "clientInfo": self.client_info,
            },
            timeout=None,
        )
        version = result.get("protocolVersion")
        if version not in versions.LEGACY_VERSIONS:
            raise McpClientError(
                UNSUPPORTED_VERSION,
                f"the server answered initialize with protocol version {version!r}, which this "
                f"client does not speak ({', '.join(versions.LEGACY_VERSIONS)})",
            )
        self.era = "legacy"
        self.protocol_version = version
        self.server_info = ServerInfo.from_wire(result.get("serverInfo"))
        caps = result.get("capabilities")
        self.server_capabilities = caps if isinstance(caps, dict) else {}
        instructions = result.get("instructions")
        self.instructions = instructions if isinstance(instructions, str) else None
        if isinstance(self.transport, HttpTransport):
            self.transport.protocol_version = version
        await self.notify("notifications/initialized")
        if self.log_level is not None and "logging" in self.server_capabilities:
            await self.set_logging_level(self.log_level)

    async def _discover(self, *, probe: bool) -> bool:
        """`server/discover`; with `probe`, False when the server is legacy-only."""
        try:
            result = await self._raw_request(
                "server/discover",
                {"_meta": self._envelope()},
                timeout=self.discover_timeout if probe else None,
            )
        except RequestTimeout:
            if probe:
                return False
            raise
        except McpClientError as exc:
            if exc.code == UNSUPPORTED_VERSION:
                data = exc.data if isinstance(exc.data, dict) else {}
                supported = [v for v in data.get("supported") or () if isinstance(v, str)]
                if probe and any(v in versions.LEGACY_VERSIONS for v in supported):
                    return False
                raise McpClientError(
                    exc.code,
                    f"the server speaks none of our protocol versions (it supports "
                    f"{', '.join(supported) or 'nothing it named'})",
                    exc.data,
                ) from None
            if probe:
                return False
            raise
        self.era = "modern"
        self.protocol_version = versions.LATEST
        found_meta = result.get("_meta")
        meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
        self.server_info = ServerInfo.from_wire(meta.get(versions.META_SERVER_INFO))
        caps = result.get("capabilities")
        self.server_capabilities = caps if isinstance(caps, dict) else {}
        instructions = result.get("instructions")
        self.instructions = instructions if isinstance(instructions, str) else None
        self.supported_versions = [
            v for v in result.get("supportedVersions") or () if isinstance(v, str)
        ]
        return True

    # ------------------------------------------------------------------------------------------
    # Closing

    async def close(self) -> None:
        """Cancel what is pending, end the connection (the subprocess, the HTTP session)."""
        if self._closing:
            if self._closed is not None:
                await self._closed.wait()
            return
        self._closing = True
        tasks = [
            t
            for t in (self._listen_task, *self._serving.values(), *self._background)
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        try:
            await self.transport.close()
        finally:
            self._transport_closed(ConnectionClosed("the client was closed"))
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def wait_closed(self) -> BaseException | None:
        """Wait until the connection ends; returns why (a `ConnectionClosed`)."""
        if self._closed is None:
            self._closed = asyncio.Event()
        await self._closed.wait()
        return self.close_reason

    def _transport_closed(self, exc: BaseException) -> None:
        if self._closed is None:
            self._closed = asyncio.Event()
        if self._closed.is_set():
            return
        self.close_reason = exc
        self._closed.set()
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(ConnectionClosed(str(exc)))
        for task in list(self._serving.values()):
            task.cancel()
        if self._listen_task is not None:
            self._listen_task.cancel()

    def _fail_request(self, request_id: Any, exc: BaseException) -> None:
        pending = self._pending.get(request_id)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(exc)

    def _check_open(self) -> None:
        if self.closed:
            reason = self.close_reason
            raise ConnectionClosed(str(reason) if reason else "the connection is closed")

    # ------------------------------------------------------------------------------------------
    # Sending

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification."""
        self._check_open()
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.transport.send(message)

    def _outgoing(
        self,
        params: dict[str, Any] | None,
        meta: dict[str, Any] | None,
        progress: ProgressCallback | None,
        tag: Any,
    ) -> tuple[dict[str, Any], str | None]:
        """A request's params as sent: `_meta` gets the progress token (registered here) and,
        on 2026-07-28, the envelope. The caller's dicts are not changed."""
        if self.era is None:
            raise ConnectionClosed(
                "not connected: use `async with client:` or `await client.connect()`"
            )
        out_meta = dict(meta) if meta else {}
        token = None
        if progress is not None:
            token = f"p{next(self._tokens)}"
            out_meta["progressToken"] = token
            self._progress[token] = (progress, tag)
        if self.era == "modern":
            out_meta.update(self._envelope())
        if out_meta:
            return {**params, "_meta": out_meta} if params else {"_meta": out_meta}, token
        return params if params is not None else {}, token

    async def _send_request(
        self, method: str, params: dict[str, Any], tag: Any, headers: dict[str, str] | None
    ) -> _Pending:
        """Send one request; its answer will arrive in the returned entry's future."""
        self._check_open()
        request_id = next(self._ids)
        pending = _Pending(request_id, method, asyncio.get_running_loop().create_future(), tag)
        self._pending[request_id] = pending
        try:
            await self.transport.send(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, headers
            )
        except asyncio.CancelledError:
            self._pending.pop(request_id, None)
            self._cancel_remote(request_id, "cancelled")
            raise
        except BaseException:
            self._pending.pop(request_id, None)
            raise
        return pending

    async def _raw_request(
        self,
        method: str,
        params: dict[str, Any],
        *,
        timeout: float | None = _DEFAULT,
        tag: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        pending = await self._send_request(method, params, tag, headers)
        request_id, future = pending.id, pending.future
        limit = self.timeout if timeout is _DEFAULT else timeout
        try:
            if limit is None:
                answer = await future
            else:
                try:
                    async with asyncio.timeout(limit) as scope:
                        answer = await future
                except TimeoutError:
                    if scope.expired():
                        self._cancel_remote(request_id, "timed out")
                        raise RequestTimeout(method, limit) from None
                    raise
        except asyncio.CancelledError:
            self._cancel_remote(request_id, "cancelled")
            raise
        finally:
            self._pending.pop(request_id, None)
        return _result_of(answer)

    async def start(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        progress: ProgressCallback | None = None,
        tag: Any = None,
    ) -> Outstanding:
        """Send a request and return without waiting: the `Outstanding` request gives its
        result when done, or withdraws it. One round only: on 2026-07-28 an input-required
        result is the result (`request()` answers those rounds itself)."""
        params, token = self._outgoing(params, None, progress, tag)
        try:
            pending = await self._send_request(
                method, params, tag, self._extra_headers(method, params)
            )
        except BaseException:
            self._progress.pop(token, None)
            raise
        return Outstanding(self, pending, token)

    def _cancel_remote(self, request_id: Any, reason: str) -> None:
        """Tell the server we no longer want an answer (or close its stream)."""
        if self.closed or self._closing:
            return
        if self.transport.abort(request_id):
            return
        self._spawn(
            lambda: self.notify(
                "notifications/cancelled", {"requestId": request_id, "reason": reason}
            )
        )

    def _spawn(self, make: Callable[[], Awaitable[Any]]) -> None:
        async def run() -> None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await make()

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = _DEFAULT,
        progress: ProgressCallback | None = None,
        tag: Any = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a request and return its result (a dict), in the connected era.

        `progress` gets each `Progress` of this request; `tag` is any object of yours, given
        back in `RequestInfo.tag` / `LogMessage.tag` for what arrives about this request. On
        2026-07-28 input-required results are answered by the handlers and the request is
        retried until it completes. Cancelling the awaiting task cancels the request.
        """
        params, token = self._outgoing(params, meta, progress, tag)
        headers = self._extra_headers(method, params)
        try:
            result = await self._raw_request(
                method, params, timeout=timeout, tag=tag, headers=headers
            )
            rounds = 0
            while self.era == "modern" and result.get("resultType") == "input_required":
                rounds += 1
                if rounds > self.max_input_rounds:
                    raise McpClientError(
                        TRANSPORT_ERROR,
                        f"{method}: the server still needs input after {self.max_input_rounds} rounds",
                    )
                requests = result.get("inputRequests") or {}
                answers = await self._answer_inputs(
                    requests if isinstance(requests, dict) else {}, tag
                )
                retry = dict(params)
                retry["inputResponses"] = answers
                if "requestState" in result:
                    retry["requestState"] = result["requestState"]
                else:
                    retry.pop("requestState", None)
                result = await self._raw_request(
                    method, retry, timeout=timeout, tag=tag, headers=headers
                )
            return result
        finally:
            if token is not None:
                self._progress.pop(token, None)

    def _extra_headers(self, method: str, params: dict[str, Any]) -> dict[str, str] | None:
        if (
            method != "tools/call"
            or self.era != "modern"
            or not isinstance(self.transport, HttpTransport)
        ):
            return None
        mirrored = self._header_params.get(params.get("name", ""))
        if not mirrored:
            return None
        from .transports import header_value

        arguments = params.get("arguments") or {}
        headers = {}
        for prop, name in mirrored:
            value = arguments.get(prop)
            if value is not None:
                headers[f"Mcp-Param-{name}"] = header_value(value)
        return headers

    # ------------------------------------------------------------------------------------------
    # Receiving

    async def _deliver(self, message: dict[str, Any], related: Any) -> None:
        method = message.get("method")
        if isinstance(method, str):
            if "id" in message:
                self._on_server_request(message, related)
            else:
                params = message.get("params")
                await self._on_notification(
                    method, params if isinstance(params, dict) else {}, related
                )
            return
        pending = self._pending.get(message.get("id"))
        if pending is not None and not pending.future.done():
            pending.future.set_result(message)

    def _resolve(self, message: dict[str, Any]) -> bool:
        """Hand an answer to the request waiting for it, at once (the stdio fast path)."""
        pending = self._pending.get(message.get("id"))
        if pending is None or pending.future.done():
            return False
        pending.future.set_result(message)
        return True

    def _tag_of(self, related: Any) -> Any:
        pending = self._pending.get(related) if related is not None else None
        return pending.tag if pending is not None else None

    async def _on_notification(self, method: str, params: dict[str, Any], related: Any) -> None:
        try:
            if method == "notifications/progress":
                entry = self._progress.get(params.get("progressToken"))
                if entry is not None:
                    progress = params.get("progress")
                    total = params.get("total")
                    message = params.get("message")
                    await _maybe_await(
                        entry[0](
                            Progress(
                                progress if isinstance(progress, int | float) else 0,
                                total if isinstance(total, int | float) else None,
                                message if isinstance(message, str) else None,
                            )
                        )
                    )
            elif method == "notifications/message":
                if self.on_log is not None:
                    level = params.get("level")
                    logger = params.get("logger")
                    await _maybe_await(
                        self.on_log(
                            LogMessage(
                                level if isinstance(level, str) else "info",
                                params.get("data"),
                                logger if isinstance(logger, str) else None,
                                self._tag_of(related),
                            )
                        )
                    )
            elif method.endswith("/list_changed") and method.count("/") == 2:
                kind = method.split("/")[1]
                if kind == "tools":
                    self._header_params.clear()
                if kind in LIST_KINDS and self.on_list_changed is not None:
                    await _maybe_await(self.on_list_changed(kind))
            elif method == "notifications/resources/updated":
                uri = params.get("uri")
                if isinstance(uri, str) and self.on_resource_updated is not None:
                    await _maybe_await(self.on_resource_updated(uri))
            elif method == "notifications/cancelled":
                task = self._serving.get(params.get("requestId"))
                if task is not None:
                    task.cancel()
            if self.on_notification is not None:
                await _maybe_await(self.on_notification(method, params))
        except Exception as exc:  # a failing callback must not stop the reader
            print(
                f"mcp-runner client: {method} callback failed: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )

    def _on_server_request(self, message: dict[str, Any], related: Any) -> None:
        request_id = message["id"]
        params = message.get("params")
        tag = self._tag_of(related)

        async def serve() -> None:
            try:
                result = await self._serve(
                    message["method"], params if isinstance(params, dict) else {}, tag
                )
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
            except asyncio.CancelledError:
                return  # the server withdrew the request, or we are closing
            except McpClientError as exc:
                err: dict[str, Any] = {"code": exc.code, "message": exc.message}
                if exc.data is not None:
                    err["data"] = exc.data
                answer = {"jsonrpc": "2.0", "id": request_id, "error": err}
            except Exception as exc:
                answer = {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"},
                }
            finally:
                self._serving.pop(request_id, None)
            with contextlib.suppress(ConnectionClosed, OSError):
                await self.transport.send(answer)

        task = asyncio.ensure_future(serve())
        self._serving[request_id] = task

    async def _serve(self, method: Any, params: dict[str, Any], tag: Any) -> dict[str, Any]:
        """Answer one server question: a legacy server request or a 2026-07-28 input request."""
        info = RequestInfo(str(method), tag, self)
        if method == "ping":
            return {}
        if method == "roots/list":
            roots = self._roots
            if roots is None:
                raise McpClientError(METHOD_NOT_FOUND, "this client offers no roots")
            if callable(roots):
                roots = await _maybe_await(roots(info) if _arity(roots) >= 1 else roots())
            return {
                "roots": [{"uri": r} if isinstance(r, str) else _as_wire(r) for r in roots or ()]
            }
        handler = {
            "sampling/createMessage": self._sampling,
            "elicitation/create": self._elicitation,
        }.get(method)
        if method not in ("sampling/createMessage", "elicitation/create"):
            raise McpClientError(METHOD_NOT_FOUND, f"Method not found: {method}")
        if handler is None:
            raise McpClientError(METHOD_NOT_FOUND, f"this client has no {method} handler")
        result = await (handler(params, info) if _arity(handler) >= 2 else handler(params))
        return _as_wire(result)

    async def _answer_inputs(self, requests: dict[str, Any], tag: Any) -> dict[str, Any]:
        keys = list(requests)
        answers = await asyncio.gather(
            *(
                self._serve(
                    r.get("method") if isinstance(r, dict) else None,
                    (r.get("params") or {}) if isinstance(r, dict) else {},
                    tag,
                )
                for r in requests.values()
            )
        )
        return dict(zip(keys, answers, strict=True))

    # ------------------------------------------------------------------------------------------
    # Subscriptions (2026-07-28: subscriptions/listen)

    async def _listen_loop(self) -> None:
        first = True
        while not self.closed:
            if not first and self.on_list_changed is not None:
                for kind in LIST_KINDS:  # changes may have been missed while not listening
                    with contextlib.suppress(Exception):
                        await _maybe_await(self.on_list_changed(kind))
            first = False
            wanted: dict[str, Any] = {}
            if self.on_list_changed is not None:
                wanted = {flag: True for flag in _LISTEN_FLAGS.values()}
            if self._subscriptions:
                wanted["resourceSubscriptions"] = sorted(self._subscriptions)
            try:
                await self.request("subscriptions/listen", {"notifications": wanted}, timeout=None)
            except McpClientError as exc:
                if exc.code == METHOD_NOT_FOUND:
                    return
            except ConnectionClosed:
                if self.closed:
                    return
            await asyncio.sleep(1.0)

    async def subscribe_resource(self, uri: str) -> None:
        """Ask for ``notifications/resources/updated`` about `uri` (to ``on_resource_updated``)."""
        self._subscriptions.add(uri)
        if self.era == "legacy":
            await self.request("resources/subscribe", {"uri": uri})
        else:
            self._restart_listen()

    async def unsubscribe_resource(self, uri: str) -> None:
        self._subscriptions.discard(uri)
        if self.era == "legacy":
            await self.request("resources/unsubscribe", {"uri": uri})
        else:
            self._restart_listen()

    def _restart_listen(self) -> None:
        if self._listen_task is not None:
            self._listen_task.cancel()
        self._listen_task = asyncio.create_task(self._listen_loop())

    # ------------------------------------------------------------------------------------------
    # The MCP methods

    async def _list(
        self, method: str, field: str, timeout: float | None = _DEFAULT
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: Any = None
        seen: set[Any] = set()
        while True:
            result = await self.request(
                method, {"cursor": cursor} if cursor is not None else {}, timeout=timeout
            )
            found = result.get(field)
            items.extend(x for x in found or () if isinstance(x, dict))
            cursor = result.get("nextCursor")
            if cursor is None or not isinstance(cursor, str | int) or cursor in seen:
                return items
            seen.add(cursor)

    async def list_tools(self, *, timeout: float | None = _DEFAULT) -> list[Tool]:
        """Every tool (all pages)."""
        tools = [Tool.from_wire(t) for t in await self._list("tools/list", "tools", timeout)]
        self._header_params = {
            t.name: [
                (prop, spec["x-mcp-header"])
                for prop, spec in (t.input_schema.get("properties") or {}).items()
                if isinstance(spec, dict) and isinstance(spec.get("x-mcp-header"), str)
            ]
            for t in tools
        }
        return tools

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = _DEFAULT,
        meta: dict[str, Any] | None = None,
        tag: Any = None,
    ) -> CallToolResult:
        """Call a tool. A tool's own failure is ``result.is_error``; protocol errors raise
        `McpClientError`."""
        result = await self.request(
            "tools/call",
            {"name": name, "arguments": arguments or {}},
            timeout=timeout,
            progress=progress,
            tag=tag,
            meta=meta,
        )
        return CallToolResult.from_wire(result)

    async def list_resources(self, *, timeout: float | None = _DEFAULT) -> list[Resource]:
        return [
            Resource.from_wire(r) for r in await self._list("resources/list", "resources", timeout)
        ]

    async def list_resource_templates(
        self, *, timeout: float | None = _DEFAULT
    ) -> list[ResourceTemplate]:
        items = await self._list("resources/templates/list", "resourceTemplates", timeout)
        return [ResourceTemplate.from_wire(r) for r in items]

    async def read_resource(
        self,
        uri: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = _DEFAULT,
        meta: dict[str, Any] | None = None,
        tag: Any = None,
    ) -> ReadResourceResult:
        result = await self.request(
            "resources/read", {"uri": uri}, timeout=timeout, progress=progress, tag=tag, meta=meta
        )
        return ReadResourceResult.from_wire(result)

    async def list_prompts(self, *, timeout: float | None = _DEFAULT) -> list[Prompt]:
        return [Prompt.from_wire(p) for p in await self._list("prompts/list", "prompts", timeout)]

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = _DEFAULT,
        meta: dict[str, Any] | None = None,
        tag: Any = None,
    ) -> GetPromptResult:
        params: dict[str, Any] = {"name": name}
        if arguments:
            params["arguments"] = {
                k: v if isinstance(v, str) else str(v) for k, v in arguments.items()
            }
        result = await self.request(
            "prompts/get", params, timeout=timeout, progress=progress, tag=tag, meta=meta
        )
        return GetPromptResult.from_wire(result)

    async def complete(
        self,
        ref: dict[str, Any] | Prompt | ResourceTemplate | Resource,
        argument: str,
        value: str,
        *,
        context: dict[str, str] | None = None,
        timeout: float | None = _DEFAULT,
    ) -> Completion:
        """Completions for `argument` of a prompt or resource template (``ref`` is the prompt,
        the template, or a wire ref such as ``{"type": "ref/prompt", "name": "greet"}``)."""
        if isinstance(ref, Prompt):
            wire_ref: dict[str, Any] = {"type": "ref/prompt", "name": ref.name}
        elif isinstance(ref, ResourceTemplate):
            wire_ref = {"type": "ref/resource", "uri": ref.uri_template}
        elif isinstance(ref, Resource):
            wire_ref = {"type": "ref/resource", "uri": ref.uri}
        else:
            wire_ref = ref
        params: dict[str, Any] = {"ref": wire_ref, "argument": {"name": argument, "value": value}}
        if context:
            params["context"] = {"arguments": context}
        return Completion.from_wire(
            await self.request("completion/complete", params, timeout=timeout)
        )

    async def set_logging_level(self, level: str) -> None:
        """The lowest level of log messages to receive (legacy: ``logging/setLevel``; 2026-07-28:
        sent in each request's ``_meta``)."""
        self.log_level = level
        if self.era == "legacy":
            await self.request("logging/setLevel", {"level": level})

    async def ping(self, *, timeout: float | None = _DEFAULT) -> None:
        """Check the server answers (2026-07-28 has no ping: a ``server/discover`` stands in)."""
        if self.era == "modern":
            await self.request("server/discover", {}, timeout=timeout)
        else:
            await self.request("ping", {}, timeout=timeout)

    async def send_roots_list_changed(self) -> None:
        """Tell a legacy server our roots changed (2026-07-28 has no such notification)."""
        if self.era == "legacy":
            await self.notify("notifications/roots/list_changed")

    def __repr__(self) -> str:
        return f"<Client {self.transport.describe()} {self.protocol_version or 'not connected'}>"
