"""Every hook a plugin may implement, grouped by the phase in which the host calls it.

Implement a hook with the ``@hookimpl`` marker on a module-level function (or a method of the
registered object), naming only the arguments you need::

    from mcp_runner import hookimpl

    @hookimpl
    def mcp_runner_middleware(settings):
        return [Middleware(timing, band="observe")]

pluggy's options hold on every hook: ``specname``, ``tryfirst``/``trylast``, wrappers
(``wrapper=True`` and the old-style ``hookwrapper=True``), ``firstresult`` and ``historic``
specs. Hooks marked *per plugin* are called once for each plugin (with that plugin's own
settings, where they take settings); a failure there fails that plugin alone. The others are
called once across all plugins. No hook is called per request: the host builds what requests
need (the middleware chain, the verifiers, the error mappers) once, at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import pluggy

from .protocol.observers import Outcome as Outcome  # re-exported: a plugin's imports
from .protocol.observers import RequestObserver as RequestObserver
from .protocol.observers import RequestStats as RequestStats

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel
    from structlog.typing import Processor

    from .auth import TokenVerifier
    from .config import ConfigSections, Settings
    from .middleware import Middleware, MiddlewareFn
    from .protocol.errors import McpError
    from .protocol.session import Request
    from .registry import PluginRegistry
    from .runner import Runner

PROJECT = "mcp_runner"
hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks a hook specification: the functions below, and those a plugin publishes for plugins of
its own (`mcp_runner_addhooks`)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's implementation of an ``mcp_runner`` hook: ``@hookimpl``, or with pluggy's
options, e.g. ``@hookimpl(tryfirst=True)``, ``@hookimpl(specname=...)``,
``@hookimpl(wrapper=True)``."""

Serve: TypeAlias = Callable[["Runner", dict[str, Any]], Awaitable[None]]
"""A transport: ``async serve(runner, options)`` serves until it is stopped."""
RegisterTransport: TypeAlias = Callable[[str, Serve], None]
"""What `mcp_runner_register_transports` receives: ``register(name, serve)``."""
AsgiApp: TypeAlias = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
"""An ASGI application: ``async app(scope, receive, send)``."""
RegisterRoute: TypeAlias = Callable[[str, AsgiApp], None]
"""What `mcp_runner_http_routes` receives: ``register(path, app)``."""
HealthCheck: TypeAlias = Callable[[], Awaitable[dict[str, Any]]]
"""A readiness check: ``async check()`` answers ``{"state": "ok" | "degraded" | "failing",
...details}``."""


@dataclass(slots=True)
class HttpAccess:
    """One HTTP request as the transport answered it, given to each `HttpObserver`."""

    method: str
    path: str
    client: str | None
    correlation_id: str
    """``X-Request-Id``, or the ``traceparent`` trace id, or a new id; sent back as
    ``X-Request-Id``."""
    session: str | None
    """The ``Mcp-Session-Id`` the request carried, or the one its answer opened."""
    status: int = 0
    bytes: int = 0
    duration: float = 0.0
    """Seconds from the request's arrival to its last body byte."""
    subject: str | None = None
    """The authenticated principal's subject, when the request carried valid credentials."""


HttpObserver: TypeAlias = Callable[[HttpAccess], None]
"""Told of every HTTP request once it is answered (refusals included); it must not block."""


# ----------------------------------------------------------------------------------------------
# Loading


