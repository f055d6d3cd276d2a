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
crashes or drops is restarted with exponential backoff; meanwhile its tools answer at once with
an error naming the backend and its state. Progress, log messages, cancellation, elicitation and
sampling pass through, in both protocol eras on either side.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import ValidationError

from ..components import (
    TOOL_NAME,
    Completer,
    DefinitionError,
    Prompt,
    Resource,
    ResourceTemplate,
    Signature,
    Tool,
    compile_template,
    error_result,
)
from ..config import ConfigError, describe
from ..context import LEVEL_RANK, Context
from ..hookspecs import hookimpl
from ..protocol.engine import InputRequired
from ..protocol.errors import INTERNAL_ERROR, INVALID_REQUEST, McpError

if TYPE_CHECKING:
    from ..client import Client, McpClientError, Outstanding
    from ..config import ConfigSections, Settings
    from ..protocol.session import Request
    from ..registry import PluginRegistry
    from ..runner import Runner

    # Defined on first use by _models() (a config without [proxy] never builds them).
    RestartPolicy = Any
    ServerConfig = Any
    ProxySettings = Any

NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
PARK_KEY = "proxy"  # in a 2026-07-28 request's state: the id of a backend call waiting for input
DEPTH_ENV = "MCP_RUNNER_PROXY_DEPTH"  # how deep in a chain of proxies a stdio backend runs
MAX_DEPTH = 4
PARK_TTL = 600.0  # as long as the engine's requestState lives
CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
LIST_METHODS = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list"}
)
HTTP_TYPES = ("http", "streamable-http", "streamableHttp")
# What a server entry of another client's file may carry that we have no use for.
FOREIGN_KEYS = frozenset({"autoApprove", "alwaysAllow", "description", "envFile", "transportType"})


# ---------------------------------------------------------------------------------------------
# Configuration


def _models() -> None:
    """Define the settings models (on first use: a config without [proxy] never pays for them)."""
    if "ProxySettings" in globals():
        return
    from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

    class RestartPolicy(BaseModel):
        """When a backend ends or cannot start: wait, then try again (exponential backoff)."""

        model_config = ConfigDict(extra="forbid")

        initial_delay: float = Field(default=0.5, gt=0)
        max_delay: float = Field(default=30.0, gt=0)
        factor: float = Field(default=2.0, ge=1)
        jitter: float = Field(default=0.2, ge=0, le=1)
        max_attempts: int | None = Field(default=None, ge=1)

        def delay(self, attempt: int) -> float:
            base = min(self.max_delay, self.initial_delay * self.factor ** max(0, attempt - 1))
            return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))

    class ServerConfig(BaseModel):
        """One backend, as in an ``mcpServers`` entry."""

        model_config = ConfigDict(extra="forbid")

        type: Literal["stdio", "http", "streamable-http", "streamableHttp", "sse"] | None = None
        command: str | None = None
        args: list[str] = Field(default_factory=list)
        env: dict[str, str] = Field(default_factory=dict)
        cwd: str | None = None
        url: str | None = None
        headers: dict[str, str] = Field(default_factory=dict)
        era: Literal["auto", "legacy", "modern"] = "auto"
        lazy: bool | None = None
        namespace: str | None = None
        enabled: bool = True
        disabled: bool = False
        timeout: float | None = Field(default=None, gt=0)
        startup_timeout: float = Field(default=30.0, gt=0)
        log_level: Literal[
            "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
        ] = "info"

        @model_validator(mode="after")
        def _check(self) -> ServerConfig:
            if self.type == "sse":
                raise ValueError(
                    "type 'sse' (the 2024-11-05 HTTP+SSE transport) is not supported: give the "
                    "server's Streamable HTTP url"
                )
            if (self.command is None) == (self.url is None):
                raise ValueError(
                    "give either `command` (a stdio server) or `url` (Streamable HTTP)"
                )
            if self.type == "stdio" and self.url is not None:
                raise ValueError("type 'stdio' needs `command`, not `url`")
            if self.type in HTTP_TYPES and self.command is not None:
                raise ValueError(f"type {self.type!r} needs `url`, not `command`")
            if self.url is not None and not self.url.startswith(("http://", "https://")):
                raise ValueError(f"url {self.url!r} must start with http:// or https://")
            if self.namespace and not NAME.match(self.namespace):
                raise ValueError(
                    f"namespace {self.namespace!r} must be characters of A-Z a-z 0-9 _ . -"
                )
            return self

        @property
        def transport(self) -> str:
            return "stdio" if self.command is not None else "http"

        @property
        def active(self) -> bool:
            return self.enabled and not self.disabled

    class ProxySettings(BaseModel):
        """The ``[proxy]`` table."""

        model_config = ConfigDict(extra="forbid")

        config_file: str | None = None
        servers: dict[str, ServerConfig] = Field(default_factory=dict)
        lazy: bool = False
        startup_wait: float = Field(default=10.0, ge=0)
        restart: RestartPolicy = Field(default_factory=RestartPolicy)
        _manager: Any = PrivateAttr(default=None)
        _base: Path | None = PrivateAttr(default=None)
        _loaded: bool = PrivateAttr(default=False)

        @field_validator("servers")
        @classmethod
        def _names(cls, servers: dict[str, ServerConfig]) -> dict[str, ServerConfig]:
            for name in servers:
                if not NAME.match(name):
                    raise ValueError(
                        f"server name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . - "
                        "(it prefixes the server's tool names)"
                    )
            return servers

        def is_lazy(self, server: ServerConfig) -> bool:
            return self.lazy if server.lazy is None else server.lazy

    globals().update(
        RestartPolicy=RestartPolicy, ServerConfig=ServerConfig, ProxySettings=ProxySettings
    )


