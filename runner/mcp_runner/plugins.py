"""`PluginHost`: discovers, loads and isolates plugins, and calls their hooks (typed).

Builtins load first (by module path), then entry points of the group ``mcp_runner`` sorted by
name, then plugins named on the command line. A plugin that fails in any phase is recorded
with the phase and the error, unregistered whole, and the host goes on with the rest.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import pluggy

from . import hookspecs
from .config import ConfigError, ConfigSections, Settings, validate_section
from .middleware import Middleware
from .registry import PluginRegistry, Registry

ENTRY_POINT_GROUP = "mcp_runner"
BUILTINS: tuple[tuple[str, str], ...] = (
    ("errors", "mcp_runner.builtin.errors"),
    ("logging", "mcp_runner.builtin.request_log"),
    ("transports", "mcp_runner.builtin.transports"),
    ("auth", "mcp_runner.builtin.auth"),
    ("proxy", "mcp_runner.builtin.proxy"),
)
Status = Literal["ok", "failed", "disabled"]


@dataclass
class PluginRecord:
    """One plugin as `mcp-runner plugins` shows it."""

    name: str
    value: str
    source: Literal["builtin", "entry point", "command line"]
    distribution: str | None = None
    version: str | None = None
    status: Status = "ok"
    phase: str | None = None
    error: str | None = None
    traceback: str | None = None
    hooks: list[str] = field(default_factory=list)
    tools: int = 0
    resources: int = 0
    prompts: int = 0
    import_ms: float = 0.0
    description: str | None = None
    obj: Any = field(default=None, repr=False)
    dist: Any = field(default=None, repr=False)  # importlib.metadata.Distribution, until read
    settings: Any = field(default=None, repr=False)
    # sub-entries a plugin reports through a `status(runner)` function (the proxy's backends)
    backends: list[dict[str, Any]] | None = None

    def described(self) -> PluginRecord:
        """Fill in the distribution's name and version (reads its metadata once)."""
        if self.dist is not None:
            self.distribution, self.version = self.dist.name, self.dist.version
            self.dist = None
        return self

    def as_dict(self) -> dict[str, Any]:
        self.described()
        hidden = ("obj", "settings", "backends", "dist")
        out = {k: v for k, v in self.__dict__.items() if k not in hidden}
        out["import_ms"] = round(self.import_ms, 2)
        if self.backends is not None:
            out["backends"] = self.backends
        return out


