"""mcp-runner: serve installed plugins as one Model Context Protocol server.

The public API for plugin authors::

    from mcp_runner import Context, Plugin

    plugin = Plugin("weather", description="Forecasts")

    @plugin.tool
    async def forecast(city: str, ctx: Context, days: int = 3) -> Forecast: ...

- writing a plugin: `Plugin` (the decorators), `Context` (what a function may ask of its
  request), `hookimpl` (marks a hook implementation), `Middleware` (one link of the request
  chain);
- what a function returns: `Image`, `Audio`, `EmbeddedResource`, `ResourceLink`, `Message`,
  `ToolResult`; what it raises: `ToolError` (an ``isError`` result), `McpError` (a JSON-RPC
  error);
- running plugins: `Runner` (compose and serve, or call in process), `http_app` (the
  Streamable HTTP app, mountable in any ASGI host);
- calling out: `outgoing_http_client` (an ``httpx.AsyncClient`` whose requests carry the
  current trace context).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
    "Audio",
    "Context",
    "EmbeddedResource",
    "Image",
    "McpError",
    "Message",
    "Middleware",
    "Plugin",
    "ResourceLink",
    "Runner",
    "ToolError",
    "ToolResult",
    "__version__",
    "hookimpl",
    "http_app",
    "outgoing_http_client",
]

# Names are imported on first use, so `import mcp_runner` stays cheap.
_EXPORTS = {
    "Audio": "types",
    "Context": "context",
    "EmbeddedResource": "types",
    "Image": "types",
    "McpError": "protocol.errors",
    "Message": "types",
    "Middleware": "middleware",
    "Plugin": "authoring",
    "ResourceLink": "types",
    "Runner": "runner",
    "ToolError": "types",
    "ToolResult": "types",
    "hookimpl": "hookspecs",
    "http_app": "transports.http",
    "outgoing_http_client": "client.outgoing",
}

if TYPE_CHECKING:
    from .authoring import Plugin
    from .client.outgoing import outgoing_http_client
    from .context import Context
    from .hookspecs import hookimpl
    from .middleware import Middleware
    from .protocol.errors import McpError
    from .runner import Runner
    from .transports.http import http_app
    from .types import Audio, EmbeddedResource, Image, Message, ResourceLink, ToolError, ToolResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_runner' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
