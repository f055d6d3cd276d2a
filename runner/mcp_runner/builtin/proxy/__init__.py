"""The proxy builtin: other MCP servers, mounted beside the installed plugins.

::

    [proxy.servers.everything]            # stdio: command, args, env, cwd
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-everything"]

    [proxy.servers.weather]               # Streamable HTTP: url, headers
    url = "https://example.com/mcp"
    headers = { Authorization = "Bearer ..." }

or ``[proxy] config_file = "servers.json"`` holding ``{"mcpServers": {...}}`` (the format of
Claude Desktop and Cursor). Each server (a *backend*) is one long-lived client session. Its
tools and prompts appear as ``<backend>_<name>``, its resources and templates under their own
URIs, as the plugin ``proxy.<backend>`` (so collisions follow the usual rules). A backend that
crashes or drops is restarted with exponential backoff, and one that stops answering pings is
``unresponsive``; meanwhile its tools answer at once with an error naming the backend and its
state. Progress, log messages, cancellation, elicitation and sampling pass through, in both
protocol eras on either side. Nothing of the callers' identity reaches a backend unless its
settings say so (``bearer_token``, ``oauth``, ``forward_token``).

This module holds the hook implementations. The rest is imported only as it is needed: `config`
(the settings) when a config has a ``[proxy]`` table, and once the runner's lifespan begins,
`manager` (a runner's backends), `backend` (one server's client session), `call` (one
forwarded request) and `components` (what the backends serve, as our components), which bring
in the client library.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ...hookspecs import hookimpl
from ...middleware import Middleware

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ...config import ConfigSections, Settings
    from ...hookspecs import HealthCheck
    from ...protocol.session import Request
    from ...runner import Runner
    from .config import ProxySettings
    from .manager import ProxyManager

# The manager of each runner's latest lifespan.
_managers: weakref.WeakKeyDictionary[Runner, ProxyManager] = weakref.WeakKeyDictionary()


def manager_of(runner: Runner) -> ProxyManager | None:
    """The proxy's manager of `runner`'s backends (None before the runner's lifespan)."""
    return _managers.get(runner)


def _section(settings: Settings) -> ProxySettings | None:
    """The validated ``[proxy]`` table (None when the config has none)."""
    found = settings.section("proxy")
    if found is None:
        return None
    from .config import ProxySettings

    return found if isinstance(found, ProxySettings) else None


@hookimpl
def mcp_runner_add_config(config: ConfigSections) -> None:
    """Validate the ``[proxy]`` table, when there is one, and add its ``config_file``'s servers."""
    if not config.has_section("proxy"):
        return  # no [proxy] table: nothing to mount
    from .config import ProxySettings

    config.add_section("proxy", ProxySettings)
    section = _section(config.settings)
    if section is not None:
        section.load(config.settings.source)


@hookimpl
def mcp_runner_middleware(settings: Settings, runner: Runner) -> Middleware | None:
    """With lazy backends: start them on the first request (before it is routed)."""
    section = _section(settings)
    if section is None or not any(
        section.is_lazy(s) and s.active for s in section.servers.values()
    ):
        return None

    async def start_lazy_backends(
        request: Request, call_next: Callable[[Request], Awaitable[Any]]
    ) -> Any:
        manager = _managers.get(runner)
        if manager is not None and manager.lazy_waiting:
            await manager.wake(request)
        return await call_next(request)

    return Middleware(start_lazy_backends, band="plugin", order=-1000, name="proxy")


@hookimpl
def mcp_runner_lifespan(runner: Runner) -> AbstractAsyncContextManager[None] | None:
    """Start the backends with the runner, stop them with it."""
    section = _section(runner.settings)
    if section is None or not section.servers:
        return None
    from .manager import ProxyManager

    manager = _managers[runner] = ProxyManager(runner, section)
    return manager.lifespan()


@hookimpl
def mcp_runner_status(runner: Runner) -> list[dict[str, Any]] | None:
    """One entry per backend for ``mcp-runner plugins``: its state and why (before the
    runner's lifespan: as configured)."""
    section = _section(runner.settings)
    if section is None or not section.servers:
        return None
    manager = _managers.get(runner)
    if manager is not None:
        return [b.status() for b in manager.backends.values()]
    return [
        {
            "name": name,
            "state": server.initial_state,
            "summary": server.initial_state,
            **section.describe_server(name),
        }
        for name, server in section.servers.items()
    ]


SERVING_STATES = frozenset({"ready", "configured", "disabled"})
"""Backend states that count as up for ``/readyz`` (``configured``: lazy, not started yet)."""


@hookimpl
def mcp_runner_health_checks(runner: Runner) -> dict[str, HealthCheck] | None:
    """``proxy``: ``ok`` when every backend is up, else ``degraded``, with each one's state."""
    section = _section(runner.settings)
    if section is None or not section.servers:
        return None

    async def backends() -> dict[str, Any]:
        manager = _managers.get(runner)
        if manager is None:
            return {"state": "failing", "error": "the backends have not started"}
        states = {name: b.state for name, b in manager.backends.items()}
        down = sorted(name for name, state in states.items() if state not in SERVING_STATES)
        restarts = {name: b.restarts for name, b in manager.backends.items()}
        return {
            "state": "degraded" if down else "ok",
            "backends": states,
            "down": down,
            "restarts": restarts,
        }

    return {"proxy": backends}
