"""`Authenticator`: finds who made a request by asking the token verifiers (behind a bounded
cache), and decides what that principal may see and do (scopes)."""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import hashlib
import os
import time
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..log import get_logger
from .bearer import B64TOKEN, MAX_TOKEN_LENGTH
from .errors import AuthError, AuthUnavailable
from .metadata import (
    LOCAL_HOSTS,
    canonical_uri,
    host_name,
    metadata_url,
    protected_resource_metadata,
)
from .principal import Principal
from .settings import resource_server_settings
from .tracecontext import incoming_trace
from .verifier import DEFAULT_CACHE_TTL, TokenVerifier

if TYPE_CHECKING:
    from ..config import Settings
    from ..protocol.catalog import ServedComponent
    from ..protocol.session import Request
    from ..registry import Registry

#: The environment variable that carries a stdio server's token.
TOKEN_ENV = "MCP_RUNNER_TOKEN"
# Characters that never occur in a Host header this server trusts or names in a challenge.
_NOT_IN_HOST = '"\\/ ?#@'

# The resource the token being verified must be meant for (read with `expected_resource`).
_resource: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mcp_runner_auth_resource", default=None
)
# The principal `Authenticator.authenticate` found for the HTTP request being served.
_authenticated: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "mcp_runner_auth_principal", default=None
)
# Where that request's challenges point (its public scheme, Host and prefix), for a 403 later.
_challenge_metadata: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mcp_runner_auth_metadata_url", default=None
)


def expected_resource() -> str | None:
    """The canonical URI of the resource a token being verified must be meant for (or None)."""
    return _resource.get()


