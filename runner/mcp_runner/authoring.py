"""`Plugin`: the decorator API for writing a plugin.

Decorating records the function and its options only; schemas and validators are built when
the host composes the plugin, so importing a plugin stays cheap and free of side effects.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from pydantic import BaseModel

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .components import PromptOptions, ResourceOptions, ToolOptions
    from .config import ConfigSections
    from .registry import PluginRegistry

F = TypeVar("F", bound=Callable[..., Any])


class Plugin:
    """A named set of tools, resources and prompts, discovered through an entry point.

    ::

        plugin = Plugin("weather", description="Forecasts", settings=WeatherSettings)

        @plugin.tool
        async def forecast(city: str, days: int = 3) -> Forecast: ...
    """

    def __init__(
        self,
        name: str,
        *,
        description: str | None = None,
        version: str | None = None,
        settings: type[BaseModel] | None = None,
        instructions: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.version = version
        self.settings_model = settings
        self.instructions = instructions
        self._items: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []
        self._lifespans: list[Callable[..., Any]] = []

    def __repr__(self) -> str:
        return f"<Plugin {self.name!r}: {len(self._items)} items>"

    # -- decorators -----------------------------------------------------------------------------
    @overload
    def tool(self, fn: F, /) -> F: ...
    @overload
    def tool(self, /, **options: Unpack[ToolOptions]) -> Callable[[F], F]: ...
    def tool(self, fn: Any = None, /, **options: Any) -> Any:
        """Serve a function as a tool, bare (``@plugin.tool``) or with the `ToolOptions`
        (``@plugin.tool(name=..., timeout=...)``). Sync functions run in a worker thread.

        At composition this is ``registry.add_tool(fn, **options)``.
        """
        return self._record("tool", fn, options)

    def resource(self, uri: str, **options: Unpack[ResourceOptions]) -> Callable[[F], F]:
        """Serve a function as the resource at `uri`: a fixed URI, or an RFC 6570 URI template,
        with the `ResourceOptions`.

        At composition this is ``registry.add_resource(fn, uri, **options)``.
        """
        if not isinstance(uri, str):
            raise TypeError("@plugin.resource needs a URI: @plugin.resource('scheme://path')")
        decorate: Callable[[F], F] = self._record("resource", None, {"uri": uri, **options})
        return decorate

    @overload
    def prompt(self, fn: F, /) -> F: ...
    @overload
    def prompt(self, /, **options: Unpack[PromptOptions]) -> Callable[[F], F]: ...
    def prompt(self, fn: Any = None, /, **options: Any) -> Any:
        """Serve a function as a prompt, bare or with the `PromptOptions`; its parameters are
        the prompt's arguments.

        At composition this is ``registry.add_prompt(fn, **options)``.
        """
        return self._record("prompt", fn, options)

    def completion(self, ref: str, argument: str) -> Callable[[F], F]:
        """Complete `argument` of the prompt named (or resource template) `ref`.

        The function takes ``(value)`` or ``(value, context_arguments)`` and returns strings.
        """

        def decorate(fn: F) -> F:
            self._items.append(("completion", fn, {"ref": ref, "argument": argument}))
            return fn

        return decorate

    def lifespan(self, fn: F) -> F:
        """An async generator run around serving: set up before ``yield``, clean up after.

        It may take the plugin's settings as its one argument.
        """
        self._lifespans.append(fn)
        return fn

    def _record(self, kind: str, fn: Any, options: dict[str, Any]) -> Any:
        def decorate(f: F) -> F:
            self._items.append((kind, f, {k: v for k, v in options.items() if v is not None}))
            return f

        return decorate(fn) if fn is not None else decorate

    # -- hooks: a Plugin is a pluggy plugin like any other --------------------------------------
    @hookimpl
    def mcp_runner_add_config(self, config: ConfigSections) -> None:
        """Declare the plugin's settings model, if it has one, for its ``[plugins.<name>]``."""
        if self.settings_model is not None:
            config.plugin_section(self.settings_model)

    @hookimpl
    def mcp_runner_register(self, registry: PluginRegistry, settings: Any) -> None:
        """Add what the decorators recorded, each with the registry method of its decorator."""
        for kind, fn, options in self._items:
            if kind == "tool":
                registry.add_tool(fn, **options)
            elif kind == "resource":
                registry.add_resource(fn, **options)
            elif kind == "prompt":
                registry.add_prompt(fn, **options)
            else:
                registry.add_completion(options["ref"], options["argument"], fn)
        if self.instructions:
            registry.instructions = self.instructions

    @hookimpl
    def mcp_runner_lifespan(self, runner: Any, settings: Any) -> Any:
        """The ``@plugin.lifespan`` functions entered in order as one context manager."""
        if not self._lifespans:
            return None
        return _lifespans(self._lifespans, settings)


@contextlib.asynccontextmanager
async def _lifespans(fns: list[Callable[..., Any]], settings: Any) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for fn in fns:
            takes_settings = len(inspect.signature(fn).parameters) > 0
            manager = contextlib.asynccontextmanager(fn)(*([settings] if takes_settings else []))
            await stack.enter_async_context(manager)
        yield