@hookspec(historic=True)
def mcp_runner_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Publish your own hook specifications, for plugins of your plugin.

    :param pluginmanager: the host's pluggy ``PluginManager``; call
        ``pluginmanager.add_hookspecs(module)``.

    Called once when your plugin is registered (historic: plugins registered later still see
    the specs).
    """


@hookspec(firstresult=True)
def mcp_runner_adapt_plugin(name: str, obj: object) -> object | None:
    """Turn an object that is not a plugin into one: what an entry point names that implements
    no hook (an ASGI app, for the ``openapi`` plugin).

    :param name: the plugin's name (the entry point's, or the key given to the runner).
    :param obj: the loaded object.
    :return: a plugin object to register under `name` in its place, or None to pass. The
        first answer wins; an object no plugin adapts is registered as it is.

    Called once every plugin is registered, so an adapter loads before or after the objects
    it adapts alike. An adapter that raises fails its own plugin (phase ``adapt_plugin``).
    """


@hookspec
def mcp_runner_add_config(config: ConfigSections) -> None:
    """Declare the settings models your plugin reads, before the config is validated.

    :param config: call ``config.plugin_section(Model)`` to validate your own
        ``[plugins.<name>]`` table with a pydantic model, or ``config.add_section(key, Model)``
        for a top-level ``[key]`` table.

    *Per plugin.* Invalid values fail that plugin alone, naming the field.
    """


@hookspec
def mcp_runner_add_commands(cli: click.Group) -> None:
    """Add subcommands to the ``mcp-runner`` command line.

    :param cli: the root ``click.Group``; call ``cli.add_command(cmd)``.

    Called when the CLI is built. A plugin whose hook fails is left out; the CLI still works.
    """


# ----------------------------------------------------------------------------------------------
# Composition


@hookspec
def mcp_runner_register(registry: PluginRegistry, settings: BaseModel | dict[str, Any]) -> None:
    """Contribute tools, resources, resource templates, prompts and completions.

    :param registry: this plugin's view of the composed registry: ``add_tool(fn, ...)``,
        ``add_resource(fn, uri, ...)``, ``add_prompt(fn, ...)``, ``add_completion(ref, arg, fn)``.
    :param settings: the plugin's validated settings (or its raw config table without a model).

    *Per plugin.* Nothing is served until the whole hook has returned and every name is free:
    an exception or a name collision leaves the plugin out whole. ``Plugin`` objects implement
    this hook from their decorators.
    """


# ----------------------------------------------------------------------------------------------
# Requests (called once at start-up; the results run per request)


@hookspec
def mcp_runner_middleware(
    settings: Settings, runner: Runner
) -> list[Middleware | MiddlewareFn] | Middleware | MiddlewareFn | None:
    """Middleware for every JSON-RPC request, on every transport and in both eras.

    :param settings: the host's settings (``Settings``).
    :param runner: the ``Runner`` (its registry and authenticator), for what the middleware
        closes over.
    :return: ``Middleware`` objects (or bare ``async (request, call_next)`` callables,
        placed in the ``plugin`` band). The chain is ordered by band — ``errors``, ``observe``, ``auth``,
        ``plugin`` — then by ``order`` within a band; built once, never per request.
    """


@hookspec
def mcp_runner_token_verifiers(
    settings: Settings,
) -> list[TokenVerifier] | TokenVerifier | None:
    """Token verifiers for HTTP bearer authentication.

    :param settings: the host's settings.
    :return: ``mcp_runner.auth.TokenVerifier`` objects (``async verify(token) -> Principal |
        None``), or a single one; the authenticator asks each in order, the first principal wins.
    """


@hookspec(firstresult=True)
def mcp_runner_handle_error(
    request: Request, exc: BaseException, settings: Settings
) -> McpError | str | None:
    """Map an exception raised while answering a request to what the client sees.

    :param request: the ``Request`` (method, target, plugin, correlation id).
    :param exc: the exception.
    :param settings: the host's settings (``Settings``).
    :return: ``None`` to pass; a ``McpError`` for a JSON-RPC error, or a string for an
        ``isError`` tool result. The first non-None result wins; the builtin is the last resort.

    Called only when an exception escapes; the success path never reaches pluggy. A mapper
    that raises is reported on stderr and the next one is asked; its plugin stays loaded.
    """


@hookspec
def mcp_runner_log_processors(settings: Settings) -> list[Processor] | Processor | None:
    """structlog processors added to the pipeline (redaction, enrichment).

    :param settings: the host's settings.
    :return: processors ``(logger, method_name, event_dict) -> event_dict``, or a single one,
        run before the builtin redaction and rendering.
    """


# ----------------------------------------------------------------------------------------------
# Serving


@hookspec
def mcp_runner_register_transports(register: RegisterTransport) -> None:
    """Offer transports for ``mcp-runner serve --transport NAME``.

    :param register: call ``register(name, serve)`` where ``serve(runner, options)`` is an
        async function that serves until stopped. ``stdio`` and ``http`` are builtin plugins.
    """


@hookspec
def mcp_runner_lifespan(
    runner: Runner, settings: BaseModel | dict[str, Any]
) -> AbstractAsyncContextManager[Any] | None:
    """An async context manager entered before serving and exited, in reverse, after.

    :param runner: the ``Runner``.
    :param settings: the plugin's settings.
    :return: an async context manager, or None.

    *Per plugin.* A plugin whose lifespan fails to enter is left out; the others serve.
    """


@hookspec
def mcp_runner_server_ready(runner: Runner, transport: str) -> None:
    """Serving has begun.

    :param runner: the ``Runner``.
    :param transport: the transport's name: ``stdio``, ``http``, or one a plugin registered.

    Called once per ``serve``, after the lifespans are entered, when the transport accepts
    messages.
    """


# ----------------------------------------------------------------------------------------------
# Operating (called once, when the HTTP application is built or the server starts)


@hookspec
def mcp_runner_http_routes(register: RegisterRoute, runner: Runner) -> None:
    """Serve more paths on the HTTP port, beside the MCP endpoint (``/healthz``, ``/metrics``).

    :param register: call ``register(path, app)`` with an exact path and an ASGI application;
        the MCP path and the RFC 9728 metadata paths cannot be taken, and a path registered
        twice fails the later plugin.
    :param runner: the ``Runner``.

    Called once when the HTTP application is built. The routes are checked after the MCP
    path, so they cost MCP requests nothing; they are not behind the bearer token.
    """


@hookspec
def mcp_runner_http_observers(runner: Runner) -> list[HttpObserver] | HttpObserver | None:
    """Observe every HTTP request once it is answered: the access log, the refusal counts.

    :param runner: the ``Runner``.
    :return: callables ``observer(access)`` taking an ``HttpAccess`` (method, path, status,
        bytes, duration, client, correlation id, session), or a single one.

    Called once when the HTTP application is built. With no observer the transport measures
    nothing; with any, it times each request once and gives every observer the same record.
    An observer that raises is reported on stderr; the response is already sent.
    """


@hookspec
def mcp_runner_request_observers(
    runner: Runner,
) -> list[RequestObserver | RequestStats] | RequestObserver | RequestStats | None:
    """Observe every JSON-RPC request: metrics, traces.

    :param runner: the ``Runner``.
    :return: ``RequestObserver`` objects, or a single one; or ``runner.request_stats``, to have
        the host keep its request counts and latencies (`RequestStats`).

    Called once at start-up. With no observer a request is not even timed; with any, it is
    timed once, the statistics are updated in place, and every observer is told of its start
    and its end. Cheaper than a middleware (no coroutine, no place in the chain), an observer
    cannot change the request or its answer. One that raises is reported on stderr and the
    request goes on.
    """


@hookspec
def mcp_runner_health_checks(runner: Runner) -> dict[str, HealthCheck] | None:
    """Readiness checks that ``GET /readyz`` runs: your backends, your store.

    :param runner: the ``Runner``.
    :return: a dict of component name to ``async check()``, whose answer is a dict with a
        ``state`` of ``ok``, ``degraded`` or ``failing`` and any details (shown as they are).

    Called once, at the first ``/readyz``. A component that is ``failing`` makes the server
    not ready (503); ``degraded`` does too with ``[health] ready_when_degraded = false``. A
    check that raises or takes longer than ``[health] check_timeout`` counts as failing.
    """


@hookspec(firstresult=True)
def mcp_runner_state_backend(settings: BaseModel | dict[str, Any]) -> object | None:
    """Offer the state backend that replicas of this server share (the Redis plugin does).

    :param settings: the plugin's settings.
    :return: a ``mcp_runner.transports.http.StateBackend``, or None to pass. The first answer
        wins. Without any, legacy HTTP sessions live in the serving process alone.

    *Per plugin.* Called once, when the HTTP endpoint is built; the backend connects on the
    first request. A backend lets any replica serve any request of a legacy session, replay
    any stream, deliver any answer to a server-to-client request, and hear every change.
    """


# ----------------------------------------------------------------------------------------------
# Reporting


@hookspec
def mcp_runner_status(runner: Runner) -> list[dict[str, Any]] | None:
    """Sub-entries that ``mcp-runner plugins`` shows under your plugin (the proxy's backends).

    :param runner: the ``Runner``, started (and, with ``mcp-runner plugins --wait``, inside
        its lifespans).
    :return: a list of dicts with at least ``name`` and ``state`` (``summary``, ``error``,
        ``tools``, ``resources`` and ``prompts`` are shown when present), or None.

    *Per plugin.* A failure here is shown as a ``failed`` entry; the plugin stays loaded.
    """
