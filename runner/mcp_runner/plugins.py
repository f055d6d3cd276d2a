"""`PluginHost`: discovers, loads and isolates plugins, and calls their hooks (typed).

Builtins load first (by module path), then entry points of the group ``mcp_runner`` sorted by
name, then plugins named on the command line. A plugin that fails in any phase is recorded
with the phase and the error, unregistered whole, and the host goes on with the rest.
"""

from __future__ import annotations

import functools
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal, cast

import pluggy

from . import hookspecs, log
from .config import (
    HOST_TABLES,
    ConfigError,
    ConfigSections,
    Settings,
    nearest,
    validate_section,
)
from .middleware import Middleware
from .protocol.observers import RequestStats
from .registry import PluginRegistry, Registry

if TYPE_CHECKING:
    import click
    from structlog.typing import Processor

    from .auth import TokenVerifier
    from .hookspecs import AsgiApp, HealthCheck, HttpObserver, RequestObserver, Serve
    from .protocol.errors import McpError
    from .protocol.session import Request
    from .runner import Runner

ENTRY_POINT_GROUP = "mcp_runner"
"""The entry-point group a distribution declares its plugin in."""
BUILTINS: tuple[tuple[str, str], ...] = (
    ("errors", "mcp_runner.builtin.errors"),
    ("logging", "mcp_runner.builtin.request_log"),
    ("transports", "mcp_runner.builtin.transports"),
    ("auth", "mcp_runner.builtin.auth"),
    ("proxy", "mcp_runner.builtin.proxy"),
    ("health", "mcp_runner.builtin.health"),
    ("metrics", "mcp_runner.builtin.metrics"),
    ("access_log", "mcp_runner.builtin.access_log"),
    ("tracing", "mcp_runner.builtin.tracing"),
)
"""The builtin plugins, by name and module path, in load order (before any entry point)."""
PHASES = {"mcp_runner_add_config": "config", "mcp_runner_register": "compose"}
"""The phase a hook's failure is recorded in, where it is not the hook's name unprefixed."""
Status = Literal["ok", "failed", "disabled"]
"""A plugin's state: serving, left out after a failure, or turned off by the configuration."""


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
    # the sub-entries its mcp_runner_status hook reports (the proxy's backends)
    backends: list[dict[str, Any]] | None = None

    def described(self) -> PluginRecord:
        """Fill in the distribution's name and version (reads its metadata once)."""
        if self.dist is not None:
            self.distribution, self.version = self.dist.name, self.dist.version
            self.dist = None
        return self

    def as_dict(self) -> dict[str, Any]:
        """The record as ``mcp-runner plugins --json`` prints it."""
        self.described()
        hidden = ("obj", "settings", "backends", "dist")
        out = {k: v for k, v in self.__dict__.items() if k not in hidden}
        out["import_ms"] = round(self.import_ms, 2)
        if self.backends is not None:
            out["backends"] = self.backends
        return out


