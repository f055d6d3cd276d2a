"""One API bridged: its description read, its operations mapped, and the components that
serve them staged in a plugin's registry; around serving, the API's client and (for an app
in process) the app's own lifespan."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_runner.components import Tool

from .asgi import app_document, app_lifespan, import_app
from .calls import Api
from .components import OperationCall, OperationRead, component_for
from .config import ApiConfig, ApiOptions
from .operations import map_operations
from .spec import Documents, SpecError, location_of, parse_document, read_location

if TYPE_CHECKING:
    from mcp_runner.registry import PluginRegistry

APP_BASE_URL = "http://app"
_SCHEME = re.compile(r"[^a-z0-9+.-]+")


@dataclass
class Bridge:
    """A mapped API: the served components and what the mapping reported."""

    api: Api
    components: list[Any]
    notes: list[str]
    load_ms: float
    source: str
    warnings: list[str] = field(default_factory=list)

    def stage(self, registry: PluginRegistry) -> None:
        """Stage every component in `registry` (merged whole by the host, or not at all)."""
        for component in self.components:
            registry.install(component)

    def status(self) -> dict[str, Any]:
        """The API as ``mcp-runner plugins`` shows it."""
        tools = sum(isinstance(c, Tool) for c in self.components)
        resources = len(self.components) - tools
        entry: dict[str, Any] = {
            "name": self.api.name,
            "state": "ok",
            "summary": f"{self.source} -> {self.api.base_url}; loaded in {self.load_ms:.0f} ms",
            "tools": tools,
            "resources": resources,
            "prompts": 0,
        }
        if self.notes or self.warnings:
            entry["notes"] = [*self.warnings, *self.notes]
        return entry


def from_config(name: str, config: ApiConfig) -> Bridge:
    """Bridge the API of ``[openapi.apis.<name>]``: a spec (URL or file) or an app."""
    if config.app is not None:
        return from_app(name, import_app(config.app), config, source=f"app {config.app}")
    assert config.spec is not None
    started = time.perf_counter()
    location = location_of(config.spec)
    document = parse_document(
        read_location(config.spec, config.max_spec_bytes, config.timeout), config.spec
    )
    if not isinstance(document, dict):
        raise SpecError(f"{config.spec}: not an OpenAPI description (a JSON or YAML object)")
    base_url = config.base_url or _first_server(document, location)
    documents = Documents(document, location, config.max_spec_bytes)
    return _bridge(name, document, documents, config, base_url, None, started, config.spec)


def from_app(name: str, app: Any, options: ApiOptions, source: str | None = None) -> Bridge:
    """Bridge an ASGI app called in process, from the OpenAPI document it publishes."""
    started = time.perf_counter()
    document = app_document(app)
    documents = Documents(document, f"app:{name}", 0)
    base_url = options.base_url or APP_BASE_URL
    return _bridge(
        name,
        document,
        documents,
        options,
        base_url,
        app,
        started,
        source or f"app {type(app).__name__}",
    )


def _bridge(
    name: str,
    document: dict[str, Any],
    documents: Documents,
    options: ApiOptions,
    base_url: str,
    app: Any,
    started: float,
    source: str,
) -> Bridge:
    mapping = map_operations(document, documents, options)
    api = Api(name, options, base_url, app)
    scheme = _SCHEME.sub("-", name.lower()).strip("-.+") or "api"
    components = []
    for operation in mapping.operations:
        try:
            components.append(component_for(api, operation, scheme))
        except Exception as exc:  # a path no URI template can hold: serve it as a tool
            mapping.notes.append(f"{operation.label} stays a tool: {exc}")
            operation.kind = "tool"
            components.append(component_for(api, operation, scheme))
    bridge = Bridge(api, components, mapping.notes, (time.perf_counter() - started) * 1000, source)
    tools = sum(isinstance(c, Tool) for c in components)
    if tools > options.warn_above:
        bridge.warnings.append(
            f"{tools} tools: more than {options.warn_above} is a lot for a model to choose from; "
            "select the operations worth serving with include/exclude"
        )
    return bridge


def _first_server(document: dict[str, Any], location: str) -> str:
    from urllib.parse import urljoin

    for server in document.get("servers") or ():
        url = server.get("url") if isinstance(server, dict) else None
        if isinstance(url, str) and url:
            for variable, spec in (server.get("variables") or {}).items():
                url = url.replace("{" + variable + "}", str(spec.get("default", "")))
            if location.startswith(("http://", "https://")):
                return urljoin(location, url).rstrip("/")
            if url.startswith(("http://", "https://")):
                return url.rstrip("/")
    if location.startswith(("http://", "https://")):  # no servers: "/" of the spec's own host
        return urljoin(location, "/").rstrip("/")
    raise SpecError("the description names no server URL: set base_url for this API")


def apis_of(components: Iterable[Any], plugin: str) -> list[Api]:
    """The distinct APIs behind a plugin's served components."""
    found: dict[int, Api] = {}
    for component in components:
        if component.plugin != plugin:
            continue
        handler = getattr(component, "handler", None)
        if isinstance(handler, OperationCall | OperationRead):
            found.setdefault(id(handler.api), handler.api)
    return list(found.values())


@contextlib.asynccontextmanager
async def serving(apis: list[Api]) -> AsyncIterator[None]:
    """Around serving: each app's lifespan entered (its state handed to its requests), and
    every API's pooled client closed at the end."""
    async with contextlib.AsyncExitStack() as stack:
        for api in apis:
            stack.push_async_callback(api.aclose)
            if api.app is not None:
                api.app_state = await stack.enter_async_context(app_lifespan(api.app))
        yield
