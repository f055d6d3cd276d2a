"""Sessions and requests: the per-connection and per-request state of the protocol engine."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from .errors import INVALID_PARAMS, REQUEST_TIMEOUT, McpError
from .inputs import CAPABILITY_OF, input_required, next_key
from .jsonrpc import notification

if TYPE_CHECKING:
    from .catalog import ServedComponent
    from .tasks import Job

Send = Callable[[dict[str, Any]], Awaitable[None]]

#: The MCP logging levels, least severe first.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
#: Each level's rank: a message is sent when its rank reaches the client's threshold.
LEVEL_RANK = {name: rank for rank, name in enumerate(LOG_LEVELS)}
# "info" until the client calls logging/setLevel; 2026-07-28 requests send nothing without
# an explicit logLevel in `_meta`.
DEFAULT_LOG_THRESHOLD = 1
NO_LOGS = 99
#: Seconds a server-to-client request waits for the client's answer (server.client_request_timeout).
CLIENT_REQUEST_TIMEOUT = 300.0


class Outlet(Protocol):
    """Where one request's own messages go before its answer (progress, logs, the server's
    requests to the client), as its transport delivers them.

    stdio and the in-process client send each message at once (`DirectOutlet`); HTTP answers
    with plain JSON until a message must stream, and may end a stream early (`close_stream`).
    """

    @property
    def headers(self) -> dict[str, str] | None:
        """The headers the request came with (HTTP; lower-case names), None without any."""

    def send(self, message: dict[str, Any]) -> Awaitable[None]:
        """Deliver a message related to the request."""

    async def close_stream(self) -> None:
        """End the request's stream now, if it has one; the client resumes it later."""


