"""openapi: HTTP APIs served as MCP tools and resources, from an OpenAPI description or an
ASGI app (FastAPI, Starlette) called in process.

Configured, one table per API::

    [openapi.apis.weather]
    spec = "https://api.example.com/openapi.json"
    headers = { "X-Api-Key" = "${WEATHER_KEY}" }

Or with no configuration: a distribution whose ``mcp_runner`` entry point names an ASGI app
(``myapi = "myservice.main:app"``) is served through the bridge, as its own plugin named
after the entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_runner import hookimpl

from .config import ApiConfig, ApiOptions, OpenApiSettings, RouteMap

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from mcp_runner import Runner
    from mcp_runner.config import ConfigSections
    from mcp_runner.registry import PluginRegistry

    from .bridge import Bridge

__all__ = [
    "ApiConfig",
    "ApiOptions",
    "AppPlugin",
    "OpenApiPlugin",
    "OpenApiSettings",
    "RouteMap",
    "plugin",
]

SECTION = "openapi"


class OpenApiPlugin:
    """The ``openapi`` plugin: serves the APIs of the ``[openapi.apis.*]`` tables, and adapts
    an ASGI app that an entry point publishes into an `AppPlugin`."""

    name = "openapi"
    description = "HTTP APIs (OpenAPI descriptions, ASGI apps in process) as tools and resources"

    def __init__(self) -> None:
        self._section: OpenApiSettings | None = None

    @hookimpl
    def mcp_runner_adapt_plugin(self, name: str, obj: object) -> AppPlugin | None:
        """An ASGI app that an entry point names becomes an `AppPlugin` called `name`."""
        from .asgi import is_asgi_app

        return AppPlugin(name, obj) if is_asgi_app(obj) else None

    @hookimpl
    def mcp_runner_add_config(self, config: ConfigSections) -> None:
        """Validate the ``[openapi]`` table, when there is one."""
        self._section = None
        if config.has_section(SECTION):
            config.add_section(SECTION, OpenApiSettings)
            self._section = config.settings.section(SECTION)

    @hookimpl
    def mcp_runner_register(self, registry: PluginRegistry) -> None:
        """Read each API's description and stage a component per selected operation; an API
        that cannot be read fails the plugin, naming the API."""
        from .bridge import from_config

        section, self._section = self._section, None  # handed over by mcp_runner_add_config
        if section is None:
            return
        for name, config in section.apis.items():
            try:
                bridge = from_config(name, config)
            except Exception as exc:
                raise RuntimeError(f"[openapi.apis.{name}]: {exc}") from exc
            _report(bridge)
            bridge.stage(registry)

    @hookimpl
    def mcp_runner_lifespan(self, runner: Runner) -> AbstractAsyncContextManager[None] | None:
        """Around serving: the apps' lifespans, and the pooled clients closed at the end."""
        return _serving(runner, self.name)

    @hookimpl
    def mcp_runner_status(self, runner: Runner) -> list[dict[str, Any]] | None:
        """One entry per API for ``mcp-runner plugins``."""
        return _status(runner, self.name)


class AppPlugin:
    """An ASGI app published by an entry point, served through the bridge as a plugin of its
    own; its ``[plugins.<name>]`` table takes the `ApiOptions`."""

    def __init__(self, name: str, app: Any) -> None:
        self.name = name
        self.app = app
        self.description = f"{type(app).__name__} app served through the openapi bridge"

    def __repr__(self) -> str:
        return f"<AppPlugin {self.name!r}: {self.app!r}>"

    @hookimpl
    def mcp_runner_add_config(self, config: ConfigSections) -> None:
        """Validate ``[plugins.<name>]`` with `ApiOptions`."""
        config.plugin_section(ApiOptions)

    @hookimpl
    def mcp_runner_register(self, registry: PluginRegistry, settings: ApiOptions) -> None:
        """Stage a component per selected operation of the app."""
        from .bridge import from_app

        bridge = from_app(self.name, self.app, settings)
        _report(bridge)
        bridge.stage(registry)

    @hookimpl
    def mcp_runner_lifespan(self, runner: Runner) -> AbstractAsyncContextManager[None] | None:
        """The app's lifespan around serving; the pooled client closed at the end."""
        return _serving(runner, self.name)

    @hookimpl
    def mcp_runner_status(self, runner: Runner) -> list[dict[str, Any]] | None:
        """The app's entry for ``mcp-runner plugins``."""
        return _status(runner, self.name)


def _served(runner: Runner) -> list[Any]:
    registry = runner.registry
    return [*registry.tools.values(), *registry.resources.values(), *registry.templates.values()]


def _serving(runner: Runner, plugin: str) -> AbstractAsyncContextManager[None] | None:
    from .bridge import apis_of, serving

    apis = apis_of(_served(runner), plugin)
    return serving(apis) if apis else None


def _status(runner: Runner, plugin: str) -> list[dict[str, Any]] | None:
    from .bridge import apis_of

    entries = [api.status for api in apis_of(_served(runner), plugin) if api.status]
    return entries or None


def _report(bridge: Bridge) -> None:
    """Log what the mapping renamed or left out, and warn above the tool budget."""
    from mcp_runner.log import get_logger

    bridge.api.status = bridge.status()
    logger = get_logger("mcp_runner.openapi")
    for warning in bridge.warnings:
        logger.warning(warning, api=bridge.api.name)
    for note in bridge.notes:
        logger.info(note, api=bridge.api.name)


plugin = OpenApiPlugin()
