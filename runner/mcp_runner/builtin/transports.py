"""The builtin transports: ``stdio`` and ``http``."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


async def _stdio(runner: Any, options: dict[str, Any]) -> None:
    from ..transports import stdio

    await stdio.serve(runner, options)


async def _http(runner: Any, options: dict[str, Any]) -> None:
    from ..transports import http

    await http.serve(runner, options)


@hookimpl
def mcp_runner_register_transports(register: Any) -> None:
    register("stdio", _stdio)
    register("http", _http)
