"""Official MCP Python SDK 2.x peer (``mcp.server.MCPServer``): echo/add as ``async def`` tools.

Run with the peers interpreter:  python sdk_server.py [--transport http --port N]
HTTP serves /mcp on 127.0.0.1 with one uvicorn worker, no access log.
"""

from __future__ import annotations

import anyio
import uvicorn
from _common import backend_options, generated_tools, server_args, uvicorn_http
from mcp.server import MCPServer

mcp = MCPServer("bench", log_level="WARNING")


@mcp.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def main() -> None:
    args = server_args(__doc__)
    for fn in generated_tools(args.tools):
        mcp.tool()(fn)
    if args.transport == "stdio":
        anyio.run(mcp.run_stdio_async, backend_options=backend_options(args.stack))
        return
    # Same as MCPServer.run_streamable_http_async, with the uvicorn knobs every server here shares.
    app = mcp.streamable_http_app(json_response=not args.sse, host="127.0.0.1")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        http=uvicorn_http(args.stack),
    )
    anyio.run(uvicorn.Server(config).serve, backend_options=backend_options(args.stack))


if __name__ == "__main__":
    main()
