"""What the engine needs of the components it serves and of the registry that holds them.

The protocol layer imports nothing above it: these protocols name the few members the engine
uses, and the host's `Registry` and component classes (`mcp_runner.components`) provide them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .session import Request


class ServedComponent(Protocol):
    """A tool, resource or prompt as a request names it (`Request.target`)."""

    @property
    def plugin(self) -> str:
        """The plugin that contributed it."""


class ServedTool(ServedComponent, Protocol):
    """A tool: called with the request's arguments."""

    @property
    def name(self) -> str:
        """The tool's name as clients see it."""

    @property
    def timeout(self) -> float | None:
        """Seconds the tool may run (None: the plugin's or the server's default)."""

    @property
    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of its arguments."""

    @property
    def task(self) -> str:
        """Whether a call may run as a task: ``never``, ``optional`` or ``required``."""

    @property
    def defer_task(self) -> bool:
        """Whether the call becomes a task only once it awaits ``ctx.begin_task()``."""

    async def call(self, arguments: dict[str, Any], request: Request) -> dict[str, Any]:
        """The `CallToolResult` for `arguments`."""


class ServedResource(ServedComponent, Protocol):
    """A resource or resource template: read by URI."""

    async def read(
        self, uri: str, arguments: dict[str, Any], request: Request
    ) -> list[dict[str, Any]]:
        """The contents at `uri` (`arguments`: what a template matched in it)."""


class ServedPrompt(ServedComponent, Protocol):
    """A prompt: rendered with the request's arguments."""

    @property
    def name(self) -> str:
        """The prompt's name as clients see it."""

    async def get(self, arguments: dict[str, Any], request: Request) -> dict[str, Any]:
        """The `GetPromptResult` for `arguments`."""


class ServedCompleter(Protocol):
    """Completes one argument of a prompt or resource template."""

    async def complete(self, value: str, arguments: dict[str, Any], request: Request) -> list[str]:
        """The completions of `value`, given the other `arguments` already filled in."""


class Catalog(Protocol):
    """The composed registry as the engine reads it."""

    @property
    def tools(self) -> Mapping[str, ServedTool]:
        """Tools by name."""

    @property
    def prompts(self) -> Mapping[str, ServedPrompt]:
        """Prompts by name."""

    def find_resource(self, uri: str) -> tuple[ServedResource, dict[str, Any]] | None:
        """The resource at `uri` and what a template matched in it, or None."""

    def completer(self, ref: str, argument: str) -> tuple[ServedCompleter | None, list[str] | None]:
        """The completer of a prompt's or template's argument, and the choices of its type."""

    def page(
        self, kind: str, cursor: Any, keep: Callable[[Any], bool] | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a listing (wire dicts) and the next cursor; `keep` filters components."""

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(kind)` when the tools, resources or prompts change."""
