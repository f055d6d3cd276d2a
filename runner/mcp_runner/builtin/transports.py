"""The builtin ``transports`` plugin: ``stdio`` and ``http``, each imported when served."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import RegisterTransport, hookimpl

if TYPE_CHECKING:
    from ..runner import Runner


async def _stdio(runner: Runner, options: dict[str, Any]) -> None:
    from ..transports import stdio

    await stdio.serve(runner, options)


async def _http(runner: Runner, options: dict[str, Any]) -> None:
    from ..transports import http

    await http.serve(runner, options)


@hookimpl
def mcp_runner_register_transports(register: RegisterTransport) -> None:
    """Offer ``stdio`` and ``http``."""
    register("stdio", _stdio)
    register("http", _http)
