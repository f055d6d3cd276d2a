"""Pieces shared by the peer and bare benchmark servers.

The generated tools here have the same names, signatures and docstrings as the
generated mcp-runner plugins (benchmarks/gen_plugins.py imports this module), so
every server answers tools/list with the same catalogue.
"""

from __future__ import annotations

import argparse


def generated_tool_names(prefix: str, plugins: int, per_plugin: int) -> list[str]:
    """Names of the generated tools: ``<prefix><k:02d>_t<i:03d>``, plugin by plugin."""
    return [f"{prefix}{k:02d}_t{i:03d}" for k in range(plugins) for i in range(per_plugin)]


def generated_tool_source(name: str) -> str:
    """Source of one generated tool (an ``async def``; the same text in every server)."""
    return (
        f"async def {name}(text: str, count: int = 1) -> str:\n"
        f'    """Generated benchmark tool {name}: returns its text argument."""\n'
        f"    return text\n"
    )


def generated_tools(spec: str | None) -> list:
    """Functions for a ``--tools PREFIX:PLUGINSxPER_PLUGIN`` spec, e.g. ``g:10x100``."""
    if not spec:
        return []
    prefix, _, shape = spec.partition(":")
    plugins, _, per_plugin = shape.partition("x")
    names = generated_tool_names(prefix, int(plugins), int(per_plugin))
    namespace: dict = {}
    exec("\n".join(generated_tool_source(n) for n in names), namespace)
    return [namespace[n] for n in names]


def server_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--tools",
        default=None,
        help="extra generated tools, PREFIX:PLUGINSxPER_PLUGIN (e.g. g:10x100 = 1,000 tools)",
    )
    parser.add_argument(
        "--stack",
        choices=["default", "fast"],
        default="default",
        help="default: asyncio + h11; fast: uvloop + httptools (both must be installed)",
    )
    parser.add_argument(
        "--sse",
        action="store_true",
        help="HTTP: keep the framework's default of answering POSTs as SSE streams "
        "(without it, peers are set to plain JSON responses, their fastest mode)",
    )
    parser.add_argument(
        "--impl",
        choices=["asgi", "asyncio"],
        default="asgi",
        help="bare HTTP only: ASGI app on uvicorn (the baseline) or a raw asyncio server",
    )
    return parser.parse_args()


def backend_options(stack: str) -> dict:
    """anyio.run backend options for the chosen stack."""
    return {"use_uvloop": True} if stack == "fast" else {}


def uvicorn_http(stack: str) -> str:
    return "httptools" if stack == "fast" else "h11"
