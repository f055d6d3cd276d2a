"""The HTTP transport's one router, and `http_app()`: the application to mount anywhere.

`Router` sends the MCP path to the endpoint and the two RFC 9728 metadata paths
(``/.well-known/oauth-protected-resource`` and that plus the MCP path) to the metadata;
anything else is 404. `serve()` runs it as it is on uvicorn; `http_app()` wraps it in a
Starlette application whose lifespan enters the plugins' lifespans.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ...auth.metadata import WELL_KNOWN_PATH
from .endpoint import McpHttpApp
from .responses import AsgiSend, HttpError, Receive, Scope, refuse

if TYPE_CHECKING:
    from ...runner import Runner


class Router:
    """The MCP endpoint at `path`, its protected resource metadata, 404 elsewhere."""

    def __init__(self, endpoint: McpHttpApp, path: str) -> None:
        self.endpoint = endpoint
        self.path = path
        self.metadata_paths = frozenset({WELL_KNOWN_PATH, WELL_KNOWN_PATH + path})

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        if scope["type"] == "http":
            path = route_path(scope)
            if path == self.path:
                await self.endpoint(scope, receive, send)
            elif path in self.metadata_paths:
                await self.endpoint.metadata(scope, receive, send)
            else:
                await refuse(
                    send, HttpError(404, None, f"Not found: the MCP endpoint is {self.path}")
                )
        elif scope["type"] == "lifespan":  # served bare: the runner's lifespan is entered around
            await _acknowledge_lifespan(receive, send)


def route_path(scope: Scope) -> str:
    """The request path below the application's mount point (its ``root_path``)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def http_app(runner: Runner | None = None, *, path: str | None = None) -> Any:
    """A Starlette application serving `runner` (default: every discovered plugin) at `path`.

    Mount it in another ASGI application, or serve it with any ASGI server: its lifespan
    enters the plugins' lifespans. ``app.state.mcp`` is the `McpHttpApp` endpoint.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount

    if runner is None:
        from ...runner import Runner

        runner = Runner()
    runner.start()
    endpoint = McpHttpApp(runner)
    served = runner

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with served.lifespan():
            served.ready("http")
            yield
        await endpoint.close()

    router = Router(endpoint, path or runner.settings.http.path)
    app = Starlette(routes=[Mount("", app=router)], lifespan=lifespan)
    app.state.mcp = endpoint
    return app


async def _acknowledge_lifespan(receive: Receive, send: AsgiSend) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
