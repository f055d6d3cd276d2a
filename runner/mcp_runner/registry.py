"""The composed registry: one namespace of tools, resources and prompts across all plugins.

Plugins add to a staging `PluginRegistry`; the host merges it whole or not at all, so a
plugin is never half-registered. Names are deterministic; a collision is never silent.

Adding a component has one contract everywhere: a function plus the options of its decorator
(`PluginRegistry.add_tool` at composition, `Runner.add_tool` at run time, and ``@plugin.tool``
records the same call). A component built elsewhere (a bridge's own `Tool` subclass) is
*installed*: `PluginRegistry.install` stages it, `Registry.install` serves it at once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Unpack

from .components import (
    TOOL_NAME,
    Completer,
    Component,
    Prompt,
    PromptOptions,
    Resource,
    ResourceOptions,
    ResourceTemplate,
    Tool,
    ToolOptions,
    choices_of,
    make_resource,
)
from .protocol.errors import invalid_params

C = TypeVar("C", bound=Component)
Kind = Literal["tools", "resources", "prompts"]


class CompositionError(Exception):
    """A plugin's contributions cannot join the composition (the message names the fix)."""


@dataclass
class PluginRegistry:
    """What ``mcp_runner_register`` fills: one plugin's tools, resources and prompts, staged
    until the host merges them whole into the composed `Registry`.

    Each ``add_*`` method takes a function and the options of the matching decorator, builds
    the component (raising `DefinitionError` for one that cannot be served), owns it to this
    plugin and returns it.
    """

    plugin: str
    settings: Any = None
    tools: list[Tool] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    completions: dict[tuple[str, str], Completer] = field(default_factory=dict)
    instructions: str | None = None

    def add_tool(self, fn: Callable[..., Any], **options: Unpack[ToolOptions]) -> Tool:
        """Serve `fn` as a tool, with the options of ``@plugin.tool``."""
        return self.install(Tool.from_function(fn, **options))

    def add_resource(
        self, fn: Callable[..., Any], uri: str, **options: Unpack[ResourceOptions]
    ) -> Resource:
        """Serve `fn` as the resource at `uri` (a fixed URI or an RFC 6570 template), with the
        options of ``@plugin.resource``."""
        return self.install(make_resource(fn, uri, **options))

    def add_prompt(self, fn: Callable[..., Any], **options: Unpack[PromptOptions]) -> Prompt:
        """Serve `fn` as a prompt, with the options of ``@plugin.prompt``."""
        return self.install(Prompt.from_function(fn, **options))

    def add_completion(self, ref: str, argument: str, fn: Callable[..., Any]) -> Completer:
        """Complete `argument` of the prompt named `ref`, or of the resource template `ref`."""
        completer = self._own(Completer.from_function(fn))
        self.completions[(ref, argument)] = completer
        return completer

    def install(self, component: C) -> C:
        """Stage a component built elsewhere (a `Tool`, `Resource`, `ResourceTemplate` or
        `Prompt`, or a subclass of one), owned by this plugin."""
        if isinstance(component, Tool):
            self.tools.append(self._own(component))
        elif isinstance(component, Resource):
            self.resources.append(self._own(component))
        elif isinstance(component, Prompt):
            self.prompts.append(self._own(component))
        else:
            raise TypeError(f"cannot install {component!r}: not a tool, resource or prompt")
        return component

    def _own(self, component: C) -> C:
        component.plugin = self.plugin
        component.settings = self.settings
        return component


Listener = Callable[[Kind], None]


