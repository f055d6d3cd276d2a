"""FastMCP 4.x peer: echo/add as ``async def`` tools, over stdio or Streamable HTTP.

Run with the peers interpreter:  python fastmcp_server.py [--transport http --port N]
HTTP serves /mcp on 127.0.0.1 with one uvicorn worker, no access log, no banner.
"""

from __future__ import annotations

import os
from functools import partial

os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")

import anyio
from _common import backend_options, generated_tools, server_args, uvicorn_http
from fastmcp import FastMCP

mcp = FastMCP("bench")


@mcp.tool
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def main() -> None:
    args = server_args(__doc__)
    for fn in generated_tools(args.tools):
        mcp.tool(fn)
    if args.transport == "stdio":
        run = partial(mcp.run_stdio_async, show_banner=False, log_level="WARNING")
    else:
        run = partial(
            mcp.run_http_async,
            transport="http",
            host="127.0.0.1",
            port=args.port,
            path="/mcp",
            show_banner=False,
            log_level="WARNING",
            json_response=not args.sse,
            uvicorn_config={"access_log": False, "http": uvicorn_http(args.stack)},
        )
    anyio.run(run, backend_options=backend_options(args.stack))


if __name__ == "__main__":
    main()