def __getattr__(name: str) -> Any:
    if name in ("RestartPolicy", "ServerConfig", "ProxySettings"):
        _models()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_servers_file(path: Path) -> dict[str, ServerConfig]:
    """The servers of a JSON file in the ``mcpServers`` format (VS Code's ``servers`` too)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"[proxy] config_file {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"[proxy] config_file {str(path)!r}: not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"[proxy] config_file {str(path)!r}: must hold a JSON object")
    servers = document.get("mcpServers", document.get("servers"))
    if not isinstance(servers, dict):
        raise ConfigError(f'[proxy] config_file {str(path)!r}: no "mcpServers" object')
    out: dict[str, ServerConfig] = {}
    for name, raw in servers.items():
        where = f"[proxy] config_file {str(path)!r}: mcpServers.{name}"
        if not NAME.match(name):
            raise ConfigError(f"{where}: the name must be 1-64 characters of A-Z a-z 0-9 _ . -")
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be an object")
        try:
            out[name] = __getattr__("ServerConfig").model_validate(
                {k: v for k, v in raw.items() if k not in FOREIGN_KEYS}
            )
        except ValueError as exc:  # pydantic's ValidationError
            raise ConfigError(
                f"{where}: {describe(exc) if isinstance(exc, ValidationError) else exc}"
            ) from None
    return out


def _section(settings: Settings) -> ProxySettings | None:
    cls = globals().get("ProxySettings")
    found = settings.section("proxy")
    return found if cls is not None and isinstance(found, cls) else None


# ---------------------------------------------------------------------------------------------
# Hooks


@hookimpl
def mcp_runner_add_config(config: ConfigSections) -> None:
    settings: Settings | None = config.settings
    if settings is not None and "proxy" not in (settings.model_extra or {}):
        return  # no [proxy] table: nothing to mount
    _models()
    config.add_section("proxy", __getattr__("ProxySettings"))
    section = _section(settings) if settings is not None else None
    if section is None or section._loaded:
        return
    section._loaded = True
    base = Path(settings.source).resolve().parent if settings and settings.source else Path.cwd()
    section._base = base
    if section.config_file:
        path = Path(section.config_file).expanduser()
        path = path if path.is_absolute() else base / path
        found = load_servers_file(path)
        both = sorted(set(found) & set(section.servers))
        if both:
            raise ConfigError(
                f"[proxy] server(s) {', '.join(both)} defined both in [proxy.servers] and in "
                f"{str(path)!r}: keep one"
            )
        section.servers.update(found)


@hookimpl
def mcp_runner_middleware(settings: Settings) -> Any:
    section = _section(settings)
    if section is None or not any(
        section.is_lazy(s) and s.active for s in section.servers.values()
    ):
        return None
    from ..middleware import Middleware

    async def start_lazy_backends(req: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        manager: ProxyManager | None = section._manager
        if manager is not None and manager.lazy_waiting:
            await manager.wake(req)
        return await call_next(req)

    return Middleware(start_lazy_backends, band="plugin", order=-1000, name="proxy")


@hookimpl
def mcp_runner_lifespan(runner: Runner) -> Any:
    section = _section(runner.settings)
    if section is None or not section.servers:
        return None
    manager = ProxyManager(runner, section)
    section._manager = manager
    return manager.lifespan()


def status(runner: Runner) -> list[dict[str, Any]] | None:
    """One entry per backend for ``mcp-runner plugins``: its state and why."""
    section = _section(runner.settings)
    if section is None or not section.servers:
        return None
    manager: ProxyManager | None = section._manager
    if manager is not None and manager.runner is runner:
        return [b.status() for b in manager.backends.values()]
    return [
        Backend(None, name, server, section).status()  # type: ignore[arg-type]
        for name, server in section.servers.items()
    ]


# ---------------------------------------------------------------------------------------------
# Components that forward to a backend

_NO_SIGNATURE = Signature(
    fn=None,  # type: ignore[arg-type]
    is_async=True,
    context_param=None,
    params={},
    adapter=None,  # type: ignore[arg-type]
    schema={},
    description=None,
    param_docs={},
    hints={},
)


class _Unclaimed(Exception):
    """A question was queued on a call that ended before taking it."""


class BackendDown(Exception):
    """The backend cannot take calls now (its message names the backend and its state)."""


def _clean(result: dict[str, Any]) -> dict[str, Any]:
    """A backend's result without what belongs to its own wire (era fields, server info)."""
    if "resultType" not in result and "_meta" not in result:
        return result
    out = {k: v for k, v in result.items() if k not in ("resultType", "_meta")}
    meta = result.get("_meta")
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if not k.startswith("io.modelcontextprotocol/")}
        if kept:
            out["_meta"] = kept
    return out