class Authenticator:
    """Authenticates requests with the verifiers, and decides what a principal may see and do.

    Built by `Runner.start` when any plugin offers token verifiers; the transports call
    `authenticate` (HTTP) or `principal_from_environment` (stdio), the engine `visible`, the
    builtin ``auth`` middleware `authorize`.
    """

    def __init__(
        self,
        verifiers: Iterable[TokenVerifier],
        settings: Settings,
        *,
        registry: Registry | None = None,
    ) -> None:
        self.verifiers = list(verifiers)
        self.settings = settings
        self.config = resource_server_settings(settings)
        self.registry = registry
        http = settings.http
        self.path = http.path
        self.resource = self.config.resource
        self._allowed_hosts = list(http.allowed_hosts or [])
        self._bound_local = http.host in LOCAL_HOSTS
        self._cache: collections.OrderedDict[str, tuple[float, Principal]] = (
            collections.OrderedDict()
        )
        self._cache_size = self.config.token_cache_size
        self._plugin_scopes: dict[str, tuple[str, ...]] = {}
        if (
            self.config.requires_audience()
            and self.resource is None
            and not self._bound_local
            and not self._allowed_hosts
        ):
            get_logger("mcp_runner.auth").warning(
                "auth: no [auth] resource and no [http] allowed_hosts: the Host header cannot be "
                "trusted, so token audiences cannot be checked and JWT or introspected tokens "
                "are refused; set auth.resource to this server's public URL"
            )

    # -- who is asking --------------------------------------------------------------------------
    async def authenticate(
        self,
        headers: dict[str, str],
        query: bytes | str | None = None,
        scheme: str = "http",
        root_path: str = "",
    ) -> Principal:
        """The principal of an HTTP request, or an `AuthError` (401, or 400 when malformed).

        The ``Authorization`` header is removed from `headers` so that the token never reaches
        middleware or logs; a tool reaches it only through the principal (`Principal.token_for`).
        `query` (the raw query string) is refused when it carries an
        ``access_token``: tokens in URLs leak into logs and histories. `scheme` is the one the
        client used (``https`` behind a TLS-terminating proxy it trusts), and `root_path` the
        prefix the server is mounted under (a proxy's ``X-Forwarded-Prefix``, an ASGI mount).
        """
        header = headers.pop("authorization", None)
        challenge: dict[str, Any] = {
            "resource_metadata": self.metadata_url(headers, scheme, root_path),
            "scopes": self.challenge_scopes(),
        }
        _challenge_metadata.set(challenge["resource_metadata"])
        if query:
            text = query.decode("latin-1") if isinstance(query, bytes) else query
            if any(name == "access_token" for name, _ in parse_qsl(text, keep_blank_values=True)):
                raise AuthError.invalid_request(
                    "access tokens are accepted only in the Authorization header, "
                    "never in the URL query",
                    **challenge,
                )
        if header is None:
            raise AuthError.missing_token(**challenge)
        auth_scheme, _, credentials = header.strip().partition(" ")
        if auth_scheme.lower() != "bearer":
            raise AuthError.missing_token(
                f"Unauthorized: this server accepts only Bearer access tokens, not {auth_scheme[:20]!r}",
                **challenge,
            )
        token = credentials.strip()
        if not token or not B64TOKEN.fullmatch(token):
            raise AuthError.invalid_request(
                "the Authorization header is not a well-formed Bearer token", **challenge
            )
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthError.invalid_token("the token is too long", **challenge)
        with incoming_trace(headers):  # the authorization server's calls join the trace
            principal = await self.verify(
                token, self.resource_uri(headers, scheme, root_path), challenge
            )
        _authenticated.set(principal)
        return principal

    async def verify(
        self, token: str, resource: str | None = None, challenge: dict[str, Any] | None = None
    ) -> Principal:
        """Ask each verifier in order (behind a bounded cache); the first principal wins, and
        holds `token` as its `Principal.token`."""
        challenge = challenge or {"resource_metadata": None, "scopes": ()}
        resource = resource if resource is not None else self.resource
        key = hashlib.sha256(f"{resource or ''}\x00{token}".encode()).hexdigest()
        hit = self._cache.get(key)
        if hit is not None:
            if hit[0] > time.monotonic():
                self._cache.move_to_end(key)
                return hit[1]
            del self._cache[key]
        refusal: AuthError | None = None
        unavailable: AuthUnavailable | None = None
        reset = _resource.set(resource)
        try:
            for verifier in self.verifiers:
                try:
                    found = await verifier.verify(token)
                except AuthUnavailable as exc:
                    unavailable = unavailable or exc
                    continue
                except AuthError as exc:
                    refusal = refusal or exc
                    continue
                except Exception as exc:  # a broken verifier refuses; it never lets a token in
                    get_logger("mcp_runner.auth").error(
                        "token verifier failed",
                        verifier=type(verifier).__name__,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    continue
                if found is None:
                    continue
                principal = _as_principal(found, token)
                if principal is None:
                    get_logger("mcp_runner.auth").error(
                        "token verifier returned no usable principal",
                        verifier=type(verifier).__name__,
                    )
                    continue
                self._remember(key, principal, getattr(verifier, "cache_ttl", DEFAULT_CACHE_TTL))
                return principal
        finally:
            _resource.reset(reset)
        if unavailable is not None:
            raise unavailable  # could not check it: not the client's fault, keep its token
        description = (
            refusal.description
            if refusal is not None and refusal.description
            else "the token is not recognised"
        )
        get_logger("mcp_runner.auth").info("token refused", reason=description, token_id=key[:12])
        raise AuthError.invalid_token(description, **challenge)

    def _remember(self, key: str, principal: Principal, ttl: float | None) -> None:
        if self._cache_size <= 0:
            return
        ttl = DEFAULT_CACHE_TTL if ttl is None else float(ttl)
        expires = principal.expires_at
        if expires is not None:
            ttl = min(ttl, expires - time.time())
        if ttl <= 0:
            return
        self._cache[key] = (time.monotonic() + ttl, principal)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def principal_from_environment(
        self, environ: MutableMapping[str, str] | None = None
    ) -> Principal | None:
        """stdio: the principal of ``MCP_RUNNER_TOKEN`` (removed from the environment so that child
        processes never inherit it), or None when it is not set. Raises `AuthError` when the
        token is refused."""
        env = os.environ if environ is None else environ
        token = env.pop(TOKEN_ENV, None)
        if not token:
            return None
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token or len(token) > MAX_TOKEN_LENGTH or not B64TOKEN.fullmatch(token):
            raise AuthError.invalid_token(f"{TOKEN_ENV} is not a well-formed token")
        return await self.verify(token, self.resource)

    # -- where this server is -------------------------------------------------------------------
    def resource_uri(
        self, headers: Mapping[str, str] | None, scheme: str = "http", root_path: str = ""
    ) -> str | None:
        """This server's canonical URI: ``[auth] resource``, else
        ``<scheme>://<Host><root_path><path>`` when the Host header can be trusted (a loopback
        bind, or one of ``[http] allowed_hosts``)."""
        if self.resource is not None:
            return self.resource
        host = (headers or {}).get("host", "")
        if not host or not self._trusted_host(host):
            return None
        return canonical_uri(f"{scheme}://{host}{root_path}{self.path}")

    def _trusted_host(self, host: str) -> bool:
        if any(c in host for c in _NOT_IN_HOST):
            return False
        name = host_name(host)
        if self._allowed_hosts:
            return host in self._allowed_hosts or name in self._allowed_hosts
        return self._bound_local and name in LOCAL_HOSTS

    def metadata_url(
        self, headers: Mapping[str, str] | None, scheme: str = "http", root_path: str = ""
    ) -> str | None:
        """Where the protected resource metadata of this server is (RFC 9728 §3.1)."""
        resource = self.resource_uri(headers, scheme, root_path)
        if resource is None:
            host = (headers or {}).get("host", "")
            if not host or any(c in host for c in _NOT_IN_HOST):
                return None
            resource = canonical_uri(f"{scheme}://{host}{root_path}{self.path}")
        return metadata_url(resource)

    def metadata(
        self, headers: Mapping[str, str] | None, scheme: str = "http", root_path: str = ""
    ) -> dict[str, Any]:
        """RFC 9728 protected resource metadata."""
        config = self.config
        resource = self.resource_uri(headers, scheme, root_path)
        if resource is None:
            host = (headers or {}).get("host", "")
            resource = canonical_uri(f"{scheme}://{host}{root_path}{self.path}") if host else ""
        return protected_resource_metadata(
            resource,
            config.authorization_servers or config.default_authorization_servers(),
            self.scopes_supported(),
            config.resource_name or self.settings.server.name,
        )

    def scopes_supported(self) -> list[str]:
        """The metadata's ``scopes_supported``: as configured, else every scope a tool,
        resource, prompt or plugin requires."""
        if self.config.scopes_supported is not None:
            return list(self.config.scopes_supported)
        found: set[str] = set()
        for name in self.settings.plugins:
            found.update(self._scopes_of_plugin(name))
        registry = self.registry
        if registry is not None:
            for table in (registry.tools, registry.resources, registry.templates, registry.prompts):
                for component in table.values():
                    found.update(self.required_scopes(component))
        return sorted(found)

    def challenge_scopes(self) -> list[str]:
        """The ``scope`` of a 401 challenge: ``scopes_supported`` when configured."""
        return list(self.config.scopes_supported or ())

    # -- what a principal may see and do --------------------------------------------------------
    def refresh_principal(self, req: Request) -> None:
        """Use the principal of this request's own token, not the one that opened its session.

        A legacy HTTP session keeps the principal of its ``initialize``; a later request of the
        same subject may carry a refreshed (or down-scoped) token, whose scopes are what count.
        """
        current = _authenticated.get()
        held = req.principal
        if (
            current is not None
            and held is not None
            and current is not held
            and current.subject == held.subject
        ):
            req.principal = current

    def _principal_of(self, req: Request) -> Principal | None:
        principal: Principal | None = req.principal
        if principal is None:
            return None
        expires = principal.expires_at
        if expires is not None and time.time() > expires + self.config.expiry_leeway():
            return None  # e.g. a stdio session that outlived its MCP_RUNNER_TOKEN
        return principal

    def required_scopes(self, component: ServedComponent) -> frozenset[str]:
        """Scopes needed for a tool, prompt or resource: its own ``scopes`` and its plugin's."""
        own = getattr(component, "scopes", None) or ()
        return frozenset(own) | frozenset(self._scopes_of_plugin(component.plugin))

    def _scopes_of_plugin(self, plugin: str) -> tuple[str, ...]:
        found = self._plugin_scopes.get(plugin)
        if found is None:
            try:
                found = tuple(self.settings.plugin(plugin).scopes) if plugin else ()
            except Exception:
                found = ()
            self._plugin_scopes[plugin] = found
        return found

    def visible(self, req: Request, component: ServedComponent) -> bool:
        """Whether `component` is listed for the request's principal."""
        required = self.required_scopes(component)
        if not required:
            return True
        principal = self._principal_of(req)
        return principal is not None and required <= principal.scopes

    def authorize(self, req: Request, component: ServedComponent) -> None:
        """Refuse (`AuthError` 403 ``insufficient_scope``; 401 without credentials) a request whose
        principal lacks a scope `component` needs."""
        required = self.required_scopes(component)
        if not required:
            return
        principal = self._principal_of(req)
        held = principal.scopes if principal is not None else frozenset()
        missing = sorted(required - held)
        if not missing:
            return
        what = _describe(req, component)
        headers = req.headers
        resource_metadata = (
            (_challenge_metadata.get() or self.metadata_url(headers)) if headers else None
        )
        scopes = sorted(required)
        if principal is None:
            hint = f" (set {TOKEN_ENV})" if req.transport == "stdio" else ""
            raise AuthError.missing_token(
                f"Unauthorized: {what} needs scope(s) {', '.join(scopes)} and this session "
                f"has no credentials{hint}",
                resource_metadata=resource_metadata,
                scopes=scopes,
            )
        raise AuthError.insufficient_scope(
            what, scopes, missing, resource_metadata=resource_metadata
        )

    async def aclose(self) -> None:
        """Close the verifiers that hold resources (HTTP clients): their ``aclose()``."""
        for verifier in self.verifiers:
            close = getattr(verifier, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


def _as_principal(found: Any, token: str) -> Principal | None:
    if isinstance(found, Principal):
        return dataclasses.replace(found, token=token) if found.subject else None
    subject = getattr(found, "subject", None)
    if not isinstance(subject, str) or not subject:
        return None
    scopes = getattr(found, "scopes", ()) or ()
    claims = getattr(found, "claims", None)
    return Principal(
        subject, frozenset(scopes), dict(claims) if isinstance(claims, Mapping) else {}, token
    )


def _describe(req: Request, component: ServedComponent) -> str:
    kind = type(component).__name__.lower()
    if kind == "resourcetemplate":
        kind = "resource"
    name = getattr(component, "name", None) or getattr(component, "uri", "")
    if kind == "resource":
        name = req.params.get("uri") or getattr(component, "uri", name)
    return f"{kind.capitalize()} {name!r}"
