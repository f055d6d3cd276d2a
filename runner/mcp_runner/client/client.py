"""`Client`, the client library's public face: connecting in either protocol era, the MCP
methods, sending requests, and dispatching what the server sends (it is the `Sink` its
transport feeds)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from ..protocol import versions
from ..protocol.errors import METHOD_NOT_FOUND
from .errors import TRANSPORT_ERROR, ConnectionClosed, McpClientError, RequestTimeout
from .http import (
    HeaderParams,
    HttpTransport,
    header_annotation_problem,
    param_headers,
    tool_header_params,
)
from .inprocess import InProcessTransport, LocalRunner
from .negotiation import (
    Handshake,
    discover_refused,
    envelope,
    initialize_params,
    read_discover,
    read_initialize,
    retry_discover,
    speaks_modern,
)
from .outstanding import Outstanding, PendingRequest, ProgressCallback, RequestTable, result_of
from .questions import Handler, QuestionHandlers, maybe_await
from .stdio import StdioTransport
from .tasks import TaskClient
from .tracecontext import current_trace_context
from .transport import Transport
from .types import (
    CallToolResult,
    Completion,
    GetPromptResult,
    LogMessage,
    Progress,
    Prompt,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    ServerInfo,
    Tool,
)

if TYPE_CHECKING:
    import httpx

Era = Literal["legacy", "modern", "auto"]

_DEFAULT: Any = object()
LIST_KINDS = ("tools", "prompts", "resources")
_LISTEN_FLAGS = {
    "tools": "toolsListChanged",
    "prompts": "promptsListChanged",
    "resources": "resourcesListChanged",
}
CLIENT_INFO = {"name": "mcp-runner-client", "version": "0.1.0"}


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
        self._questions = QuestionHandlers(sampling, elicitation, roots)
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
        self.rejected_tools: dict[str, str] = {}
        self.close_reason: BaseException | None = None
        # bookkeeping
        self._requests = RequestTable(self._cancel_remote)
        self._serving: dict[Any, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._header_params: dict[str, HeaderParams] = {}
        self._subscriptions: set[str] = set()
        self._listen_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Event | None = asyncio.Event()
        self._connected = False
        self._closing = False
        self._envelope_cache: tuple[str | None, dict[str, Any]] | None = None
        #: The extensions this client declares (``capabilities.extensions``), by identifier.
        self.extensions: dict[str, Any] = {}
        #: Tool calls as tasks: start, poll, wait for, cancel (`TaskClient`).
        self.tasks = TaskClient(self)

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
        auth: httpx.Auth | None = None,
        **options: Any,
    ) -> Client:
        """A Streamable HTTP server at `url` (``headers`` go on every HTTP request; `auth`,
        such as `mcp_runner.client.oauth.OAuth`, authorizes them)."""
        transport = HttpTransport(
            url, headers=headers, http_client=http_client, timeout=http_timeout, auth=auth
        )
        return cls(transport, **options)

    @classmethod
    def inprocess(cls, runner: LocalRunner, *, lifespan: bool = True, **options: Any) -> Client:
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
        """Whether the connection has ended (closed by us, or lost)."""
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

    def _envelope(self) -> dict[str, Any]:
        """The 2026-07-28 ``_meta`` keys of every request (built once per log level)."""
        cached = self._envelope_cache
        if cached is not None and cached[0] == self.log_level:
            return cached[1]
        meta = envelope(self._capabilities(), self.client_info, self.log_level)
        self._envelope_cache = (self.log_level, meta)
        return meta

    def _capabilities(self) -> dict[str, Any]:
        caps = self._questions.capabilities()
        return {**caps, "extensions": dict(self.extensions)} if self.extensions else caps

    def declare_extension(self, name: str, settings: dict[str, Any] | None = None) -> None:
        """Declare an extension in this client's capabilities: on every 2026-07-28 request
        from now on, and in ``initialize`` when declared before connecting."""
        if name not in self.extensions:
            self.extensions[name] = settings or {}
            self._envelope_cache = None

    async def answer_inputs(self, requests: dict[str, Any]) -> dict[str, Any]:
        """Answers to a server's ``inputRequests`` (by key), from this client's handlers."""
        return await self._questions.answer_inputs(requests, None, self)

    def _adopt(self, handshake: Handshake) -> None:
        self.era = handshake.era
        self.protocol_version = handshake.protocol_version
        self.server_info = handshake.server_info
        self.server_capabilities = handshake.capabilities
        self.instructions = handshake.instructions
        self.supported_versions = handshake.supported_versions

    async def _initialize(self) -> None:
        params = initialize_params(self.requested_version, self._capabilities(), self.client_info)
        self._adopt(read_initialize(await self._raw_request("initialize", params, timeout=None)))
        if isinstance(self.transport, HttpTransport):
            self.transport.protocol_version = self.protocol_version
        await self.notify("notifications/initialized")
        if self.log_level is not None and "logging" in self.server_capabilities:
            await self.set_logging_level(self.log_level)

    async def _discover(self, *, probe: bool) -> bool:
        """`server/discover`; with `probe`, False when the server is legacy-only (it refuses
        the method, does not answer in time, or answers without naming 2026-07-28)."""
        try:
            result = await self._discover_request(probe)
        except RequestTimeout:
            if probe:
                return False
            raise
        except McpClientError as exc:
            error = discover_refused(exc, probe=probe)
            if error is None:
                return False
            if error is exc:
                raise
            raise error from None
        if probe and not speaks_modern(result):
            return False
        self._adopt(read_discover(result))
        return True

    async def _discover_request(self, probe: bool) -> dict[str, Any]:
        """The ``server/discover`` result, the request sent once more when the server
        refuses its version yet names 2026-07-28 as supported."""
        timeout = self.discover_timeout if probe else None
        try:
            return await self._raw_request(
                "server/discover", {"_meta": self._envelope()}, timeout=timeout
            )
        except McpClientError as exc:
            if not retry_discover(exc):
                raise
        return await self._raw_request(
            "server/discover", {"_meta": self._envelope()}, timeout=timeout
        )

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
            self.transport_closed(ConnectionClosed("the client was closed"))
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def wait_closed(self) -> BaseException | None:
        """Wait until the connection ends; returns why (a `ConnectionClosed`)."""
        if self._closed is None:
            self._closed = asyncio.Event()
        await self._closed.wait()
        return self.close_reason

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
        """A request's params as sent: `_meta` gets the progress token (registered here), on
        2026-07-28 the envelope, and the current trace context (when a span is current and
        the caller gave none). The caller's dicts are not changed."""
        if self.era is None:
            raise ConnectionClosed(
                "not connected: use `async with client:` or `await client.connect()`"
            )
        out_meta = dict(meta) if meta else {}
        token = None
        if progress is not None:
            token = self._requests.watch_progress(progress, tag)
            out_meta["progressToken"] = token
        if self.era == "modern":
            out_meta.update(self._envelope())
        if "traceparent" not in out_meta:
            trace = current_trace_context()
            if trace is not None:
                out_meta.update(trace)
        if out_meta:
            return {**params, "_meta": out_meta} if params else {"_meta": out_meta}, token
        return params if params is not None else {}, token

    async def _send_request(
        self, method: str, params: dict[str, Any], tag: Any, headers: dict[str, str] | None
    ) -> PendingRequest:
        """Send one request; its answer will arrive in the returned entry's future."""
        self._check_open()
        pending = self._requests.open(method, tag)
        request_id = pending.id
        try:
            await self.transport.send(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, headers
            )
        except asyncio.CancelledError:
            self._requests.pending.pop(request_id, None)
            self._cancel_remote(request_id, "cancelled")
            raise
        except BaseException:
            self._requests.pending.pop(request_id, None)
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
            self._requests.pending.pop(request_id, None)
        return result_of(answer)

    async def start(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        progress: ProgressCallback | None = None,
        tag: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Outstanding:
        """Send a request and return without waiting: the `Outstanding` request gives its
        result when done, or withdraws it. One round only: on 2026-07-28 an input-required
        result is the result (`request()` answers those rounds itself). `headers`: as for
        `request()`."""
        params, token = self._outgoing(params, None, progress, tag)
        try:
            pending = await self._send_request(
                method, params, tag, self._extra_headers(method, params, headers)
            )
        except BaseException:
            self._requests.progress.pop(token, None)
            raise
        return Outstanding(self, self._requests, pending, token)

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
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send a request and return its result (a dict), in the connected era.

        `progress` gets each `Progress` of this request; `tag` is any object of yours, given
        back in `RequestInfo.tag` / `LogMessage.tag` for what arrives about this request. On
        2026-07-28 input-required results are answered by the handlers and the request is
        retried until it completes. Cancelling the awaiting task cancels the request.
        `headers` go on this request's HTTP POSTs only, over the transport's own (such as an
        ``Authorization`` of its own); other transports have no headers and ignore them.
        """
        params, token = self._outgoing(params, meta, progress, tag)
        headers = self._extra_headers(method, params, headers)
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
                answers = await self._questions.answer_inputs(
                    requests if isinstance(requests, dict) else {}, tag, self
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
                self._requests.progress.pop(token, None)

    def _extra_headers(
        self, method: str, params: dict[str, Any], given: dict[str, str] | None = None
    ) -> dict[str, str] | None:
        if given:
            own = self._extra_headers(method, params)
            return {**own, **given} if own else given
        if (
            method != "tools/call"
            or self.era != "modern"
            or not isinstance(self.transport, HttpTransport)
        ):
            return None
        mirrored = self._header_params.get(params.get("name", ""))
        if not mirrored:
            return None
        return param_headers(mirrored, params.get("arguments") or {})

    # ------------------------------------------------------------------------------------------
    # Receiving: the transport's side (the `Sink` it hands the server's messages to)

    async def deliver(self, message: dict[str, Any], related: Any) -> None:
        """A message from the server (see `Sink.deliver`): an answer goes to its request, a
        notification to the callbacks, a server request to the handlers."""
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
        self.resolve(message)

    def resolve(self, message: dict[str, Any]) -> bool:
        """Hand an answer to the request waiting for it, at once (the stdio fast path)."""
        pending = self._requests.pending.get(message.get("id"))
        if pending is None or pending.future.done():
            return False
        pending.future.set_result(message)
        return True

    def fail_request(self, request_id: Any, exc: BaseException) -> None:
        """Request `request_id` will get no answer: its caller gets `exc`."""
        self._requests.fail(request_id, exc)

    def transport_closed(self, exc: BaseException) -> None:
        """The connection is gone: everything pending fails, `wait_closed` returns `exc`."""
        if self._closed is None:
            self._closed = asyncio.Event()
        if self._closed.is_set():
            return
        self.close_reason = exc
        self._closed.set()
        self._requests.fail_all(exc)
        for task in list(self._serving.values()):
            task.cancel()
        if self._listen_task is not None:
            self._listen_task.cancel()

    async def _on_notification(self, method: str, params: dict[str, Any], related: Any) -> None:
        try:
            if method == "notifications/progress":
                entry = self._requests.progress.get(params.get("progressToken"))
                if entry is not None:
                    progress = params.get("progress")
                    total = params.get("total")
                    message = params.get("message")
                    await maybe_await(
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
                    await maybe_await(
                        self.on_log(
                            LogMessage(
                                level if isinstance(level, str) else "info",
                                params.get("data"),
                                logger if isinstance(logger, str) else None,
                                self._requests.tag_of(related),
                            )
                        )
                    )
            elif method.endswith("/list_changed") and method.count("/") == 2:
                kind = method.split("/")[1]
                if kind == "tools":
                    self._header_params.clear()
                if kind in LIST_KINDS and self.on_list_changed is not None:
                    await maybe_await(self.on_list_changed(kind))
            elif method == "notifications/resources/updated":
                uri = params.get("uri")
                if isinstance(uri, str) and self.on_resource_updated is not None:
                    await maybe_await(self.on_resource_updated(uri))
            elif method == "notifications/cancelled":
                task = self._serving.get(params.get("requestId"))
                if task is not None:
                    task.cancel()
            if self.on_notification is not None:
                await maybe_await(self.on_notification(method, params))
        except Exception as exc:  # a failing callback must not stop the reader
            print(
                f"mcp-runner client: {method} callback failed: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )

    def _on_server_request(self, message: dict[str, Any], related: Any) -> None:
        request_id = message["id"]
        tag = self._requests.tag_of(related)

        async def serve() -> None:
            try:
                answer = await self._questions.respond(message, tag, self)
            except asyncio.CancelledError:
                return  # the server withdrew the request, or we are closing
            finally:
                self._serving.pop(request_id, None)
            with contextlib.suppress(ConnectionClosed, OSError):
                await self.transport.send(answer)

        task = asyncio.ensure_future(serve())
        self._serving[request_id] = task

    # ------------------------------------------------------------------------------------------
    # Subscriptions (2026-07-28: subscriptions/listen)

    async def _listen_loop(self) -> None:
        first = True
        while not self.closed:
            if not first and self.on_list_changed is not None:
                for kind in LIST_KINDS:  # changes may have been missed while not listening
                    with contextlib.suppress(Exception):
                        await maybe_await(self.on_list_changed(kind))
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
        """Stop the ``notifications/resources/updated`` about `uri`."""
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
        """Every tool (all pages). On 2026-07-28 a tool with invalid ``x-mcp-header``
        annotations is left out, its name and the reason kept in `rejected_tools`."""
        tools = [Tool.from_wire(t) for t in await self._list("tools/list", "tools", timeout)]
        self.rejected_tools = {}
        if self.era == "modern":
            for tool in tools:
                problem = header_annotation_problem(tool.input_schema)
                if problem is not None:
                    self.rejected_tools[tool.name] = problem
            tools = [t for t in tools if t.name not in self.rejected_tools]
        self._header_params = tool_header_params(tools)
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
        `McpClientError`. A call the server answers with a task (once the tasks extension is
        declared) is waited for: its result is returned."""
        result = await self.request(
            "tools/call",
            {"name": name, "arguments": arguments or {}},
            timeout=timeout,
            progress=progress,
            tag=tag,
            meta=meta,
        )
        if result.get("resultType") == "task":
            wait = self.timeout if timeout is _DEFAULT else timeout
            return await self.tasks.result(str(result.get("taskId", "")), timeout=wait)
        return CallToolResult.from_wire(result)

    async def list_resources(self, *, timeout: float | None = _DEFAULT) -> list[Resource]:
        """Every resource (all pages)."""
        return [
            Resource.from_wire(r) for r in await self._list("resources/list", "resources", timeout)
        ]

    async def list_resource_templates(
        self, *, timeout: float | None = _DEFAULT
    ) -> list[ResourceTemplate]:
        """Every resource template (all pages)."""
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
        """Read a resource: its contents, text or blobs."""
        result = await self.request(
            "resources/read", {"uri": uri}, timeout=timeout, progress=progress, tag=tag, meta=meta
        )
        return ReadResourceResult.from_wire(result)

    async def list_prompts(self, *, timeout: float | None = _DEFAULT) -> list[Prompt]:
        """Every prompt (all pages)."""
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
        """A prompt's messages for these arguments (each sent as a string)."""
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
