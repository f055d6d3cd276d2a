"""Bearer-token authentication from the ``[auth]`` table, and per-scope authorization.

Nothing configured: no verifiers, and the server stays open as before. A broken ``[auth]``
table (or JWT verification without joserfc) never leaves it open: a stand-in verifier then
refuses every token, and the reason is printed at start.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import ValidationError

from ..config import ConfigError, describe
from ..hookspecs import hookimpl
from ..middleware import Handler, Middleware

SECTION = "auth"
# Methods whose target needs the principal's scopes (the lists are filtered by `visible`).
GUARDED = frozenset(
    {"tools/call", "prompts/get", "resources/read", "resources/subscribe", "completion/complete"}
)


@hookimpl
def mcp_runner_add_config(config: Any) -> None:
    if not config.has_section(SECTION):
        return  # nothing configured: the auth module is not even imported
    from ..auth import AuthSettings

    try:
        config.add_section(SECTION, AuthSettings)
    except ConfigError as exc:
        # Left unvalidated: mcp_runner_token_verifiers turns it into a refuse-all verifier.
        _error(f"{exc}; every authenticated request will be refused until it is fixed")


@hookimpl
def mcp_runner_token_verifiers(settings: Any) -> list[Any]:
    section = settings.section(SECTION)
    if section is None:
        return []
    from ..auth import (
        AuthSettings,
        IntrospectionVerifier,
        JwtVerifier,
        MisconfiguredVerifier,
        StaticTokenVerifier,
    )

    if not isinstance(section, AuthSettings):
        try:
            section = AuthSettings.model_validate(section)
        except ValidationError as exc:
            return [MisconfiguredVerifier(f"[auth]: {describe(exc)}")]
    verifiers: list[Any] = []
    if section.tokens:
        verifiers.append(StaticTokenVerifier.from_settings(section.tokens))
    makers: list[tuple[str, Callable[[], Any]]] = []
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
            verifiers.append(MisconfiguredVerifier(reason))
    return verifiers


@hookimpl
def mcp_runner_middleware(settings: Any) -> Middleware:
    return Middleware(_require_scopes, band="auth", name="auth-scopes")


async def _require_scopes(ctx: Any, call_next: Handler) -> Any:
    authenticator = getattr(ctx.session.server.runner, "authenticator", None)
    if authenticator is not None:
        authenticator.refresh_principal(ctx)
        if ctx.method in GUARDED:
            target = _target(ctx)
            if target is not None:
                authenticator.authorize(ctx, target)
    return await call_next(ctx)


def _target(ctx: Any) -> Any:
    if ctx.target is not None:
        return ctx.target
    registry = ctx.session.server.registry
    params = ctx.params
    if ctx.method == "resources/subscribe":
        uri = params.get("uri")
        return registry.find_resource(uri) if isinstance(uri, str) else None
    if ctx.method == "completion/complete":
        ref = params.get("ref")
        if not isinstance(ref, dict):
            return None
        if ref.get("type") == "ref/prompt":
            return registry.prompts.get(ref.get("name"))
        if ref.get("type") == "ref/resource":
            uri = ref.get("uri")
            return registry.templates.get(uri) or registry.resources.get(uri)
    return None


@hookimpl
def mcp_runner_lifespan(runner: Any) -> Any:
    authenticator = getattr(runner, "authenticator", None)
    if authenticator is None:
        return None
    return _serving(runner, authenticator)


@contextlib.asynccontextmanager
async def _serving(runner: Any, authenticator: Any) -> AsyncIterator[None]:
    if authenticator.registry is None:
        authenticator.registry = runner.registry  # for the default scopes_supported
    try:
        yield
    finally:
        await authenticator.aclose()  # HTTP clients of JWKS and introspection


def _error(message: str) -> None:
    print(f"mcp-runner: error: {message}", file=sys.stderr, flush=True)