class Registry:
    """All served components, by name or URI, with cached list pages."""

    def __init__(self, page_size: int = 500, on_conflict: str = "error") -> None:
        self.page_size = page_size
        self.on_conflict = on_conflict
        self.tools: dict[str, Tool] = {}
        self.resources: dict[str, Resource] = {}
        self.templates: dict[str, ResourceTemplate] = {}
        self.prompts: dict[str, Prompt] = {}
        self.completions: dict[tuple[str, str], Completer] = {}
        self.instructions: list[str] = []
        self._listeners: list[Listener] = []
        self._pages: dict[str, tuple[list[Component], list[dict[str, Any]]]] = {}

    # -- composition ---------------------------------------------------------------------------
    def merge(self, staged: PluginRegistry, namespace: str | None = None) -> None:
        """Add one plugin's contributions, all of them or (on a collision) none."""
        plugin = staged.plugin
        tools: dict[str, Tool] = {self._name(t.name, namespace): t for t in staged.tools}
        prompts: dict[str, Prompt] = {self._name(p.name, namespace): p for p in staged.prompts}
        fixed = {r.uri: r for r in staged.resources if not isinstance(r, ResourceTemplate)}
        templates = {r.uri: r for r in staged.resources if isinstance(r, ResourceTemplate)}
        problems: list[str] = []
        tables: tuple[tuple[str, dict[str, Any], dict[str, Any]], ...] = (
            ("tool", tools, self.tools),
            ("prompt", prompts, self.prompts),
        )
        for kind, mine, theirs in tables:
            for name in list(mine):
                other = theirs.get(name)
                if other is None:
                    continue
                if self.on_conflict == "prefix" and (renamed := f"{plugin}_{name}") not in theirs:
                    mine[renamed] = mine.pop(name)
                    continue
                problems.append(_collision(kind, name, plugin, other.plugin))
        for kind, mine_r, theirs_r in (
            ("resource", fixed, self.resources),
            ("resource template", templates, self.templates),
        ):
            for uri in mine_r:
                if uri in theirs_r:
                    problems.append(_collision(kind, uri, plugin, theirs_r[uri].plugin))
        for name in tools:
            if not TOOL_NAME.match(name):
                problems.append(f"tool name {name!r} is not 1-64 characters of A-Z a-z 0-9 _ . -")
        if problems:
            raise CompositionError("; ".join(problems))
        new_names = {p.name: new for new, p in prompts.items()}
        for name, tool in tools.items():
            tool.name = name
        for name, prompt in prompts.items():
            prompt.name = name
        self.tools.update(tools)
        self.prompts.update(prompts)
        self.resources.update(fixed)
        self.templates.update(templates)
        for (ref, argument), completer in staged.completions.items():
            self.completions[(new_names.get(ref, ref), argument)] = completer
        if staged.instructions:
            self.instructions.append(staged.instructions)
        self._changed("tools", "resources", "prompts")

    @staticmethod
    def _name(name: str, namespace: str | None) -> str:
        return f"{namespace}_{name}" if namespace else name

    def remove_plugin(self, plugin: str) -> None:
        """Stop serving everything `plugin` contributed (clients are told the lists changed)."""
        for table in (self.tools, self.prompts, self.resources, self.templates):
            for key in [k for k, c in table.items() if c.plugin == plugin]:
                del table[key]
        for ref in [k for k, c in self.completions.items() if c.plugin == plugin]:
            del self.completions[ref]
        self._changed("tools", "resources", "prompts")

    # -- run-time changes ----------------------------------------------------------------------
    def install(self, component: Tool | Resource | Prompt) -> None:
        """Serve one built component now, under its own name or URI (no namespace is applied);
        clients are told the list changed. Raises `CompositionError` when the name is taken."""
        if isinstance(component, Tool):
            _claim(self.tools, "tool", component.name, component.plugin)
            self.tools[component.name] = component
            self._changed("tools")
        elif isinstance(component, Prompt):
            _claim(self.prompts, "prompt", component.name, component.plugin)
            self.prompts[component.name] = component
            self._changed("prompts")
        else:
            table: dict[str, Any] = (
                self.templates if isinstance(component, ResourceTemplate) else self.resources
            )
            _claim(table, "resource", component.uri, component.plugin)
            table[component.uri] = component
            self._changed("resources")

    def remove_tool(self, name: str) -> None:
        """Stop serving the tool `name` (clients are told the list changed)."""
        if self.tools.pop(name, None) is not None:
            self._changed("tools")

    def remove_prompt(self, name: str) -> None:
        """Stop serving the prompt `name` (clients are told the list changed)."""
        if self.prompts.pop(name, None) is not None:
            self._changed("prompts")

    def remove_resource(self, uri: str) -> None:
        """Stop serving the resource or resource template `uri` (clients are told)."""
        if self.resources.pop(uri, None) is not None or self.templates.pop(uri, None) is not None:
            self._changed("resources")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(kind)` whenever tools, resources or prompts change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self, *kinds: Kind) -> None:
        for kind in kinds:
            self._pages.pop(kind, None)
            if kind == "resources":
                self._pages.pop("templates", None)
            for listener in list(self._listeners):
                listener(kind)

    # -- lookups --------------------------------------------------------------------------------
    def find_resource(self, uri: str) -> tuple[Resource, dict[str, Any]] | None:
        """The resource serving `uri` and its template variables: fixed URIs first, then the
        templates in the order they were added; None when nothing serves it."""
        resource = self.resources.get(uri)
        if resource is not None:
            return resource, {}
        for template in self.templates.values():
            values = template.match(uri)
            if values is not None:
                return template, values
        return None

    def completer(self, ref: str, argument: str) -> tuple[Completer | None, list[str] | None]:
        """The completer for a prompt's or template's argument, and the choices of its type."""
        fn = self.completions.get((ref, argument))
        component: Any = self.prompts.get(ref) or self.templates.get(ref)
        choices = None
        if component is not None:
            choices = choices_of(component.signature.hints.get(argument))
        return fn, choices

    # -- listing --------------------------------------------------------------------------------
    def page(
        self, kind: str, cursor: Any, keep: Callable[[Component], bool] | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``tools``, ``resources``, ``templates`` or ``prompts``, and the next cursor.

        `keep` filters the components (per principal); without it the cached list is served.
        """
        cached = self._pages.get(kind)
        if cached is None:
            tables: dict[str, dict[str, Any]] = {
                "tools": self.tools,
                "resources": self.resources,
                "templates": self.templates,
                "prompts": self.prompts,
            }
            source: Iterable[Component] = tables[kind].values()
            components = list(source)
            cached = self._pages[kind] = (components, [c.wire() for c in components])
        items = cached[1]
        if keep is not None:
            items = [w for c, w in zip(*cached, strict=True) if keep(c)]
        start = decode_cursor(cursor) if cursor is not None else 0
        end = start + self.page_size
        next_cursor = encode_cursor(end) if end < len(items) else None
        return (items if start == 0 and next_cursor is None else items[start:end]), next_cursor


def encode_cursor(offset: int) -> str:
    """The opaque ``nextCursor`` for a list offset."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: Any) -> int:
    """The list offset of a cursor from `encode_cursor` (raises `McpError` ``-32602`` for any
    other value)."""
    if not isinstance(cursor, str):
        raise invalid_params("Invalid cursor: must be a string from a previous nextCursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("o:") and (offset := int(text[2:])) >= 0:
            return offset
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid_params(f"Invalid cursor: {cursor!r}")


def _claim(table: dict[str, Any], kind: str, key: str, plugin: str) -> None:
    if key in table:
        raise CompositionError(_collision(kind, key, plugin, table[key].plugin))


def _collision(kind: str, name: str, plugin: str, other: str) -> str:
    return (
        f"{kind} {name!r} of plugin {plugin!r} collides with the one of plugin {other!r}: "
        f'give one a namespace ([plugins.{plugin}] namespace = "{plugin}"), set '
        f'[server] on_conflict = "prefix", or disable one of them'
    )
