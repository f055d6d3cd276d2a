"""Sessions and requests: the per-connection and per-request state of the protocol engine."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .errors import INVALID_PARAMS, McpError
from .jsonrpc import error, invalid_request, notification

if TYPE_CHECKING:
    from ..components import Prompt, Resource, Tool
    from .engine import Engine

Send = Callable[[dict[str, Any]], Awaitable[None]]

SERVER_BUSY = -32000  # implementation-defined: too many requests in flight (or sessions open)

# "info" until the client calls logging/setLevel; 2026-07-28 requests send nothing without
# an explicit logLevel in `_meta`.
DEFAULT_LOG_THRESHOLD = 1
NO_LOGS = 99


class Session:
    """A client connection: one per stdio process, one per legacy HTTP session.

    A 2026-07-28 request gets a throwaway session: that era keeps no state between requests.
    """

    __slots__ = (
        "__weakref__",
        "_ids",
        "client_capabilities",
        "client_info",
        "closed",
        "id",
        "in_flight",
        "initialized",
        "last_active",
        "log_threshold",
        "outbound",
        "pending",
        "principal",
        "server",
        "subscriptions",
        "transport",
        "version",
    )

    def __init__(
        self, server: Engine, transport: str, outbound: Send | None = None, id: str | None = None
    ) -> None:
        self.server = server
        self.transport = transport
        self.id = id
        self.outbound = outbound  # where messages not tied to a request go (list_changed, ...)
        self.version: str | None = None
        self.initialized = False
        self.client_info: dict[str, Any] = {}
        self.client_capabilities: dict[str, Any] = {}
        self.log_threshold = DEFAULT_LOG_THRESHOLD
        self.in_flight: dict[Any, Request] = {}
        self.pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.subscriptions: set[str] = set()
        self.principal: Any = None  # who opened the session (HTTP auth)
        self.closed = False
        self.last_active = 0.0
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"<Session {self.id or self.transport} {self.version}>"

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification not tied to a request, if this session has somewhere to send it."""
        if self.outbound is not None and not self.closed:
            await self.outbound(notification(method, params))

    async def request(self, method: str, params: dict[str, Any], send: Send) -> dict[str, Any]:
        """Send a server-to-client request on `send` and wait for the client's response."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            await send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            answer = await future
        finally:
            self.pending.pop(request_id, None)
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            raise McpError(
                int(err.get("code", -32603)),
                f"The client answered {method} with an error: {err.get('message', '')}",
                err.get("data"),
            )
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    def admit(self, request: Request, limit: int) -> dict[str, Any] | None:
        """Register `request` as in flight, or the error that refuses it: its id is already in
        flight, or `limit` requests are (answered at once, never queued)."""
        if request.id in self.in_flight:
            return invalid_request(request.id, f"request id {request.id!r} is already in flight")
        if len(self.in_flight) >= limit:
            return error(
                request.id, SERVER_BUSY, f"Server busy: {limit} requests already in flight"
            )
        self.in_flight[request.id] = request
        return None

    def resolve(self, message: dict[str, Any]) -> bool:
        """Hand a client's response to the request waiting for it."""
        msg_id = message.get("id")
        if not isinstance(msg_id, str | int):
            return False
        future = self.pending.get(msg_id)
        if future is None or future.done():
            return False
        future.set_result(message)
        return True

    def close(self) -> None:
        self.closed = True
        for request in list(self.in_flight.values()):
            if request.task is not None:
                request.task.cancel()
        for future in self.pending.values():
            if not future.done():
                future.cancel()


class Request:
    """One JSON-RPC request, as middleware and handlers see it."""

    __slots__ = (
        "_correlation_id",
        "cancelled_by_client",
        "client_capabilities",
        "close_stream",
        "handler",
        "headers",
        "id",
        "input_responses",
        "log_threshold",
        "meta",
        "method",
        "modern",
        "params",
        "plugin",
        "principal",
        "progress_token",
        "request_state",
        "response_headers",
        "send",
        "session",
        "state",
        "status",
        "target",
        "task",
        "uri_values",
        "version",
        "watcher",
    )

    def __init__(
        self,
        session: Session,
        id: Any,
        method: str,
        params: dict[str, Any],
        send: Send,
        version: str,
        modern: bool = False,
    ) -> None:
        self.session = session
        self.id = id
        self.method = method
        self.params = params
        self.send = send
        self.version = version
        self.modern = modern
        meta = params.get("_meta")
        self.meta: dict[str, Any] = meta if isinstance(meta, dict) else {}
        token = self.meta.get("progressToken")
        # string or integer (spec); anything else is ignored rather than echoed
        self.progress_token = (
            token if isinstance(token, str | int) and not isinstance(token, bool) else None
        )
        self.log_threshold = session.log_threshold
        self.client_capabilities = session.client_capabilities
        # The component the request names (tools/call, prompts/get, resources/read), if found.
        self.target: Tool | Resource | Prompt | None = None
        self.uri_values: dict[str, Any] | None = None  # what a resource template matched
        self.plugin: str | None = None
        self.principal: Any = session.principal
        self.cancelled_by_client = False
        self.input_responses: dict[str, Any] | None = None
        self.request_state: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.status = 200  # HTTP status for errors the 2026-07-28 wire maps to one
        self.handler: Any = None
        self.headers: dict[str, str] | None = None  # the HTTP request's headers (None on stdio)
        self.response_headers: dict[str, str] | None = None  # extra HTTP headers for the answer
        self.task: asyncio.Task[Any] | None = None
        self.watcher: asyncio.Task[Any] | None = None  # HTTP: watches for the client hanging up
        self.close_stream: Callable[[], Awaitable[None]] | None = None
        self._correlation_id: str | None = None

    def __repr__(self) -> str:
        return f"<Request {self.id!r} {self.method}>"

    @property
    def transport(self) -> str:
        return self.session.transport

    @property
    def session_id(self) -> str | None:
        return self.session.id

    @property
    def correlation_id(self) -> str:
        """A short id that ties the client's error to the log line holding the details."""
        if self._correlation_id is None:
            self._correlation_id = uuid.uuid4().hex[:16]
        return self._correlation_id

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """A notification related to this request (sent on the request's own stream)."""
        await self.send(notification(method, params))

    async def ask(
        self, method: str, params: dict[str, Any], key: str | None, capability: str
    ) -> dict[str, Any]:
        """A request to the client on behalf of this request (elicitation, sampling, roots)."""
        if self.modern:
            return await self.session.server.input_required(
                self, {key or _auto_key(self): (method, params)}, one=True
            )
        self.require_capability(capability, method)
        return await self.session.request(method, params, self.send)

    async def ask_all(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        if self.modern:
            return await self.session.server.input_required(self, requests)
        answers = {}
        for key, (method, params) in requests.items():
            self.require_capability(_CAPABILITY[method], method)
            answers[key] = await self.session.request(method, params, self.send)
        return answers

    def require_capability(self, capability: str, method: str) -> None:
        if capability not in self.client_capabilities:
            raise McpError(
                INVALID_PARAMS,
                f"This needs {method}, but the client did not declare the {capability!r} capability",
            )


_CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}


def _auto_key(request: Request) -> str:
    state = request.state if request.state is not None else {}
    count = state.get("_asked", 0)
    state["_asked"] = count + 1
    request.state = state
    return f"input_{count}"