class PluginHost:
    def __init__(
        self, settings: Settings, extra: list[str] | None = None, *, entry_points: bool = True
    ) -> None:
        self.settings = settings
        self.extra = list(extra or [])
        self.use_entry_points = entry_points
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.hook.mcp_runner_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.records: dict[str, PluginRecord] = {}
        self.registry: Registry | None = None
        self._warn: Callable[[str], None] = _stderr

    # ------------------------------------------------------------------------------------------
    # Loading

    def load(self, objects: dict[str, Any] | None = None) -> None:
        """Discover and register every plugin; `objects` adds plugin objects by name (tests)."""
        for name, module in BUILTINS:
            self._load(
                PluginRecord(name, module, "builtin"),
                functools.partial(importlib.import_module, module),
            )
        if self.use_entry_points:
            for ep in sorted(_entry_points(), key=lambda e: e.name):
                # The distribution's name and version are read (parsed from its METADATA)
                # only when shown: serving does not need them.
                record = PluginRecord(
                    ep.name, ep.value, "entry point", dist=getattr(ep, "dist", None)
                )
                if ep.name in self.records:
                    other = self.records[ep.name].described()
                    record.described()
                    record.status, record.phase = "failed", "discover"
                    record.error = (
                        f"entry point name {ep.name!r} is also used by "
                        f"{other.distribution or other.value}; uninstall one of them"
                    )
                    self.records[f"{ep.name} ({record.distribution})"] = record
                    self._warn(f"plugin {ep.name!r} failed (discover): {record.error}")
                    continue
                self._load(record, ep.load)
        for spec in self.extra:
            module, _, attr = spec.partition(":")
            try:
                obj = _plugin_object(_import(module, attr))
            except BaseException as exc:
                record = PluginRecord(spec, spec, "command line")
                self.records[spec] = record
                self._fail(record, "import", exc)
                continue
            given = getattr(obj, "name", None)
            name = given if isinstance(given, str) else module.rsplit(".", 1)[-1]
            self._load(PluginRecord(name, spec, "command line"), _returning(obj))
        for name, obj in (objects or {}).items():
            self._load(PluginRecord(name, repr(obj), "command line"), _returning(obj))

    def _load(self, record: PluginRecord, load: Callable[[], Any]) -> None:
        self.records[record.name] = record
        if not self._wanted(record):
            record.status = "disabled"
            return
        started = time.perf_counter()
        try:
            obj = load()
        except BaseException as exc:  # an import may raise anything, SystemExit included
            record.import_ms = (time.perf_counter() - started) * 1000
            self._fail(record, "import", exc)
            return
        record.import_ms = (time.perf_counter() - started) * 1000
        obj = _plugin_object(obj)
        record.obj = obj
        record.description = getattr(obj, "description", None) or _first_line(
            getattr(obj, "__doc__", None)
        )
        if record.version is None:
            record.version = getattr(obj, "version", None)
        try:
            unknown = [
                n for n in dir(obj) if n.startswith("mcp_runner_") and not hasattr(self.pm.hook, n)
            ]
            if unknown:
                raise pluggy.PluginValidationError(
                    obj, f"implements unknown hook(s) {', '.join(unknown)}"
                )
            self.pm.register(obj, name=record.name)
        except Exception as exc:
            self._fail(record, "register", exc)
            return
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(obj) or ())
        self._configure(record)

    def _wanted(self, record: PluginRecord) -> bool:
        server = self.settings.server
        if record.name in server.disable:
            return False
        if (
            record.source != "builtin"
            and server.enable is not None
            and record.name not in server.enable
        ):
            return False
        return (
            bool(self.settings.plugin(record.name).enabled)
            if record.name in self.settings.plugins
            else True
        )

    def _configure(self, record: PluginRecord) -> None:
        where = f"[plugins.{record.name}]"
        try:
            self.settings.plugin(record.name)
        except Exception as exc:
            self._fail(record, "config", ConfigError(f"{where}: {exc}"))
            return
        sections = ConfigSections(self.settings, record.name)
        try:
            impl = getattr(record.obj, "mcp_runner_add_config", None)
            if impl is not None:
                impl(config=sections)
            options = self.settings.plugin_options(record.name)
            if sections.plugin_model is not None:
                record.settings = validate_section(sections.plugin_model, options, where)
            else:
                record.settings = options
        except Exception as exc:
            self._fail(record, "config", exc)

    # ------------------------------------------------------------------------------------------
    # Composition

    def compose(self, registry: Registry) -> None:
        """Call each plugin's register hook and merge what it adds, whole or not at all."""
        self.registry = registry
        for record in self.active():
            impl = getattr(record.obj, "mcp_runner_register", None)
            if impl is None:
                continue
            staged = PluginRegistry(record.name, record.settings)
            try:
                _call(impl, registry=staged, settings=record.settings)
                registry.merge(staged, self.settings.plugin(record.name).namespace)
            except Exception as exc:
                self._fail(record, "compose", exc)
                continue
            record.tools = len(staged.tools)
            record.resources = len(staged.resources)
            record.prompts = len(staged.prompts)

    def active(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "ok"]

    def failures(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "failed"]

    def _fail(self, record: PluginRecord, phase: str, exc: BaseException) -> None:
        record.status, record.phase = "failed", phase
        record.error = _describe(exc)
        record.traceback = "".join(traceback.format_exception(exc))
        if record.obj is not None and self.pm.is_registered(record.obj):
            self.pm.unregister(record.obj)
        if self.registry is not None:
            self.registry.remove_plugin(record.name)
        self._warn(f"plugin {record.name!r} failed ({phase}): {record.error}")

    # ------------------------------------------------------------------------------------------
    # Typed hook calls: each plugin's implementation alone, so one failure stays with its plugin

    def _each(self, hook: str, **kwargs: Any) -> Iterator[tuple[PluginRecord, Any]]:
        """Each active plugin's implementation of `hook`, in load order."""
        for record in self.active():
            impl = getattr(record.obj, hook, None)
            if impl is None:
                continue
            try:
                yield record, _call(impl, **kwargs)
            except Exception as exc:
                self._fail(record, hook.removeprefix("mcp_runner_"), exc)

    def middleware(self, runner: Any) -> list[Middleware]:
        out: list[Middleware] = []
        for record, result in self._each(
            "mcp_runner_middleware", settings=self.settings, runner=runner
        ):
            for item in _as_list(result):
                out.append(
                    item if isinstance(item, Middleware) else Middleware(item, name=record.name)
                )
        return out

    def token_verifiers(self) -> list[Any]:
        return [
            v
            for _, result in self._each("mcp_runner_token_verifiers", settings=self.settings)
            for v in _as_list(result)
        ]

    def log_processors(self) -> list[Any]:
        return [
            p
            for _, result in self._each("mcp_runner_log_processors", settings=self.settings)
            for p in _as_list(result)
        ]

    def transports(self) -> dict[str, Callable[..., Any]]:
        found: dict[str, Callable[..., Any]] = {}

        def register(name: str, serve: Callable[..., Any]) -> None:
            found[name] = serve

        for _ in self._each("mcp_runner_register_transports", register=register):
            pass
        return found

    def handle_error(self, ctx: Any, exc: BaseException) -> Any:
        try:
            return self.pm.hook.mcp_runner_handle_error(ctx=ctx, exc=exc, settings=self.settings)
        except Exception as mapper_failure:  # a broken mapper must not lose the answer
            from .builtin.errors import mcp_runner_handle_error as last_resort

            self._warn(f"an error mapper raised {mapper_failure!r} while mapping {exc!r}")
            return last_resort(ctx, exc, self.settings)

    def lifespans(self, runner: Any) -> list[tuple[PluginRecord, Any]]:
        out = []
        for record in self.active():
            impl = getattr(record.obj, "mcp_runner_lifespan", None)
            if impl is None:
                continue
            try:
                manager = _call(impl, runner=runner, settings=record.settings)
            except Exception as exc:
                self._fail(record, "lifespan", exc)
                continue
            if manager is not None:
                out.append((record, manager))
        return out

    def server_ready(self, runner: Any, transport: str) -> None:
        for _ in self._each("mcp_runner_server_ready", runner=runner, transport=transport):
            pass

    def add_commands(self, cli: Any) -> None:
        for _ in self._each("mcp_runner_add_commands", cli=cli):
            pass

    def fail(self, record: PluginRecord, phase: str, exc: BaseException) -> None:
        self._fail(record, phase, exc)

    def collect_status(self, runner: Any) -> bool:
        """Ask each plugin with a ``status(runner)`` function for its sub-entries (a list of
        dicts with a ``state``); True when any plugin reported some."""
        found = False
        for record in self.active():
            fn = getattr(record.obj, "mcp_runner_status", None) or getattr(record.obj, "status", None)
            if not callable(fn):
                continue
            try:
                entries = _call(fn, runner=runner)
            except Exception as exc:
                entries = [{"name": "status", "state": "failed", "error": _describe(exc)}]
            if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
                record.backends = entries
                found = found or bool(entries)
        return found


def _returning(obj: Any) -> Callable[[], Any]:
    return lambda: obj


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _import(module: str, attr: str) -> Any:
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _plugin_object(obj: Any) -> Any:
    """A module that only holds a `Plugin` named `plugin` stands for that Plugin."""
    from .authoring import Plugin

    if isinstance(obj, type(sys)) and not any(n.startswith("mcp_runner_") for n in dir(obj)):
        candidate = getattr(obj, "plugin", None)
        if isinstance(candidate, Plugin):
            return candidate
    return obj


def _call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a hook implementation with the arguments it names (pluggy's convention)."""
    return fn(**{n: kwargs[n] for n in _argnames(fn) if n in kwargs})


@functools.cache
def _argnames(fn: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(inspect.signature(fn).parameters)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ConfigError | pluggy.PluginValidationError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _stderr(message: str) -> None:
    print(f"mcp-runner: warning: {message}", file=sys.stderr)
