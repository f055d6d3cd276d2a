"""Bearer-token authentication from the ``[auth]`` table, and per-scope authorization.

The builtin ``auth`` plugin: the static, JWT and introspection verifiers the table
configures, and the middleware that refuses a request whose principal lacks a scope its
tool, prompt or resource needs (the first line above is its description in
``mcp-runner plugins``).

Nothing configured: no verifiers, and the server stays open as before (the settings and
verifier modules are not even imported). A broken ``[auth]`` table (or JWT verification
without joserfc) never leaves it open: a stand-in verifier then refuses every token, and the
reason is printed at start.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ...config import ConfigError, describe
from ...hookspecs import hookimpl
from ...middleware import Handler, Middleware, MiddlewareFn

if TYPE_CHECKING:
    from ...auth import Authenticator, TokenVerifier
    from ...components import Component
    from ...config import ConfigSections, Settings
    from ...protocol.session import Request
    from ...registry import Registry
    from ...runner import Runner

#: The config table this plugin reads.
SECTION = "auth"
#: Methods whose target needs the principal's scopes (the lists are filtered by `visible`).
GUARDED = frozenset(
    {"tools/call", "prompts/get", "resources/read", "resources/subscribe", "completion/complete"}
)


@hookimpl
def mcp_runner_add_config(config: ConfigSections) -> None:
    """Validate the ``[auth]`` table, when there is one, with `AuthSettings`."""
    if not config.has_section(SECTION):
        return  # nothing configured: the settings module is not even imported
    from .settings import AuthSettings

    try:
        config.add_section(SECTION, AuthSettings)
    except ConfigError as exc:
        # Left unvalidated: mcp_runner_token_verifiers turns it into a refuse-all verifier.
        _error(f"{exc}; every authenticated request will be refused until it is fixed")


@hookimpl
def mcp_runner_token_verifiers(settings: Settings) -> list[TokenVerifier]:
    """The verifiers the ``[auth]`` table configures, in order: static tokens, JWT,
    introspection; or, when any of them cannot be set up, only a stand-in that refuses every
    token (static ones too: a half-configured server fails closed)."""
    if settings.section(SECTION) is None:
        return []
    from .introspection import IntrospectionVerifier
    from .jwt import JwtVerifier
    from .misconfigured import MisconfiguredVerifier
    from .settings import auth_settings
    from .static import StaticTokenVerifier

    try:
        section = auth_settings(settings)
    except ValidationError as exc:
        return [MisconfiguredVerifier(f"[auth]: {describe(exc)}")]
    verifiers: list[TokenVerifier] = []
    if section.tokens:
        verifiers.append(StaticTokenVerifier.from_settings(section.tokens))
    makers: list[tuple[str, Callable[[], TokenVerifier]]] = []
    if section.jwt is not None:
        makers.append(("jwt", functools.partial(JwtVerifier, section.jwt)))
    if section.introspection is not None:
        makers.append(
            ("introspection", functools.partial(IntrospectionVerifier, section.introspection))
        )
    for kind, make in makers:
        try:
            verifiers.append(make())
        except Exception as exc:
            reason = f"[auth.{kind}]: {exc}"
            _error(f"{reason}; every authenticated request will be refused until it is fixed")
            return [MisconfiguredVerifier(reason)]
    return verifiers


@hookimpl
def mcp_runner_middleware(settings: Settings, runner: Runner) -> Middleware | None:
    """The scope check, in the ``auth`` band; none when authentication is off."""
    authenticator = runner.authenticator
    if authenticator is None:
        return None
    return Middleware(_scope_check(authenticator, runner.registry), band="auth", name="auth-scopes")


def _scope_check(authenticator: Authenticator, registry: Registry) -> MiddlewareFn:
    async def require_scopes(request: Request, call_next: Handler) -> Any:
        authenticator.refresh_principal(request)
        if request.method in GUARDED:
            target = request.target
            if target is None:
                target = _named_component(registry, request)
            if target is not None:
                authenticator.authorize(request, target)
        return await call_next(request)

    return require_scopes


def _named_component(registry: Registry, req: Request) -> Component | None:
    """The component of a guarded method the engine resolves no target for."""
    params = req.params
    if req.method == "resources/subscribe":
        uri = params.get("uri")
        found = registry.find_resource(uri) if isinstance(uri, str) else None
        return found[0] if found is not None else None
    if req.method == "completion/complete":
        ref = params.get("ref")
        if not isinstance(ref, dict):
            return None
        kind, name, uri = ref.get("type"), ref.get("name"), ref.get("uri")
        if kind == "ref/prompt" and isinstance(name, str):
            return registry.prompts.get(name)
        if kind == "ref/resource" and isinstance(uri, str):
            return registry.templates.get(uri) or registry.resources.get(uri)
    return None


@hookimpl
def mcp_runner_lifespan(runner: Runner) -> contextlib.AbstractAsyncContextManager[None] | None:
    """While serving: the authenticator knows the registry (for its default
    ``scopes_supported``); after: the verifiers' HTTP clients are closed."""
    authenticator = runner.authenticator
    if authenticator is None:
        return None
    return _serving(authenticator, runner.registry)


@contextlib.asynccontextmanager
async def _serving(authenticator: Authenticator, registry: Registry) -> AsyncIterator[None]:
    if authenticator.registry is None:
        authenticator.registry = registry
    try:
        yield
    finally:
        await authenticator.aclose()


def _error(message: str) -> None:
    print(f"mcp-runner: error: {message}", file=sys.stderr, flush=True)
