"""The HTTP transport's one router, and `http_app()`: the application to mount anywhere.

`Router` sends the MCP path to the endpoint, the two RFC 9728 metadata paths
(``/.well-known/oauth-protected-resource`` and that plus the MCP path) to the metadata, and
the paths plugins register (``mcp_runner_http_routes``: ``/healthz``, ``/metrics``...) to their
applications; anything else is 404. With observers (``mcp_runner_http_observers``: the access
log, the metrics) each request is timed once and its record given to every observer.
`serve()` runs it as it is on uvicorn; `http_app()` wraps it in a Starlette application whose
lifespan enters the plugins' lifespans.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from ...auth.metadata import WELL_KNOWN_PATH
from ...hookspecs import HttpAccess
from ...log import announce, get_logger
from ...protocol.session import usable_correlation_id
from .endpoint import ACCESS_SCOPE_KEY, McpHttpApp
from .headers import ForwardedHeaders
from .responses import AsgiSend, HttpError, Receive, Scope, refuse

if TYPE_CHECKING:
    from ...runner import Runner


class Router:
    """The MCP endpoint at `path`, its protected resource metadata, the plugins' routes, 404
    elsewhere; each request observed when plugins observe."""

    def __init__(self, endpoint: McpHttpApp, path: str) -> None:
        self.endpoint = endpoint
        self.path = path
        self.metadata_paths = frozenset({WELL_KNOWN_PATH, WELL_KNOWN_PATH + path})
        runner = endpoint.runner
        self.routes = runner.host.http_routes(runner, self.metadata_paths | {path})
        self.observers = tuple(runner.host.http_observers(runner))
        trusted = endpoint.settings.forwarded_allow_ips
        self.forwarded = ForwardedHeaders(trusted) if trusted else None

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        if scope["type"] == "http":
            if self.forwarded is not None:  # what a trusted proxy received, client and Host
                scope = self.forwarded.apply(scope)
            if self.observers:
                await self.observed(scope, receive, send)
            else:
                await self.route(scope, receive, send)
        elif scope["type"] == "lifespan":  # served bare: the runner's lifespan is entered around
            await _acknowledge_lifespan(receive, send)

    async def route(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        """Answer one HTTP request from the application its path names."""
        path = route_path(scope)
        if path == self.path:
            await self.endpoint(scope, receive, send)
        elif path in self.metadata_paths or path == self.metadata_under(scope):
            await self.endpoint.metadata(scope, receive, send)
        elif path in self.routes:
            await self.routes[path](scope, receive, send)
        else:
            await refuse(send, HttpError(404, None, f"Not found: the MCP endpoint is {self.path}"))

    def metadata_under(self, scope: Scope) -> str | None:
        """The metadata path of the endpoint under the prefix it is mounted at, if any (where
        the public URL's metadata is: ``/.well-known/oauth-protected-resource/<prefix>/mcp``)."""
        root = scope.get("root_path")
        return f"{WELL_KNOWN_PATH}{root}{self.path}" if root else None

    async def observed(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        """`route`, timed: the status, bytes and session are read from what is sent, the
        correlation id goes back as ``X-Request-Id``, and every observer gets the record."""
        started = time.perf_counter()
        headers = dict(scope["headers"])
        correlation_id = correlation_of(headers)
        client = scope.get("client")
        session = headers.get(b"mcp-session-id")
        access = HttpAccess(
            scope["method"],
            scope["path"],
            client[0] if client else None,
            correlation_id,
            session.decode("latin-1") if session else None,
        )
        echoed = (b"x-request-id", correlation_id.encode("latin-1"))
        scope[ACCESS_SCOPE_KEY] = access  # the endpoint fills in the subject

        def observe(message: MutableMapping[str, Any]) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                access.status = message["status"]
                answered = message.get("headers") or []
                if access.session is None:
                    for name, value in answered:
                        if name == b"mcp-session-id":
                            access.session = value.decode("latin-1")
                message["headers"] = [*answered, echoed]
            else:
                access.bytes += len(message.get("body", b""))
            return send(message)

        try:
            await self.route(scope, receive, observe)
        finally:
            access.duration = time.perf_counter() - started
            for observer in self.observers:
                try:
                    observer(access)
                except Exception as exc:  # the response is sent: tell, and go on
                    told = f"HTTP observer {observer!r}: {exc!r}"
                    announce(f"mcp-runner: warning: {told}", told, level="warning")


def correlation_of(headers: dict[bytes, bytes]) -> str:
    """A request's correlation id: its ``X-Request-Id``, else its ``traceparent``'s trace id,
    else a new one."""
    given = headers.get(b"x-request-id")
    if given and usable_correlation_id(text := given.decode("latin-1")):
        return text
    parent = headers.get(b"traceparent")
    if parent is not None:
        fields = parent.split(b"-")
        if len(fields) == 4 and len(fields[1]) == 32 and fields[1] != b"0" * 32:
            trace_id = fields[1].decode("latin-1")
            if all(c in HEX_DIGITS for c in trace_id):
                return trace_id
    return f"{_prefix}{next(_issued):08x}"


HEX_DIGITS = frozenset("0123456789abcdef")
_prefix = os.urandom(4).hex()  # new ids: a random prefix per process, then a count
_issued = itertools.count(1)


def _new_prefix() -> None:
    global _prefix
    _prefix = os.urandom(4).hex()


os.register_at_fork(after_in_child=_new_prefix)


def route_path(scope: Scope) -> str:
    """The request path below the application's mount point (its ``root_path``)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def http_app(runner: Runner | None = None, *, path: str | None = None) -> Any:
    """A Starlette application serving `runner` (default: every discovered plugin) at `path`.

    Serve it with any ASGI server (``uvicorn --factory mcp_runner:http_app``) as ``serve``
    would: its lifespan applies the log settings and enters the plugins' lifespans, and the
    first SIGTERM or SIGINT ends open SSE streams at once and gives requests in flight
    ``server.shutdown_grace`` before they are cancelled. Mounted inside another Starlette or
    FastAPI application, hand it this application's lifespan
    (``FastAPI(lifespan=mcp.router.lifespan_context)``): Starlette does not run a mounted
    application's lifespan, and serving without it logs a warning that says so.
    ``app.state.mcp`` is the `McpHttpApp` endpoint.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from ... import log

    if runner is None:
        from ...runner import Runner

        runner = Runner()
    runner.start()
    server = runner.settings.server
    log.configure(server.log_level, server.log_format, runner.host.log_processors())
    endpoint = McpHttpApp(runner)
    served = Lifespanned(Router(endpoint, path or runner.settings.http.path), runner)
    running = runner

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with running.lifespan():
            with drain_on_signal(lambda: served.drain(endpoint)):
                running.ready("http")
                yield
        await endpoint.close()

    app = Starlette(routes=[Mount("", app=served)], lifespan=lifespan)
    app.state.mcp = endpoint
    return app


class Lifespanned:
    """The router as `http_app` serves it: a warning, once, when it serves while the plugins'
    lifespans are not entered (the application's lifespan enters them), and its requests
    known, so that a shutdown can cut the ones still running at the end of the grace."""

    def __init__(self, router: Router, runner: Runner) -> None:
        self.router = router
        self.runner = runner
        self.warned = False
        self.requests: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        if not self.runner.live and not self.warned:
            self.warned = True
            get_logger("mcp_runner.http").warning(NO_LIFESPAN)
        task = asyncio.current_task()
        assert task is not None
        self.requests.add(task)
        try:
            await self.router(scope, receive, send)
        finally:
            self.requests.discard(task)

    def drain(self, endpoint: McpHttpApp) -> None:
        """Shutting down: end open streams now, cancel what still runs after the grace."""
        runner = self.runner
        runner.draining = True
        endpoint.end_streams()
        asyncio.get_running_loop().call_later(runner.settings.server.shutdown_grace, self.cut)

    def cut(self) -> None:
        """The grace is over: requests still running are cancelled (and answered so)."""
        for task in list(self.requests):
            task.cancel()


#: The warning of an `http_app` serving before its lifespan ran.
NO_LIFESPAN = (
    "serving without the plugins' lifespans: the lifespan of the mcp-runner application has "
    "not run. Mounted inside another Starlette or FastAPI application, hand that application "
    "this one's lifespan: FastAPI(lifespan=mcp.router.lifespan_context)"
)


@contextlib.contextmanager
def drain_on_signal(drain: Callable[[], None]) -> Iterator[None]:
    """Call `drain` in the event loop on the first SIGTERM or SIGINT, then let the signal go to
    the handler the ASGI server installed (it stops serving). Without such a handler, or out
    of the main thread, nothing is installed: the server does not stop on signals anyway."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {
        sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    drained = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal drained
        if not drained:
            drained = True
            loop.call_soon_threadsafe(drain)
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)

    installed = []
    for sig, handler in previous.items():
        if callable(handler):
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(sig, on_signal)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            with contextlib.suppress(ValueError):
                signal.signal(sig, previous[sig])


async def _acknowledge_lifespan(receive: Receive, send: AsgiSend) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