class PluginHost:
    """The host's one door to its plugins: loads them, isolates their failures, calls their hooks.

    ``load()`` registers the builtins, then the entry points of the group ``mcp_runner``
    sorted by name, then the plugins named on the command line, each with its settings
    validated; ``compose()`` merges what each one registers. Every other method calls one hook
    and returns what the host needs from it, typed: the middleware, the token verifiers, the
    transports, the lifespans...

    Hooks are called through pluggy, so its options hold (``specname``, ``tryfirst`` and
    ``trylast``, both styles of wrappers, ``firstresult``, ``historic``); among implementations
    of equal priority the order is the load order. An implementation that raises fails its own
    plugin: the plugin is recorded with the phase and the error (see `records`), unregistered
    whole and its components removed, and a warning goes to `warn`; the others go on.
    """

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
        """Every plugin seen, in load order, whatever its status."""
        self.registry: Registry | None = None
        self._unadapted: list[tuple[PluginRecord, Any]] = []
        self._loaded: dict[int, Any] = {}  # every plugin object loaded, by id: loaded once
        self._tables: set[str] = set()  # the top-level tables plugins asked about
        self.warn: Callable[[str], None] = _stderr
        """Where a plugin failure is told as it happens: stderr, unless replaced (``mcp-runner
        plugins`` shows failures in its table instead)."""

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
                self._load(record, ep.load)
        for spec in self.extra:
            module, _, attr = spec.partition(":")
            try:
                obj = _plugin_object(_import(module, attr))
            except BaseException as exc:
                record = PluginRecord(spec, spec, "command line")
                self.records[spec] = record
                self.fail(record, "import", exc)
                continue
            given = getattr(obj, "name", None)
            name = given if isinstance(given, str) else module.rsplit(".", 1)[-1]
            self._load(PluginRecord(name, spec, "command line"), _returning(obj), named=True)
        for name, obj in (objects or {}).items():
            self._load(PluginRecord(name, repr(obj), "command line"), _returning(obj))
        self._adapt()
        if self.use_entry_points:  # only then is every plugin that might read a table known
            self._check_tables()

    def _load(self, record: PluginRecord, load: Callable[[], Any], named: bool = False) -> None:
        """Import and register one plugin; `named`: given by a ``--plugin`` spec, which the
        allow list does not apply to."""
        first = self.records.get(record.name)
        if first is not None and first.status == "disabled":
            if not (named and self._wanted(record, named)):
                return  # turned off by name, whichever way it is reached
            del self.records[record.name]  # left out by the allow list, then named: loaded
            first = None
        if first is not None and record.source == "entry point":
            self._collide(first, record)  # told apart by name alone: neither is imported twice
            return
        if first is None:
            self.records[record.name] = record
            if not self._wanted(record, named):
                record.status = "disabled"
                return
        started = time.perf_counter()
        try:
            obj = _plugin_object(load())
        except BaseException as exc:  # an import may raise anything, SystemExit included
            record.import_ms = (time.perf_counter() - started) * 1000
            self.records.setdefault(record.name, record)
            self.fail(record, "import", exc)
            return
        record.import_ms = (time.perf_counter() - started) * 1000
        if id(obj) in self._loaded:
            return  # one plugin reached twice (installed, and named with --plugin): one plugin
        if first is not None:
            self._collide(first, record)
            return
        self._loaded[id(obj)] = obj
        if not any(self.pm.parse_hookimpl_opts(obj, attr) for attr in dir(obj)):
            self._unadapted.append((record, obj))  # offered to the adapters once all are loaded
            return
        self._register(record, obj)

    def _collide(self, first: PluginRecord, record: PluginRecord) -> None:
        """Two different plugins under one name: the first stays, `record` is left out."""
        record.status, record.phase = "failed", "discover"
        record.error = (
            f"the name {record.name!r} is taken by {_source(first)}; "
            f"{_source(record)} is left out (rename or uninstall one of them)"
        )
        self.records[f"{record.name} ({_source(record)})"] = record
        self.warn(f"plugin {record.name!r} failed (discover): {record.error}")

    def _check_tables(self) -> None:
        """A ``[plugins.<name>]`` table for no plugin loaded is a warning naming the nearest
        and the plugins there are; a top-level table no plugin knows is a `ConfigError`
        (one that only a variable set is a warning naming it)."""
        plugins = [r.name for r in self.records.values() if r.source != "builtin"]
        for name in self.settings.plugins:
            if name not in self.records:
                self.warn(
                    f"[plugins.{name}] configures no installed plugin{nearest(name, self.records)}; "
                    f"installed: {', '.join(plugins) or 'none'}"
                )
        known = {*HOST_TABLES, *self._tables, *self.records}
        for table in self.settings.model_extra or {}:
            if table in known:
                continue
            variables = sorted(
                origin
                for key, origin in self.settings.origins.items()
                if key.split(".", 1)[0] == table
            )
            hint = nearest(table, known)
            if variables:
                self.warn(f"{', '.join(variables)} set [{table}], which no plugin reads{hint}")
            else:
                where = self.settings.source or "settings"
                raise ConfigError(f"{where}: unknown table [{table}]{hint}")

    def _adapt(self) -> None:
        """Offer each loaded object that implements no hook to ``mcp_runner_adapt_plugin``;
        register what an adapter makes of it, or the object itself."""
        pending, self._unadapted = self._unadapted, []
        for record, obj in pending:
            adapted = self._call("mcp_runner_adapt_plugin", {"name": record.name, "obj": obj})
            self._register(record, obj if adapted is None else adapted)

    def _register(self, record: PluginRecord, obj: Any) -> None:
        record.obj = obj
        record.description = getattr(obj, "description", None) or _first_line(
            getattr(obj, "__doc__", None)
        )
        if record.version is None:
            record.version = getattr(obj, "version", None)
        try:
            self._check_hook_names(obj)
            self.pm.register(obj, name=record.name)
            callers = self.pm.get_hookcallers(obj) or []
            self._check_one_kind_per_hook(obj, callers)
        except Exception as exc:
            self.fail(record, "register", exc)
            return
        record.hooks = sorted(caller.name for caller in callers)
        self._configure(record)

    def _check_hook_names(self, obj: Any) -> None:
        """A misspelt hook is an error, not a function never called."""
        unknown = []
        for attr in dir(obj):
            opts = self.pm.parse_hookimpl_opts(obj, attr)
            hook = (opts.get("specname") if opts else None) or attr
            if hook.startswith("mcp_runner_") and not hasattr(self.pm.hook, hook):
                unknown.append(hook)
        if unknown:
            raise pluggy.PluginValidationError(
                obj, f"implements unknown hook(s) {', '.join(unknown)}"
            )

    @staticmethod
    def _check_one_kind_per_hook(obj: Any, callers: list[pluggy.HookCaller]) -> None:
        """A per-plugin hook calls one plugin's implementation inside everyone's wrappers,
        which needs a plugin to either wrap a hook or implement it."""
        for caller in callers:
            kinds = {i.wrapper or i.hookwrapper for i in caller.get_hookimpls() if i.plugin is obj}
            if len(kinds) > 1:
                raise pluggy.PluginValidationError(
                    obj, f"both wraps and implements {caller.name}; split it in two plugins"
                )

    def _wanted(self, record: PluginRecord, named: bool = False) -> bool:
        server = self.settings.server
        if record.name in server.disable:
            return False
        if (
            record.source != "builtin"
            and not named
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
            self.fail(record, "config", ConfigError(f"{where}: {exc}"))
            return
        sections = ConfigSections(self.settings, record.name)
        self._call("mcp_runner_add_config", {"config": sections}, plugin=record)
        self._tables |= sections.tables
        if record.status != "ok":
            return
        try:
            options = self.settings.plugin_options(record.name)
            if sections.plugin_model is not None:
                prefix = f"plugins.{record.name}."
                origins = {
                    key.removeprefix(prefix): origin
                    for key, origin in self.settings.origins.items()
                    if key.startswith(prefix)
                }
                record.settings = validate_section(sections.plugin_model, options, where, origins)
            else:
                record.settings = options
        except Exception as exc:
            self.fail(record, "config", exc)

    # ------------------------------------------------------------------------------------------
    # Composition and failures

    def compose(self, registry: Registry) -> None:
        """Call each plugin's register hook and merge what it adds, whole or not at all."""
        self.registry = registry
        for record in self.active():
            staged = PluginRegistry(record.name, record.settings)
            kwargs = {"registry": staged, "settings": record.settings}
            if self._call("mcp_runner_register", kwargs, plugin=record) is None:
                continue  # nothing to register
            if record.status != "ok":
                continue
            try:
                registry.merge(staged, self.settings.plugin(record.name).namespace)
            except Exception as exc:
                self.fail(record, "compose", exc)
                continue
            record.tools = len(staged.tools)
            record.resources = len(staged.resources)
            record.prompts = len(staged.prompts)

    def active(self) -> list[PluginRecord]:
        """The plugins loaded and not failed, in load order."""
        return [r for r in self.records.values() if r.status == "ok"]

    def failures(self) -> list[PluginRecord]:
        """The plugins that failed, in load order."""
        return [r for r in self.records.values() if r.status == "failed"]

    def fail(self, record: PluginRecord, phase: str, exc: BaseException) -> None:
        """Record that `record`'s plugin failed in `phase`; unregister it and its components."""
        record.status, record.phase = "failed", phase
        record.error = _describe(exc)
        record.traceback = "".join(traceback.format_exception(exc))
        if record.obj is not None and self.pm.is_registered(record.obj):
            self.pm.unregister(record.obj)
        if self.registry is not None:
            self.registry.remove_plugin(record.name)
        self.warn(f"plugin {record.name!r} failed ({phase}): {record.error}")

    # ------------------------------------------------------------------------------------------
    # The hooks, typed

    def middleware(self, runner: Runner) -> list[Middleware]:
        """Every plugin's middleware; a bare callable goes in the ``plugin`` band."""
        answers = self._call(
            "mcp_runner_middleware",
            {"settings": self.settings, "runner": runner},
            normalize=_as_middleware,
        )
        return [mw for answer in answers for mw in answer]

    def token_verifiers(self) -> list[TokenVerifier]:
        """Every plugin's token verifiers, in the order the authenticator asks them."""
        answers = self._call(
            "mcp_runner_token_verifiers", {"settings": self.settings}, normalize=_as_list
        )
        return [verifier for answer in answers for verifier in answer]

    def log_processors(self) -> list[Processor]:
        """Every plugin's structlog processors, in pipeline order."""
        answers = self._call(
            "mcp_runner_log_processors", {"settings": self.settings}, normalize=_as_list
        )
        return [processor for answer in answers for processor in answer]

    def transports(self) -> dict[str, Serve]:
        """The transports plugins register, by name (a later registration of a name wins)."""
        found: dict[str, Serve] = {}

        def register(name: str, serve: Serve) -> None:
            found[name] = serve

        self._call("mcp_runner_register_transports", {"register": register})
        return found

    def handle_error(self, request: Request, exc: BaseException) -> McpError | str | None:
        """What the client sees for `exc`, raised while answering `request`: the first mapper's
        answer. A mapper that raises is told to `warn` (its plugin stays: requests are being
        served) and the next one is asked; the builtin answers when no mapper could."""
        broken: list[Exception] = []

        def mapper_failed(record: PluginRecord, failure: Exception) -> None:
            broken.append(failure)
            self.warn(
                f"the error mapper of plugin {record.name!r} raised {failure!r} "
                f"while mapping {exc!r}"
            )

        kwargs = {"request": request, "exc": exc, "settings": self.settings}
        mapped = self._call("mcp_runner_handle_error", kwargs, on_failure=mapper_failed)
        if mapped is None and broken:
            from .builtin.errors import mcp_runner_handle_error as last_resort

            return last_resort(request, exc, self.settings)
        return cast("McpError | str | None", mapped)

    def lifespans(
        self, runner: Runner
    ) -> list[tuple[PluginRecord, AbstractAsyncContextManager[Any]]]:
        """Each plugin's lifespan context manager, in load order, with its plugin (to fail it
        if entering raises)."""
        out = []
        for record in self.active():
            kwargs = {"runner": runner, "settings": record.settings}
            for manager in self._call("mcp_runner_lifespan", kwargs, plugin=record) or ():
                out.append((record, manager))
        return out

    def server_ready(self, runner: Runner, transport: str) -> None:
        """Tell the plugins that `runner` serves on `transport`."""
        self._call("mcp_runner_server_ready", {"runner": runner, "transport": transport})

    def http_routes(self, runner: Runner, taken: frozenset[str]) -> dict[str, AsgiApp]:
        """The paths plugins serve on the HTTP port, by path; a path in `taken` or already
        registered fails the plugin that registers it."""
        found: dict[str, AsgiApp] = {}
        for record in self.active():

            def register(path: str, app: AsgiApp) -> None:
                if path in taken or path in found:
                    raise ValueError(f"the HTTP path {path} is already served")
                found[path] = app

            self._call(
                "mcp_runner_http_routes", {"register": register, "runner": runner}, plugin=record
            )
        return found

    def http_observers(self, runner: Runner) -> list[HttpObserver]:
        """Every plugin's HTTP observers, in load order."""
        answers = self._call("mcp_runner_http_observers", {"runner": runner}, normalize=_as_list)
        return [observer for answer in answers for observer in answer]

    def request_observers(self, runner: Runner) -> list[RequestObserver | RequestStats]:
        """Every plugin's JSON-RPC request observers, in load order."""
        answers = self._call(
            "mcp_runner_request_observers", {"runner": runner}, normalize=_as_observers
        )
        return [observer for answer in answers for observer in answer]

    def health_checks(self, runner: Runner) -> dict[str, HealthCheck]:
        """Every plugin's readiness checks, by component name (a later name wins)."""
        answers = self._call("mcp_runner_health_checks", {"runner": runner}, normalize=_as_checks)
        return {name: check for answer in answers for name, check in answer.items()}

    def state_backend(self) -> Any:
        """The state backend the first plugin offers (in load order), or None."""
        for record in self.active():
            kwargs = {"settings": record.settings}
            backend = self._call("mcp_runner_state_backend", kwargs, plugin=record)
            if backend is not None:
                return backend
        return None

    def add_commands(self, cli: click.Group) -> None:
        """Let the plugins add their subcommands to `cli`."""
        self._call("mcp_runner_add_commands", {"cli": cli})

    def collect_status(self, runner: Runner) -> bool:
        """Ask each plugin for the sub-entries ``mcp-runner plugins`` shows under it (into
        `PluginRecord.backends`); True when any plugin reported some. A failure is shown as a
        failed entry; the plugin stays."""
        found = False
        failed: dict[str, Exception] = {}
        for record in self.active():
            answers = self._call(
                "mcp_runner_status",
                {"runner": runner},
                plugin=record,
                normalize=_as_entries,
                on_failure=lambda failing, exc: failed.setdefault(failing.name, exc),
            )
            if record.name in failed:
                error = _describe(failed[record.name])
                answers = [[{"name": "status", "state": "failed", "error": error}]]
            if answers:
                record.backends = [entry for answer in answers for entry in answer]
                found = found or bool(record.backends)
        return found

    # ------------------------------------------------------------------------------------------
    # The one way a hook is called

    def _call(
        self,
        hook: str,
        kwargs: dict[str, Any],
        *,
        plugin: PluginRecord | None = None,
        normalize: Callable[[PluginRecord, Any], Any] | None = None,
        on_failure: Callable[[PluginRecord, Exception], object] | None = None,
    ) -> Any:
        """Call `hook` through pluggy with each implementation guarded: one that raises fails
        its own plugin (`on_failure`; by default `fail` in the hook's phase), the others go on.

        pluggy picks the implementations (``specname``) and runs the wrappers, both styles,
        around the others, which are guarded calls handed to it: ``tryfirst`` ones first,
        ``trylast`` ones last, and among equals in load order (where pluggy would call the
        newest first). `normalize(record, answer)` turns each implementation's non-None answer
        into the shape the wrappers and the caller see. With `plugin`, only its implementation
        runs, inside every wrapper (a per-plugin hook); None then means it has none. A wrapper
        that raises fails its plugin too; the implementations then answer unwrapped.
        """
        caller = getattr(self.pm.hook, hook)
        fail = on_failure or functools.partial(self._failed_in, hook)
        active = {r.name: r for r in self.active()}
        load_order = {name: n for n, name in enumerate(self.records)}
        impls = [
            impl
            for impl in caller.get_hookimpls()
            if impl.plugin_name in active and active[impl.plugin_name].obj is impl.plugin
        ]
        wrappers = [impl for impl in impls if impl.wrapper or impl.hookwrapper]
        plain = sorted(
            (
                impl
                for impl in impls
                if not (impl.wrapper or impl.hookwrapper)
                and (plugin is None or impl.plugin is plugin.obj)
            ),
            key=lambda i: (0 if i.tryfirst else 2 if i.trylast else 1, load_order[i.plugin_name]),
        )
        if plugin is not None and not plain:
            return None
        answered: dict[int, Any] = {}  # by position in `plain`: what each call answered

        def guarded(position: int, impl: pluggy.HookImpl) -> Callable[[], Any]:
            record = active[impl.plugin_name]
            args = [kwargs[name] for name in impl.argnames]
            options = {name: kwargs[name] for name in impl.kwargnames if name in kwargs}

            def call() -> Any:
                answered[position] = None
                try:
                    answer = impl.function(*args, **options)
                    if answer is not None and normalize is not None:
                        answer = normalize(record, answer)
                except Exception as exc:
                    fail(record, exc)
                    return None
                answered[position] = answer
                return answer

            return call

        calls = [guarded(position, impl) for position, impl in enumerate(plain)]
        only_wrappers = self.pm.subset_hook_caller(
            hook, remove_plugins=self.pm.get_plugins() - {impl.plugin for impl in wrappers}
        )
        try:
            return only_wrappers.call_extra(calls[::-1], kwargs)  # pluggy calls the last first
        except Exception as exc:
            if not wrappers:
                raise  # the calls cannot raise: only a wrapper can
            for impl in _raised_by(exc, wrappers):
                fail(active[impl.plugin_name], exc)
        # A wrapper raised: every implementation still runs once, unwrapped.
        firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
        answers = []
        for position, call in enumerate(calls):
            answer = answered[position] if position in answered else call()
            if answer is not None:
                if firstresult:
                    return answer
                answers.append(answer)
        return None if firstresult else answers

    def _failed_in(self, hook: str, record: PluginRecord, exc: Exception) -> None:
        self.fail(record, PHASES.get(hook, hook.removeprefix("mcp_runner_")), exc)


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


def _as_list(record: PluginRecord, value: Any) -> list[Any]:
    """A hook's answer as a list: one item, or a list or tuple of them."""
    return list(value) if isinstance(value, list | tuple) else [value]


def _as_observers(record: PluginRecord, value: Any) -> list[Any]:
    """A request observers hook's answer as a list, each with both methods."""
    observers = _as_list(record, value)
    for observer in observers:
        if isinstance(observer, RequestStats):
            continue
        if not all(
            callable(getattr(observer, name, None)) for name in ("request_started", "request_ended")
        ):
            raise TypeError(
                f"a request observer needs request_started and request_ended methods "
                f"(subclass mcp_runner.hookspecs.RequestObserver), or is the runner's "
                f"request_stats, not {observer!r}"
            )
    return observers


def _as_middleware(record: PluginRecord, value: Any) -> list[Middleware]:
    """A middleware hook's answer as `Middleware`: a bare callable goes in the plugin band."""
    return [
        item if isinstance(item, Middleware) else Middleware(item, name=record.name)
        for item in _as_list(record, value)
    ]


def _as_entries(record: PluginRecord, value: Any) -> list[dict[str, Any]]:
    """A status hook's answer, checked: a list of dicts."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise TypeError(f"mcp_runner_status must answer a list of dicts, not {value!r}")
    return value


def _as_checks(record: PluginRecord, value: Any) -> dict[str, Any]:
    """A health-check hook's answer, checked: a dict of names to callables."""
    if not isinstance(value, dict) or not all(callable(check) for check in value.values()):
        raise TypeError(f"mcp_runner_health_checks must answer a dict of checks, not {value!r}")
    return value


def _raised_by(exc: BaseException, wrappers: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """The wrapper whose code raised `exc` (the innermost in its traceback), or all of them
    when none did: one broke pluggy's protocol (did not yield, or yielded twice)."""
    by_code = {getattr(impl.function, "__code__", None): impl for impl in wrappers}
    raisers = [
        by_code[frame.f_code]
        for frame, _ in traceback.walk_tb(exc.__traceback__)
        if frame.f_code in by_code
    ]
    return raisers[-1:] or wrappers


def _source(record: PluginRecord) -> str:
    """Where a plugin came from, in words: ``the entry point of distribution X``..."""
    if record.source == "entry point":
        record.described()
        return f"the entry point of distribution {record.distribution or record.value}"
    if record.source == "builtin":
        return f"the builtin {record.value}"
    return f"--plugin {record.value}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ConfigError | pluggy.PluginValidationError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _stderr(message: str) -> None:
    log.announce(f"mcp-runner: warning: {message}", message, level="warning")