def _protocol_error(backend: Backend, exc: BaseException) -> McpError:
    from ..client import ConnectionClosed, McpClientError, RequestTimeout

    if isinstance(exc, McpClientError):
        return McpError(exc.code, exc.message, exc.data)
    if isinstance(exc, BackendDown):
        return McpError(INTERNAL_ERROR, str(exc), {"backend": backend.name, "state": backend.state})
    if isinstance(exc, ConnectionClosed):
        return McpError(INTERNAL_ERROR, f"Backend {backend.name!r} dropped the request: {exc}")
    if isinstance(exc, RequestTimeout):
        return McpError(INTERNAL_ERROR, f"Backend {backend.name!r}: {exc}")
    return McpError(INTERNAL_ERROR, f"Backend {backend.name!r}: {type(exc).__name__}: {exc}")


class _Renamed:
    """A backend's tool or prompt: described as the backend does, under our (namespaced) name."""

    __slots__ = ()
    name: str
    raw: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        out = dict(self.raw)
        out["name"] = self.name
        return out


@dataclass(slots=True, eq=False)
class ProxyTool(_Renamed, Tool):
    backend: Backend = None  # type: ignore[assignment]
    remote: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    async def call(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        errors = _client_errors()
        backend = self.backend
        try:
            result = await backend.forward(
                request, self, "tools/call", {"name": self.remote, "arguments": arguments}
            )
        except BackendDown as exc:
            return error_result(str(exc))
        except errors.closed as exc:
            return error_result(
                f"Backend {backend.name!r} dropped the call to {self.remote!r}: {exc}"
            )
        except errors.timeout as exc:
            return error_result(f"Backend {backend.name!r}: {exc}")
        except errors.remote as exc:
            raise McpError(exc.code, exc.message, exc.data) from None
        return _clean(result)


class _ClientErrors(NamedTuple):
    closed: type[Exception]  # ConnectionClosed
    remote: type[McpClientError]  # the backend answered with an error
    timeout: type[Exception]  # RequestTimeout
    interrupted: type[Exception]  # Interrupted


_ERRORS: _ClientErrors | None = None


def _client_errors() -> _ClientErrors:
    """The client's exceptions, imported on first use (not at start: a config without
    [proxy] never loads the client)."""
    global _ERRORS
    if _ERRORS is None:
        from ..client import ConnectionClosed, Interrupted, McpClientError, RequestTimeout

        _ERRORS = _ClientErrors(ConnectionClosed, McpClientError, RequestTimeout, Interrupted)
    return _ERRORS


@dataclass(slots=True, eq=False)
class ProxyPrompt(_Renamed, Prompt):
    backend: Backend = None  # type: ignore[assignment]
    remote: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    async def get(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"name": self.remote}
        if arguments:
            params["arguments"] = arguments
        try:
            return _clean(await self.backend.forward(request, self, "prompts/get", params))
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise _protocol_error(self.backend, exc) from None


async def _read(backend: Backend, component: Any, uri: str, request: Any) -> list[dict[str, Any]]:
    try:
        result = await backend.forward(request, component, "resources/read", {"uri": uri})
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise _protocol_error(backend, exc) from None
    contents = result.get("contents")
    return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []


class _ForwardedRead:
    """A backend's resource or template: described as the backend does, read from it."""

    __slots__ = ()
    backend: Backend
    raw: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return dict(self.raw)

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        return await _read(self.backend, self, uri, request)


@dataclass(slots=True, eq=False)
class ProxyResource(_ForwardedRead, Resource):
    backend: Backend = None  # type: ignore[assignment]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class ProxyTemplate(_ForwardedRead, ResourceTemplate):
    backend: Backend = None  # type: ignore[assignment]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class ProxyCompleter(Completer):
    backend: Backend = None  # type: ignore[assignment]
    ref: dict[str, Any] = field(default_factory=dict)
    argument: str = ""

    async def complete(self, value: str, arguments: dict[str, Any], request: Any) -> list[str]:
        client = self.backend.client
        if client is None or self.backend.state != "ready":
            return []
        params: dict[str, Any] = {
            "ref": self.ref,
            "argument": {"name": self.argument, "value": value},
        }
        if arguments:
            params["context"] = {"arguments": arguments}
        try:
            result = await client.request(
                "completion/complete", params, timeout=self.backend.config.timeout
            )
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise _protocol_error(self.backend, exc) from None
        found = result.get("completion")
        completion: dict[str, Any] = found if isinstance(found, dict) else {}
        return [str(v) for v in completion.get("values") or ()]


# ---------------------------------------------------------------------------------------------
# One forwarded request


class _Call:
    """A request of ours in flight at a backend: where its progress, logs and the backend's
    questions (elicitation, sampling) go.

    For a legacy-era request the backend call runs in the request's own task and a question is
    asked of our client straight from the task that received it (``inline``). A 2026-07-28
    request cannot wait for an answer (it ends with an input-required result and comes back as
    a new request), so its backend call is started (``task``, a `client.Outstanding`) and can
    outlive the round: the request's task awaits the answer itself (``direct``) until a
    question interrupts it; questions queue in ``asks`` for that task to turn into input
    rounds.
    """

    __slots__ = (
        "asks",
        "backend",
        "component",
        "direct",
        "expiry",
        "futures",
        "inline",
        "pending",
        "request",
        "seq",
        "started",
        "task",
        "token",
        "waiter",
    )

    def __init__(self, backend: Backend, component: Any, request: Request) -> None:
        self.backend = backend
        self.component = component
        self.request: Request | None = request
        self.inline = not request.modern
        self.asks: collections.deque[tuple[str, dict[str, Any], asyncio.Future[Any]]] = (
            collections.deque()
        )
        self.pending: tuple[str, dict[str, Any], asyncio.Future[Any], str] | None = None
        self.futures: set[asyncio.Future[Any]] = set()
        self.seq = 0
        self.started = time.monotonic()
        self.task: Outstanding | None = None
        self.direct = False  # the request's task awaits `task` itself
        self.waiter: asyncio.Future[None] | None = None
        self.token: str | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def context(self) -> Context | None:
        return Context(self.request, self.component) if self.request is not None else None

    def progress_callback(self) -> Callable[[Any], Awaitable[None]] | None:
        if self.request is None or self.request.progress_token is None:
            return None

        async def forward(progress: Any) -> None:
            ctx = self.context()
            if ctx is not None:
                await ctx.report_progress(progress.progress, progress.total, progress.message)

        return forward

    def wake(self, *_: Any) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self.direct and self.task is not None:
            self.task.interrupt()

    def release(self) -> None:
        """The call ended without taking its queued questions: hand them back to be routed
        again (`Backend._forward_question`)."""
        while self.asks:
            _, _, future = self.asks.popleft()
            if not future.done():
                future.set_exception(_Unclaimed())

    def abandon(self) -> None:
        for future in list(self.futures) if self.futures else ():
            if not future.done():
                future.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()


# ---------------------------------------------------------------------------------------------
# Backends


class Backend:
    """One mounted server: its client session, its state, its share of the registry."""

    def __init__(
        self, manager: ProxyManager, name: str, config: ServerConfig, section: ProxySettings
    ) -> None:
        self.manager = manager
        self.name = name
        self.config = config
        self.section = section
        self.plugin = f"proxy.{name}"
        self.namespace = name if config.namespace is None else config.namespace
        self.lazy = section.is_lazy(config)
        self.state = "configured" if config.active else "disabled"
        self.attempt = 0
        self.error: str | None = None
        self.client: Client | None = None
        self.task: asyncio.Task[None] | None = None
        self.settled = asyncio.Event()
        self.calls: list[_Call] = []
        self.listing: dict[str, list[Any]] | None = None
        self.fingerprint: str | None = None
        self.skipped: list[str] = []
        self.retry_at: float | None = None
        self.ready_since: float | None = None
        self.restarts = 0
        self._refresh: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self.task is None and self.state == "configured":
            self.state = "starting"
            self.task = asyncio.create_task(self._supervise(), name=f"proxy backend {self.name}")

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._refresh is not None:
            self._refresh.cancel()
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        for call in list(self.calls):
            call.abandon()
        if self.state != "disabled":
            self.state = "stopped"

    def _make_client(self) -> Client:
        from .. import __version__
        from ..client import Client

        config = self.config
        options: dict[str, Any] = dict(
            era=config.era,
            client_info={"name": "mcp-runner-proxy", "version": __version__},
            log_level=config.log_level,
            on_log=self._on_log,
            on_list_changed=self._on_list_changed,
            on_resource_updated=self._on_resource_updated,
            sampling=self._forward_question,
            elicitation=self._forward_question,
            connect_timeout=None,
            listen=True,
        )
        if config.command is not None:
            cwd = None
            if config.cwd is not None:
                path = Path(config.cwd).expanduser()
                base = self.section._base or Path.cwd()
                cwd = str(path if path.is_absolute() else base / path)
            env = {**config.env, DEPTH_ENV: str(_depth() + 1)}
            # A process is one session anyway: "auto" tries initialize first (lighter
            # messages than 2026-07-28's per-request envelope).
            return Client.stdio(
                config.command, config.args, env=env, cwd=cwd, prefer="legacy", **options
            )
        assert config.url is not None
        return Client.http(config.url, headers=config.headers, **options)

    async def _supervise(self) -> None:
        policy = self.section.restart
        while True:
            self.state = "starting" if self.attempt == 0 else "restarting"
            client = self._make_client()
            try:
                async with asyncio.timeout(self.config.startup_timeout):
                    await client.connect()
                    await self._compose(client)
            except asyncio.CancelledError:
                await client.close()
                raise
            except Exception as exc:
                await client.close()
                self.attempt += 1
                self.error = _describe(exc, self.config.startup_timeout)
                if _permanent(exc):
                    self._failed(self.error)
                    return
            else:
                self.client = client
                self.state = "ready"
                self.error = None
                self.attempt = 0
                self.retry_at = None
                self.ready_since = time.time()
                self.settled.set()
                reason = await client.wait_closed()
                self._lost(client, reason)
                await client.close()
                print(
                    f"mcp-runner: proxy backend {self.name!r}: {self.error}",
                    file=sys.stderr,
                    flush=True,
                )
            if policy.max_attempts is not None and self.attempt > policy.max_attempts:
                self._failed(f"gave up after {policy.max_attempts} attempts: {self.error}")
                return
            delay = policy.delay(self.attempt)
            self.state = "restarting"
            self.retry_at = time.monotonic() + delay
            self.settled.set()
            await asyncio.sleep(delay)

    def _lost(self, client: Client, reason: Any) -> None:
        """The ready connection ended: down at once (calls fail fast from now on)."""
        if self.client is not client:
            return
        self.client = None
        self.ready_since = None
        self.state = "restarting"
        self.attempt = 1
        self.error = f"connection lost: {reason}"
        self.restarts += 1

    def _drop(self, client: Client, exc: BaseException) -> None:
        """A call found the connection gone (a stdio backend's pipe, or the whole client): down
        at once, before the reader notices, and what is left of it closed so it restarts. (One
        HTTP request losing its stream leaves the session up.)"""
        if self.client is client and (client.closed or self.config.transport == "stdio"):
            self._lost(client, exc)
            task = asyncio.ensure_future(client.close())
            self.manager.background.add(task)
            task.add_done_callback(self.manager.background.discard)

    def _failed(self, why: str) -> None:
        self.state = "failed"
        self.error = why
        self.retry_at = None
        self.settled.set()
        print(f"mcp-runner: proxy backend {self.name!r} failed: {why}", file=sys.stderr, flush=True)

    # -- composition ----------------------------------------------------------------------------
    async def _compose(self, client: Client) -> None:
        from ..client import McpClientError
        from ..registry import CompositionError

        caps = client.server_capabilities
        listing: dict[str, list[Any]] = {
            "tools": [],
            "prompts": [],
            "resources": [],
            "templates": [],
        }
        fetch: dict[str, tuple[bool, Callable[[], Awaitable[list[Any]]]]] = {
            "tools": ("tools" in caps, client.list_tools),
            "prompts": ("prompts" in caps, client.list_prompts),
            "resources": ("resources" in caps, client.list_resources),
            "templates": ("resources" in caps, client.list_resource_templates),
        }
        for kind, (offered, lister) in fetch.items():
            if offered:
                try:
                    listing[kind] = await lister()
                except McpClientError:
                    listing[kind] = []
        completions = "completions" in caps
        fingerprint = json.dumps(
            {k: [x.raw for x in v] for k, v in listing.items()}, sort_keys=True, default=str
        ) + str(completions)
        if fingerprint == self.fingerprint:
            return
        registry = self.manager.runner.registry
        old = self.listing
        if old is not None:
            registry.remove_plugin(self.plugin)
        try:
            registry.merge(self._stage(listing, completions), self.namespace or None)
        except Exception as exc:
            if old is not None:
                with contextlib.suppress(Exception):
                    registry.merge(self._stage(old, completions), self.namespace or None)
            if isinstance(exc, CompositionError):
                raise CompositionError(
                    f"cannot mount it: {exc} (for a proxied server: [proxy.servers.{self.name}] "
                    "namespace renames its tools and prompts; resource URIs are kept as they "
                    "are, so two servers offering the same URI cannot both be mounted)"
                ) from None
            raise
        self.listing = listing
        self.fingerprint = fingerprint

    def _stage(self, listing: dict[str, list[Any]], completions: bool) -> PluginRegistry:
        from ..registry import PluginRegistry

        staged = PluginRegistry(self.plugin)
        skipped: list[str] = []
        timeout = self.config.timeout
        for t in listing["tools"]:
            final = f"{self.namespace}_{t.name}" if self.namespace else t.name
            if not TOOL_NAME.match(final):
                skipped.append(
                    f"tool {t.name!r}: {final!r} is not 1-64 characters of A-Z a-z 0-9 _ . -"
                )
                continue
            staged.add_tool(
                ProxyTool(
                    name=t.name,
                    signature=_NO_SIGNATURE,
                    description=t.description,
                    title=t.title,
                    annotations=t.annotations,
                    input_schema=t.input_schema,
                    output_schema=t.output_schema,
                    meta=t.meta,
                    timeout=timeout,
                    backend=self,
                    remote=t.name,
                    raw=t.raw,
                )
            )
        for p in listing["prompts"]:
            staged.add_prompt(
                ProxyPrompt(
                    name=p.name,
                    signature=_NO_SIGNATURE,
                    title=p.title,
                    description=p.description,
                    arguments=[a for a in p.raw.get("arguments") or () if isinstance(a, dict)],
                    meta=p.meta,
                    backend=self,
                    remote=p.name,
                    raw=p.raw,
                )
            )
            if completions:
                for arg in p.arguments:
                    self._completer(
                        staged, p.name, {"type": "ref/prompt", "name": p.name}, arg.name
                    )
        for r in listing["resources"]:
            staged.add_resource(
                ProxyResource(
                    uri=r.uri,
                    name=r.name,
                    signature=_NO_SIGNATURE,
                    title=r.title,
                    description=r.description,
                    mime_type=r.mime_type,
                    annotations=r.annotations,
                    size=r.size,
                    meta=r.meta,
                    backend=self,
                    raw=r.raw,
                )
            )
        for t in listing["templates"]:
            try:
                pattern, variables, exploded = compile_template(t.uri_template)
            except (DefinitionError, re.error) as exc:
                skipped.append(f"resource template {t.uri_template!r}: {exc}")
                continue
            staged.add_resource(
                ProxyTemplate(
                    uri=t.uri_template,
                    name=t.name,
                    signature=_NO_SIGNATURE,
                    title=t.title,
                    description=t.description,
                    mime_type=t.mime_type,
                    annotations=t.annotations,
                    meta=t.meta,
                    pattern=pattern,
                    variables=variables,
                    exploded=exploded,
                    backend=self,
                    raw=t.raw,
                )
            )
            if completions:
                for var in variables:
                    self._completer(
                        staged, t.uri_template, {"type": "ref/resource", "uri": t.uri_template}, var
                    )
        self.skipped = skipped
        return staged

    def _completer(
        self, staged: PluginRegistry, key: str, ref: dict[str, Any], argument: str
    ) -> None:
        completer = ProxyCompleter(fn=None, backend=self, ref=ref, argument=argument)  # type: ignore[arg-type]
        completer.plugin = self.plugin
        staged.completions[(key, argument)] = completer

    def _on_list_changed(self, kind: str) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._refresh_soon())

    async def _refresh_soon(self) -> None:
        await asyncio.sleep(0.05)  # let a burst of list_changed settle into one refresh
        client = self.client
        if client is None or self.state != "ready":
            return
        try:
            await self._compose(client)
        except Exception as exc:
            print(
                f"mcp-runner: proxy backend {self.name!r}: refresh failed: {_describe(exc)}",
                file=sys.stderr,
                flush=True,
            )

    def _on_resource_updated(self, uri: str) -> None:
        self.manager.runner.notify_resource_updated(uri)

    # -- forwarding -----------------------------------------------------------------------------
    def oldest_call(self) -> _Call | None:
        live = [c for c in self.calls if c.request is not None]
        return min(live, key=lambda c: c.started) if live else None

    def down_message(self) -> str:
        state = self.describe_state()
        return f"Backend {self.name!r} is {state}" + (f": {self.error}" if self.error else "")

    def describe_state(self) -> str:
        if self.state == "restarting":
            text = f"restarting (attempt {self.attempt}"
            if self.retry_at is not None and self.retry_at > time.monotonic():
                text += f", next try in {self.retry_at - time.monotonic():.1f} s"
            return text + ")"
        return self.state

    async def ensure_started(self) -> None:
        if self.state == "configured" and self.lazy:
            self.start()
        if self.state == "starting":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.startup_timeout):
                    await self.settled.wait()

    async def forward(
        self, request: Request, component: Any, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Run `op` against the backend for `request`, passing the backend's questions on.

        On the 2026-07-28 wire a question becomes an input-required round: the backend call is
        parked (it goes on waiting for the answer) under a token in the request's state, and
        the client's retry picks it up again. If the park is gone (expired, another process),
        the backend call starts over and earlier answers are replayed from the state.
        """
        call: _Call | None = None
        if request.modern and isinstance(request.state, dict):
            token = request.state.get(PARK_KEY)
            if isinstance(token, str):
                call = self.manager.unpark(token)
        if call is None:
            if self.state != "ready":
                await self.ensure_started()
            client = self.client
            if client is not None and client.closed:
                self._lost(client, client.close_reason)
                client = None
            if self.state != "ready" or client is None:
                raise BackendDown(self.down_message())
            call = _Call(self, component, request)
            # A 2026-07-28 backend asks inside its own answer (input rounds) and keeps nothing
            # between rounds: its call can run inline and a question becomes our own round.
            # And a question for a client that can answer none is refused on the spot.
            call.inline = call.inline or client.era == "modern" or not _can_answer(request)
            self.calls.append(call)
            try:
                if call.inline:
                    return await client.request(
                        method, params, progress=call.progress_callback(), tag=call, timeout=None
                    )
                call.task = task = await client.start(
                    method, params, progress=call.progress_callback(), tag=call
                )
                # Most calls end without a question: wait for the answer itself; a question
                # interrupts this wait (`wake`) and the rounds take over.
                call.direct = True
                try:
                    return await task
                except _client_errors().interrupted:
                    task.add_done_callback(call.wake)
                    call.direct = False
                finally:
                    if call.direct:  # ended here: questions it never took go elsewhere
                        call.direct = False
                        call.release()
            except _client_errors().closed as exc:
                self._drop(client, exc)
                raise
            finally:
                self.calls.remove(call)
        else:
            call.request = request
            call.component = component
        return await self._rounds(call, request)

    async def _rounds(self, call: _Call, request: Request) -> dict[str, Any]:
        """Wait for a started backend call, turning its questions into input rounds."""
        client_error = _client_errors().remote
        task = call.task
        assert task is not None
        self.calls.append(call)
        parked = False
        loop = asyncio.get_running_loop()
        try:
            while True:
                if call.pending is None and call.asks:
                    method, params, future = call.asks.popleft()
                    call.pending = (method, params, future, f"proxy_{call.seq}")
                    call.seq += 1
                if call.pending is not None:
                    method, params, future, key = call.pending
                    try:
                        answer = await request.ask(method, params, key, CAPABILITY[method])
                    except McpError as exc:
                        if not future.done():
                            future.set_exception(client_error(exc.code, exc.message, exc.data))
                    else:
                        if not future.done():
                            future.set_result(answer)
                    call.pending = None
                    continue
                if task.done():
                    try:
                        done: dict[str, Any] = task.result()
                    except _client_errors().closed as exc:
                        self._drop(task.client, exc)
                        raise
                    return done
                call.waiter = loop.create_future()
                await call.waiter
                call.waiter = None
        except InputRequired:
            # The engine seals request.state into the input-required result after this:
            # the token in it brings the client's retry back to this parked call.
            parked = True
            if call.token is None:
                call.token = secrets.token_urlsafe(16)
            if request.state is None:
                request.state = {}
            request.state[PARK_KEY] = call.token
            self.manager.park(call)
            raise
        finally:
            if call in self.calls:
                self.calls.remove(call)
            if not parked:
                call.abandon()

    async def _forward_question(self, params: dict[str, Any], info: Any) -> dict[str, Any]:
        """The backend asks something (elicitation, sampling): ask the client of the request it
        belongs to (when several are in flight and the wire does not say, the oldest; should
        that call end before taking the question, the next oldest)."""
        from ..client import McpClientError

        tagged = info.tag if isinstance(info.tag, _Call) else None
        while True:
            call = tagged or self.oldest_call()
            if call is None:
                raise McpClientError(
                    INVALID_REQUEST,
                    f"mcp-runner proxy: {info.method} from backend {self.name!r} arrived outside "
                    "any request it could be forwarded with",
                )
            if call.inline:
                request = call.request
                assert request is not None
                key = f"proxy_{call.seq}"  # the same on each round: answers are found again
                call.seq += 1
                try:
                    return await request.ask(info.method, params, key, CAPABILITY[info.method])
                except McpError as exc:
                    raise McpClientError(exc.code, exc.message, exc.data) from None
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            call.futures.add(future)
            call.asks.append((info.method, params, future))
            call.wake()
            try:
                answer: dict[str, Any] = await future
                return answer
            except _Unclaimed:
                if tagged is None:
                    continue
                raise McpClientError(
                    INTERNAL_ERROR, "the request this question belonged to ended"
                ) from None
            except asyncio.CancelledError:
                if future.cancelled():
                    raise McpClientError(
                        INTERNAL_ERROR, "the request this question belonged to ended"
                    ) from None
                raise
            finally:
                call.futures.discard(future)

    async def _on_log(self, message: Any) -> None:
        call = message.tag if isinstance(message.tag, _Call) else self.oldest_call()
        ctx = call.context() if call is not None else None
        level = message.level if message.level in LEVEL_RANK else "info"
        if ctx is not None:
            await ctx.log(level, message.data, logger=message.logger or self.name)
            return

        from ..log import get_logger

        get_logger("mcp_runner.proxy").info(
            "backend log", backend=self.name, level=level, logger=message.logger, data=message.data
        )

    # -- reporting ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        config = self.config
        out: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "summary": self.describe_state(),
            "plugin": self.plugin,
            "namespace": self.namespace or None,
            "transport": config.transport,
            "target": config.url
            if config.url is not None
            else " ".join([config.command or "", *config.args]),
            "lazy": self.lazy,
        }
        if self.state == "restarting":
            out["attempt"] = self.attempt
        if self.error:
            out["error"] = self.error
        if self.restarts:
            out["restarts"] = self.restarts
        client = self.client
        if client is not None and self.state == "ready":
            out["era"] = client.era
            out["protocol_version"] = client.protocol_version
            out["server"] = {"name": client.server_info.name, "version": client.server_info.version}
            pid = getattr(client.transport, "pid", None)
            if pid is not None:
                out["pid"] = pid
        if self.listing is not None:
            out["tools"] = len(self.listing["tools"]) - sum(
                s.startswith("tool ") for s in self.skipped
            )
            out["prompts"] = len(self.listing["prompts"])
            out["resources"] = len(self.listing["resources"])
            out["resource_templates"] = len(self.listing["templates"])
        if self.skipped:
            out["skipped"] = list(self.skipped)
        return out


def _describe(exc: BaseException, timeout: float | None = None) -> str:
    if isinstance(exc, TimeoutError) and timeout is not None and type(exc) is TimeoutError:
        return f"no answer to the handshake within {timeout:g} s"
    text = str(exc)
    if type(exc).__name__ in ("ConnectionClosed", "McpClientError"):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _can_answer(request: Request) -> bool:
    """Whether the request's client declared a capability a backend's question needs."""
    caps = request.client_capabilities
    return "elicitation" in caps or "sampling" in caps


def _depth() -> int:
    try:
        return int(os.environ.get(DEPTH_ENV, "0"))
    except ValueError:
        return 0


def _permanent(exc: BaseException) -> bool:
    """Failures that retrying cannot fix: no such command, an incompatible protocol, a
    composition the registry refuses."""
    from ..client import McpClientError
    from ..protocol.errors import UNSUPPORTED_VERSION
    from ..registry import CompositionError

    if isinstance(exc, CompositionError):
        return True
    if isinstance(exc.__cause__, FileNotFoundError | PermissionError | NotADirectoryError):
        return True
    return isinstance(exc, McpClientError) and exc.code == UNSUPPORTED_VERSION


# ---------------------------------------------------------------------------------------------
# The manager: every backend of one runner


class ProxyManager:
    def __init__(self, runner: Runner, section: ProxySettings) -> None:
        self.runner = runner
        self.section = section
        self.backends = {
            name: Backend(self, name, server, section) for name, server in section.servers.items()
        }
        self.lazy_waiting = {
            b for b in self.backends.values() if b.lazy and b.state == "configured"
        }
        self.parked: dict[str, _Call] = {}
        self.background: set[asyncio.Future[Any]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        if _depth() >= MAX_DEPTH:
            for backend in self.backends.values():
                if backend.state == "configured":
                    backend._failed(
                        f"not started: this server is a backend {_depth()} proxies deep (does a "
                        "backend run mcp-runner with this same config? give it its own --config or cwd)"
                    )
            self.lazy_waiting.clear()
        eager = [b for b in self.backends.values() if not b.lazy and b.state == "configured"]
        for backend in eager:
            backend.start()
        try:
            await self.settle(eager, self.section.startup_wait)
            yield
        finally:
            for token in list(self.parked):
                call = self.unpark(token)
                if call is not None:
                    call.abandon()
            await asyncio.gather(
                *(b.stop() for b in self.backends.values()), return_exceptions=True
            )

    async def settle(self, backends: list[Backend], timeout: float) -> None:
        waiting = [asyncio.ensure_future(b.settled.wait()) for b in backends if b.task is not None]
        if not waiting or timeout <= 0:
            for task in waiting:
                task.cancel()
            return
        _, pending = await asyncio.wait(waiting, timeout=timeout)
        for task in pending:
            task.cancel()

    async def wake(self, req: Any) -> None:
        """A request arrived: start the lazy backends; a listing, or a call for a name that is
        not there yet, waits for them to come up."""
        for backend in self.lazy_waiting:
            backend.start()
        needs = req.method in LIST_METHODS or (
            req.method in ("tools/call", "prompts/get", "resources/read") and req.target is None
        )
        starting = [b for b in self.lazy_waiting if b.state == "starting"]
        if needs and starting:
            await self.settle(starting, max(b.config.startup_timeout for b in starting))
            if req.target is None and req.method not in LIST_METHODS:
                req.session.server.resolve_target(req)
        self.lazy_waiting = {b for b in self.lazy_waiting if b.state == "starting"}

    def park(self, call: _Call) -> None:
        assert call.token is not None
        call.request = None
        self.parked[call.token] = call
        call.expiry = asyncio.get_running_loop().call_later(PARK_TTL, self._expire, call.token)

    def unpark(self, token: str) -> _Call | None:
        call = self.parked.pop(token, None)
        if call is not None and call.expiry is not None:
            call.expiry.cancel()
            call.expiry = None
        return call

    def _expire(self, token: str) -> None:
        call = self.unpark(token)
        if call is not None:
            call.abandon()


__all__ = [
    "Backend",
    "ProxyManager",
    "ProxySettings",
    "RestartPolicy",
    "ServerConfig",
    "load_servers_file",
    "status",
]