class DirectOutlet:
    """An outlet without a stream of its own: each message goes to `send` (stdio, in process)."""

    __slots__ = ("send",)
    headers = None

    def __init__(self, send: Send) -> None:
        self.send = send

    async def close_stream(self) -> None:
        """Nothing to close."""


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
        "host",
        "id",
        "in_flight",
        "initialized",
        "log_threshold",
        "outbound",
        "pending",
        "principal",
        "request_timeout",
        "subscriptions",
        "transport",
        "version",
    )

    def __init__(
        self,
        transport: str,
        outbound: Send | None = None,
        id: str | None = None,
        *,
        host: Any = None,
    ) -> None:
        self.transport = transport
        self.id = id
        self.host = host  # what serves the session (the Runner): `Context.runner` to plugins
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
        self.request_timeout = CLIENT_REQUEST_TIMEOUT  # the engine's, once connected
        self.closed = False
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"<Session {self.id or self.transport} {self.version}>"

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification not tied to a request, if this session has somewhere to send it."""
        if self.outbound is not None and not self.closed:
            await self.outbound(notification(method, params))

    async def request(self, method: str, params: dict[str, Any], send: Send) -> dict[str, Any]:
        """Send a server-to-client request on `send` and wait for the client's response, at most
        `request_timeout` seconds (then the client is told it is cancelled, and -32001 raised)."""
        request_id = self.new_request_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            await send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            async with asyncio.timeout(self.request_timeout):
                answer = await future
        except TimeoutError:
            reason = f"no answer within {self.request_timeout:g} s"
            with contextlib.suppress(Exception):  # the client may be gone: the error is what counts
                await send(
                    notification(
                        "notifications/cancelled", {"requestId": request_id, "reason": reason}
                    )
                )
            raise McpError(
                REQUEST_TIMEOUT,
                f"The client did not answer {method} in time ({reason}; server.client_request_timeout)",
            ) from None
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

    def new_request_id(self) -> Any:
        """The id of the next server-to-client request of this session."""
        return next(self._ids)

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
        """The connection is gone: cancel its requests and what they wait for."""
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
        "error",
        "failure",
        "handler",
        "id",
        "input_responses",
        "job",
        "log_threshold",
        "meta",
        "method",
        "modern",
        "outlet",
        "params",
        "plugin",
        "principal",
        "progress_token",
        "session",
        "state",
        "target",
        "task",
        "uri_values",
        "version",
    )

    def __init__(
        self,
        session: Session,
        id: Any,
        method: str,
        params: dict[str, Any],
        outlet: Outlet,
        version: str,
        modern: bool = False,
    ) -> None:
        self.session = session
        self.id = id
        self.method = method
        self.params = params
        self.outlet = outlet  # where the request's own messages go
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
        self.target: ServedComponent | None = None
        self.uri_values: dict[str, Any] | None = None  # what a resource template matched
        self.plugin: str | None = None
        self.principal: Any = session.principal
        self.cancelled_by_client = False
        self.input_responses: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.handler: Any = None
        self.task: asyncio.Task[Any] | None = None
        #: The task this tool call runs as (the tasks extension), None for a plain call.
        self.job: Job | None = None
        self.error: McpError | None = None  # the error answered, for the transport to map
        #: The exception the handler raised (an `McpError` or any other), None if it returned.
        self.failure: BaseException | None = None
        self._correlation_id: str | None = None

    def __repr__(self) -> str:
        return f"<Request {self.id!r} {self.method}>"

    @property
    def transport(self) -> str:
        """The session's transport name: "stdio", "http", "inprocess", ..."""
        return self.session.transport

    @property
    def session_id(self) -> str | None:
        """The legacy HTTP session's id (None elsewhere)."""
        return self.session.id

    @property
    def headers(self) -> dict[str, str] | None:
        """The HTTP request's headers (lower-case names), None on stdio and in process."""
        return self.outlet.headers

    @property
    def correlation_id(self) -> str:
        """The id that ties the client's error to the log lines holding the details: on HTTP
        the request's ``X-Request-Id`` (the access log's id, which is sent back), elsewhere a
        new short id."""
        if self._correlation_id is None:
            headers = self.outlet.headers
            given = headers.get("x-request-id") if headers else None
            self._correlation_id = (
                given if given and usable_correlation_id(given) else uuid.uuid4().hex[:16]
            )
        return self._correlation_id

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """A notification related to this request (sent on the request's own stream; dropped
        once the request became a task and was answered)."""
        job = self.job
        if job is not None and job.started:
            return
        await self.outlet.send(notification(method, params))

    async def ask(
        self, method: str, params: dict[str, Any], key: str | None = None
    ) -> dict[str, Any]:
        """A request to the client on behalf of this request (elicitation, sampling, roots):
        a server-to-client request on the legacy wire, an input-required round on 2026-07-28
        (`key` names it there); in a task, the task waits in ``input_required``."""
        job = self.job
        if job is not None and job.started:
            answers = await job.ask({key or next_key(self): (method, params)})
            answer: dict[str, Any] = next(iter(answers.values()))
            return answer
        if self.modern:
            return await input_required(self, {key or next_key(self): (method, params)}, one=True)
        self.require_capability(method)
        return await self.session.request(method, params, self.outlet.send)

    async def ask_all(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Several client requests by key (``{key: (method, params)}``): one input-required
        round on 2026-07-28 or in a task, one after the other on the legacy wire."""
        job = self.job
        if job is not None and job.started:
            return await job.ask(requests)
        if self.modern:
            return await input_required(self, requests)
        answers = {}
        for key, (method, params) in requests.items():
            self.require_capability(method)
            answers[key] = await self.session.request(method, params, self.outlet.send)
        return answers

    def require_capability(self, method: str) -> None:
        """Refuse (-32602) a server-to-client `method` the client did not declare it supports."""
        capability = CAPABILITY_OF[method]
        if capability not in self.client_capabilities:
            raise McpError(
                INVALID_PARAMS,
                f"This needs {method}, but the client did not declare the {capability!r} capability",
            )


def usable_correlation_id(given: str) -> bool:
    """Whether a client's ``X-Request-Id`` may stand for its request in logs and errors: short,
    printable ASCII."""
    return len(given) <= 128 and given.isascii() and given.isprintable()
