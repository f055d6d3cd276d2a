"""Bearer-token authentication (OAuth 2.1 resource server) and scope-based authorization.

The host turns it on when a plugin offers token verifiers (``mcp_runner_token_verifiers``);
the builtin ``auth`` plugin offers them from the ``[auth]`` config table::

    [auth]
    resource = "https://mcp.example.com/mcp"        # this server's canonical URI (RFC 8707)
    authorization_servers = ["https://login.example.com"]

    [[auth.tokens]]                                 # static tokens
    token = "..."                                   # or MCP_RUNNER_AUTH__TOKENS='[...]'
    subject = "ci"
    scopes = ["files:read"]

    [auth.jwt]                                      # signed JWT access tokens
    jwks_url = "https://login.example.com/.well-known/jwks.json"
    issuer = "https://login.example.com"

    [auth.introspection]                            # opaque tokens (RFC 7662)
    endpoint = "https://login.example.com/oauth/introspect"
    client_id = "mcp-server"
    client_secret = "..."

Every HTTP request must carry ``Authorization: Bearer <token>`` (never a query parameter);
verifiers are asked in order and the first `Principal` wins. A tool, prompt or resource
whose required scopes (its own ``scopes=[...]`` plus its plugin's ``[plugins.<name>] scopes``)
the principal lacks is hidden from lists and refused with 403 ``insufficient_scope``.

A verifier is any object with ``async verify(token) -> Principal | None``: return None for a
token it does not know, raise `AuthError` (e.g. ``AuthError.invalid_token("expired")``) for
one it knows is bad. ``expected_resource()`` tells it which resource URI the token must be
meant for. A verifier may set ``cache_ttl`` (seconds): how long the host may reuse its answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import contextvars
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .protocol.errors import INVALID_REQUEST, McpError

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "FORBIDDEN",
    "UNAUTHORIZED",
    "AuthError",
    "AuthSettings",
    "AuthUnavailable",
    "Authenticator",
    "IntrospectionVerifier",
    "JwtVerifier",
    "Principal",
    "StaticTokenVerifier",
    "expected_resource",
]

#: JSON-RPC error codes of refusals (implementation-defined server-error range).
UNAUTHORIZED = -32001
FORBIDDEN = -32003
UNAVAILABLE = -32004

WELL_KNOWN = "/.well-known/oauth-protected-resource"
TOKEN_ENV = "MCP_RUNNER_TOKEN"
MAX_TOKEN_LENGTH = 16 * 1024
MAX_JWKS_BYTES = 1024 * 1024
DEFAULT_CACHE_SECONDS = 300.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Characters allowed inside an error_description (RFC 6750 §3): %x20-21 / %x23-5B / %x5D-7E
_UNSAFE_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_KTY_OF_ALG = {
    **{f"RS{n}": "RSA" for n in (256, 384, 512)},
    **{f"PS{n}": "RSA" for n in (256, 384, 512)},
    **{f"ES{n}": "EC" for n in (256, 384, 512)},
    "ES256K": "EC",
    "EdDSA": "OKP",
    "Ed25519": "OKP",
    "Ed448": "OKP",
    **{f"HS{n}": "oct" for n in (256, 384, 512)},
}
DEFAULT_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "Ed25519",
]
JWT_MISSING = "JWT verification needs the joserfc package: pip install 'mcp-runner[jwt]'"
HTTPX_MISSING = "fetching keys or introspecting tokens needs the httpx package: pip install httpx"

_resource: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mcp_runner_auth_resource", default=None
)
# The principal `Authenticator.authenticate` found for the HTTP request being served.
_authenticated: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "mcp_runner_auth_principal", default=None
)


def expected_resource() -> str | None:
    """The canonical URI of the resource a token being verified must be meant for (or None)."""
    return _resource.get()


# ----------------------------------------------------------------------------------------------
# Who made a request


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who (`subject`), what it may do (`scopes`), and the token's
    claims (never the token itself)."""

    subject: str
    scopes: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has_scopes(self, required: Iterable[str]) -> bool:
        return all(scope in self.scopes for scope in required)

    @property
    def expires_at(self) -> float | None:
        exp = self.claims.get("exp")
        return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


# ----------------------------------------------------------------------------------------------
# Refusals


class AuthError(McpError):
    """A refusal for authentication (401), authorization (403) or a malformed request (400).

    Over HTTP it is answered with its status and a ``WWW-Authenticate: Bearer ...`` challenge
    (RFC 6750 §3, RFC 9728 §5.1); elsewhere it is a JSON-RPC error.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 401,
        error: str | None = None,
        description: str | None = None,
        scopes: Iterable[str] = (),
        resource_metadata: str | None = None,
        code: int | None = None,
    ) -> None:
        if code is None:
            code = {401: UNAUTHORIZED, 403: FORBIDDEN, 503: UNAVAILABLE}.get(
                status, INVALID_REQUEST
            )
        self.error = error
        self.description = description
        self.scopes = tuple(scopes)
        self.resource_metadata = resource_metadata
        data: dict[str, Any] = {}
        if error:
            data["error"] = error
        if description:
            data["error_description"] = description
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        if resource_metadata:
            data["resource_metadata"] = resource_metadata
        super().__init__(code, message, data or None)
        self.http_status = status
        challenge = bearer_challenge(resource_metadata, self.scopes, error, description)
        self.http_headers = {"WWW-Authenticate": challenge} if status in (400, 401, 403) else None

    # -- the refusals the spec names ------------------------------------------------------------
    @classmethod
    def invalid_token(cls, description: str, **kw: Any) -> AuthError:
        """A token was given but cannot be used (expired, wrong audience, bad signature...)."""
        return cls(
            f"Unauthorized: invalid access token: {description}",
            status=401,
            error="invalid_token",
            description=description,
            **kw,
        )

    @classmethod
    def missing_token(cls, message: str = "", **kw: Any) -> AuthError:
        return cls(
            message
            or "Unauthorized: this server needs an access token (Authorization: Bearer <token>)",
            status=401,
            **kw,
        )

    @classmethod
    def invalid_request(cls, description: str, **kw: Any) -> AuthError:
        return cls(
            f"Bad request: {description}",
            status=400,
            error="invalid_request",
            description=description,
            code=INVALID_REQUEST,
            **kw,
        )

    @classmethod
    def insufficient_scope(
        cls, what: str, scopes: Iterable[str], missing: Iterable[str], **kw: Any
    ) -> AuthError:
        scopes = tuple(scopes)
        lacking = ", ".join(missing)
        description = f"{what} needs scope(s) {' '.join(scopes)}"
        return cls(
            f"Forbidden: {what} needs scope(s) {', '.join(scopes)}; the token lacks {lacking}",
            status=403,
            error="insufficient_scope",
            description=description,
            scopes=scopes,
            **kw,
        )


class AuthUnavailable(AuthError):
    """The token could not be checked right now (the authorization server is unreachable)."""

    def __init__(self, description: str) -> None:
        super().__init__(
            f"Service unavailable: cannot verify the access token: {description}",
            status=503,
            description=description,
        )
        self.http_headers = {"Retry-After": "5"}


def bearer_challenge(
    resource_metadata: str | None,
    scopes: Iterable[str] = (),
    error: str | None = None,
    description: str | None = None,
) -> str:
    """A ``WWW-Authenticate`` value: ``Bearer resource_metadata="...", scope="...", error=...``."""
    params = []
    if resource_metadata:
        params.append(f'resource_metadata="{_quote(resource_metadata)}"')
    scope = " ".join(scopes)
    if scope:
        params.append(f'scope="{_quote(scope)}"')
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{_quote(description)}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def _quote(value: str) -> str:
    return _UNSAFE_DESCRIPTION.sub("?", value)


# ----------------------------------------------------------------------------------------------
# Settings: the [auth] table (read by the builtin `auth` plugin and by `Authenticator`)


def _check_url(value: str, what: str) -> str:
    """https, or http to this machine only (a local test or a sidecar)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.netloc:
        return value
    if parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS | {"::1"}:
        return value
    raise ValueError(
        f"{what} must be an https:// URL (http:// only to 127.0.0.1, localhost or [::1]): {value!r}"
    )


class StaticToken(BaseModel):
    """One static bearer token and who presents it."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr
    subject: str = Field(min_length=1)
    scopes: list[str] = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if len(secret) < 16:
            raise ValueError(
                "a static token must be at least 16 characters (use e.g. `openssl rand -hex 32`)"
            )
        if not _B64TOKEN.fullmatch(secret):
            raise ValueError(
                "a static token may contain only A-Z a-z 0-9 - . _ ~ + / (and trailing =)"
            )
        return value


class JwtSettings(BaseModel):
    """JWT access tokens, checked against a JWKS URL or one configured key."""

    model_config = ConfigDict(extra="forbid")

    jwks_url: str | None = None
    key: SecretStr | None = None  # a PEM or a JWK (JSON); a shared secret JWK for HS*
    key_file: str | None = None  # a file holding the PEM or JWK
    issuer: str = Field(min_length=1)
    audience: list[str] | None = None  # default: this server's canonical resource URI
    algorithms: list[str] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    leeway: float = Field(default=30.0, ge=0, le=300)
    require_exp: bool = True
    jwks_cache_seconds: float = Field(default=3600.0, gt=0)
    jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)
    timeout: float = Field(default=5.0, gt=0)

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("jwks_url")
    @classmethod
    def _secure_jwks(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, "jwt.jwks_url")

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one algorithm")
        for alg in value:
            if alg.lower() == "none":
                raise ValueError('"none" is never accepted: unsigned tokens prove nothing')
            if alg not in _KTY_OF_ALG:
                raise ValueError(f"unknown JWS algorithm {alg!r}; known: {', '.join(_KTY_OF_ALG)}")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtSettings:
        sources = [s for s in ("jwks_url", "key", "key_file") if getattr(self, s) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of jwks_url, key or key_file")
        if self.jwks_url is not None and any(a.startswith("HS") for a in self.algorithms):
            raise ValueError("HS* (shared-secret) algorithms cannot be used with a jwks_url")
        return self


class IntrospectionSettings(BaseModel):
    """Opaque tokens, checked at the authorization server's introspection endpoint (RFC 7662)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    issuer: str | None = None
    audience: list[str] | None = None  # default: this server's canonical resource URI
    require_audience: bool = False  # refuse answers that name no audience
    cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    leeway: float = Field(default=30.0, ge=0, le=300)
    timeout: float = Field(default=5.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _secure_endpoint(cls, value: str) -> str:
        return _check_url(value, "introspection.endpoint")

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class AuthSettings(BaseModel):
    """The ``[auth]`` table; ``MCP_RUNNER_AUTH__<FIELD>`` environment variables overlay it."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[StaticToken] = Field(default_factory=list)
    jwt: JwtSettings | None = None
    introspection: IntrospectionSettings | None = None
    resource: str | None = None  # canonical URI; default http://<Host><http.path>
    authorization_servers: list[str] = Field(default_factory=list)
    scopes_supported: list[str] | None = None  # default: every scope tools and plugins require
    resource_name: str | None = None
    token_cache_size: int = Field(default=1024, ge=0)

    @field_validator("resource")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise ValueError(
                f"resource must be an absolute http(s) URI without a fragment: {value!r}"
            )
        return canonical_uri(value)

    @property
    def configured(self) -> bool:
        return bool(self.tokens or self.jwt or self.introspection)


def canonical_uri(uri: str) -> str:
    """RFC 8707 / MCP canonical form: lowercase scheme and host, no default port, no fragment,
    no trailing slash."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else f"{host}:{port}"
    )
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def auth_settings(settings: Any) -> AuthSettings:
    """The validated ``[auth]`` table of `settings` (defaults when there is none)."""
    section = (
        settings.section("auth") if settings is not None and hasattr(settings, "section") else None
    )
    if isinstance(section, AuthSettings):
        return section
    if section is None:
        return AuthSettings()
    return AuthSettings.model_validate(section)


# ----------------------------------------------------------------------------------------------
# Verifiers


class StaticTokenVerifier:
    """Tokens listed in the config, each mapped to a subject and scopes.

    Only SHA-256 digests are kept; every configured digest is compared in constant time.
    """

    cache_ttl = DEFAULT_CACHE_SECONDS

    def __init__(self, tokens: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        self._entries = [
            (hashlib.sha256(token.encode()).digest(), subject, frozenset(scopes))
            for token, subject, scopes in tokens
        ]

    @classmethod
    def from_settings(cls, tokens: Iterable[StaticToken]) -> StaticTokenVerifier:
        return cls((t.token.get_secret_value(), t.subject, t.scopes) for t in tokens)

    def __repr__(self) -> str:
        return f"<StaticTokenVerifier {len(self._entries)} tokens>"

    async def verify(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, subject, scopes in self._entries:  # no early exit: constant work
            if hmac.compare_digest(digest, known) and found is None:
                found = (subject, scopes)
        if found is None:
            return None
        subject, scopes = found
        return Principal(
            subject,
            scopes,
            {"sub": subject, "scope": " ".join(sorted(scopes)), "token_type": "static"},
        )


def _b64json(segment: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise AuthError.invalid_token(f"malformed JWT ({type(exc).__name__})") from None


def _scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes from ``scope`` (space-separated, RFC 8693/9068) or ``scp`` (a list or a string)."""
    found: set[str] = set()
    for key in ("scope", "scp"):
        value = claims.get(key)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def _audience_ok(aud: Any, accepted: Iterable[str]) -> bool:
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    wanted = {canonical_uri(a) if "://" in a else a for a in accepted}
    return any(
        isinstance(v, str) and (canonical_uri(v) if "://" in v else v) in wanted for v in values
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class _Jwks:
    """A JWKS document fetched over HTTPS, cached, refetched when stale or (rate-limited) when a
    token names a key id it does not hold."""

    def __init__(self, url: str, *, max_age: float, min_refresh: float, timeout: float) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.keys: dict[str | None, Any] = {}
        self.fetched_at: float | None = None  # last attempt, successful or not
        self.loaded_at: float | None = None
        self.fetches = 0
        self._lock = asyncio.Lock()
        self._client: Any = None

    async def key(self, kid: str | None) -> Any:
        if self.loaded_at is None or time.monotonic() - self.loaded_at > self.max_age:
            await self._refresh()
        if self.loaded_at is None:
            raise AuthUnavailable("the signing keys (JWKS) could not be fetched")
        found = self._pick(kid)
        if found is None:
            await self._refresh()  # an unknown kid: the keys may have rotated (rate-limited)
            found = self._pick(kid)
        return found

    def _pick(self, kid: str | None) -> Any:
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)

    def _may_refresh(self) -> bool:
        if self.fetched_at is None:
            return True
        wait = self.min_refresh if self.loaded_at is not None else min(self.min_refresh, 5.0)
        return time.monotonic() - self.fetched_at >= wait

    async def _refresh(self) -> None:
        async with self._lock:
            if not self._may_refresh():
                return  # refreshed a moment ago (perhaps by a concurrent request)
            self.fetched_at = time.monotonic()
            self.fetches += 1
            try:
                keys = await self._fetch()
            except Exception as exc:
                _log().warning(
                    "jwks fetch failed", url=self.url, error=f"{type(exc).__name__}: {exc}"
                )
                return  # keep the keys we had, if any
            self.keys = keys
            self.loaded_at = time.monotonic()

    async def _fetch(self) -> dict[str | None, Any]:
        from joserfc import jwk

        client = self._http()
        response = await client.get(self.url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"the JWKS document is larger than {MAX_JWKS_BYTES} bytes")
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document (no keys list)")
        keys: dict[str | None, Any] = {}
        for entry in document["keys"]:
            if (
                not isinstance(entry, dict)
                or entry.get("use", "sig") != "sig"
                or entry.get("kty") == "oct"
            ):
                continue  # encryption keys and shared secrets never verify tokens
            try:
                key = jwk.import_key(
                    {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
                )
            except Exception:
                continue
            keys[entry.get("kid")] = key
        return keys

    def _http(self) -> Any:
        if self._client is None:
            self._client = _httpx().AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:  # pragma: no cover - a dependency of the test extra and of most installs
        raise RuntimeError(HTTPX_MISSING) from None
    return httpx


class JwtVerifier:
    """Signed JWT access tokens (RFC 9068): signature, ``alg``, ``iss``, ``aud``, ``exp``/``nbf``.

    The audience must be this server's canonical resource URI (RFC 8707; `expected_resource()`)
    unless ``audience`` is configured. Scopes come from ``scope`` or ``scp``.
    """

    def __init__(self, settings: JwtSettings) -> None:
        try:
            from joserfc import jwk, jwt  # noqa: F401
        except ImportError:
            raise RuntimeError(JWT_MISSING) from None
        self.settings = settings
        self.algorithms = list(settings.algorithms)
        self.jwks: _Jwks | None = None
        self._key: Any = None
        if settings.jwks_url is not None:
            self.jwks = _Jwks(
                settings.jwks_url,
                max_age=settings.jwks_cache_seconds,
                min_refresh=settings.jwks_min_refresh_seconds,
                timeout=settings.timeout,
            )
        else:
            if settings.key_file is not None:
                with open(settings.key_file, encoding="utf-8") as handle:
                    raw = handle.read()
            else:
                assert settings.key is not None
                raw = settings.key.get_secret_value()
            self._key = _import_key(raw)

    def __repr__(self) -> str:
        return f"<JwtVerifier issuer={self.settings.issuer!r}>"

    async def verify(self, token: str) -> Principal | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None  # not a JWS compact token: another verifier's
        header = _b64json(parts[0])
        if not isinstance(header, dict):
            raise AuthError.invalid_token("malformed JWT header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise AuthError.invalid_token("unsigned tokens (alg none) are not accepted")
        if alg not in self.algorithms:
            raise AuthError.invalid_token(f"algorithm {alg[:32]} is not accepted")
        if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
            raise AuthError.invalid_token("unsupported JWT header parameters (crit, jku, x5u, jwk)")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError.invalid_token("malformed kid")
        key = await self.jwks.key(kid) if self.jwks is not None else self._key
        if key is None:
            raise AuthError.invalid_token(
                f"unknown signing key {kid[:64]!r}" if kid else "the token names no key id (kid)"
            )
        if getattr(key, "key_type", None) != _KTY_OF_ALG[alg]:
            raise AuthError.invalid_token(f"algorithm {alg} does not match the signing key")
        key_alg = key.get("alg") if hasattr(key, "get") else None
        if key_alg is not None and key_alg != alg:
            raise AuthError.invalid_token(f"algorithm {alg} does not match the signing key")
        claims = self._decode(token, key, alg)
        return self._principal(claims)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        import warnings

        from joserfc import errors, jwt

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # EdDSA's deprecation warning
                decoded = jwt.decode(token, key, algorithms=[alg])
        except errors.BadSignatureError:
            raise AuthError.invalid_token("bad signature") from None
        except (errors.JoseError, ValueError, TypeError) as exc:
            raise AuthError.invalid_token(
                f"malformed or unverifiable JWT ({type(exc).__name__})"
            ) from None
        return dict(decoded.claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        settings = self.settings
        now = time.time()
        leeway = settings.leeway
        if claims.get("iss") != settings.issuer:
            raise AuthError.invalid_token("wrong issuer")
        exp = _number(claims.get("exp"))
        if exp is None:
            if "exp" in claims or settings.require_exp:
                raise AuthError.invalid_token("the token has no valid expiry (exp)")
        elif now > exp + leeway:
            raise AuthError.invalid_token("the token has expired")
        if "nbf" in claims:
            nbf = _number(claims.get("nbf"))
            if nbf is None or now + leeway < nbf:
                raise AuthError.invalid_token("the token is not valid yet (nbf)")
        iat = claims.get("iat")
        if iat is not None and (_number(iat) is None or _number(iat) > now + leeway):  # type: ignore[operator]
            raise AuthError.invalid_token("the token was issued in the future (iat)")
        accepted = settings.audience or [r for r in [expected_resource()] if r]
        if not accepted:
            raise AuthError.invalid_token(
                "this server has no resource URI to check the audience against"
            )
        if not _audience_ok(claims.get("aud"), accepted):
            raise AuthError.invalid_token("the token is not meant for this server (audience)")
        subject = claims.get("sub") or claims.get("client_id")
        if not isinstance(subject, str) or not subject:
            raise AuthError.invalid_token("the token names no subject (sub)")
        return Principal(subject, _scopes_of(claims), claims)


def _import_key(raw: str) -> Any:
    from joserfc import jwk

    text = raw.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if data.get("kty") != "oct":
                data = {k: v for k, v in data.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
            return jwk.import_key(data)
        for kty in ("RSA", "EC", "OKP"):
            try:
                key = jwk.import_key(text, kty)
            except Exception:
                continue
            return jwk.import_key(key.as_dict(private=False))
    except Exception as exc:
        raise ValueError(f"jwt.key is not a usable PEM or JWK: {type(exc).__name__}") from None
    raise ValueError(
        "jwt.key is not a usable PEM or JWK (RSA, EC or OKP public key, or an oct JWK)"
    )


class IntrospectionVerifier:
    """Opaque tokens checked at an RFC 7662 introspection endpoint (client_secret_basic).

    Checks ``active``, ``exp`` (and ``nbf``), ``iss`` when configured, ``aud`` when the answer
    names one (or always with ``require_audience``); answers are cached briefly.
    """

    def __init__(self, settings: IntrospectionSettings) -> None:
        self.settings = settings
        self.cache_ttl = settings.cache_seconds
        self._cache: collections.OrderedDict[str, tuple[float, Principal | None]] = (
            collections.OrderedDict()
        )
        self._client: Any = None
        self.calls = 0

    def __repr__(self) -> str:
        return f"<IntrospectionVerifier {self.settings.endpoint}>"

    async def verify(self, token: str) -> Principal | None:
        resource = expected_resource() or ""
        key = hashlib.sha256(f"{resource}\x00{token}".encode()).hexdigest()
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            if hit[1] is None:
                raise AuthError.invalid_token("the token is not active")
            return hit[1]
        answer = await self._introspect(token)
        try:
            principal = self._principal(answer, resource)
        except AuthError:
            self._remember(key, None, now + min(self.cache_ttl, 5.0))
            raise
        ttl = self.cache_ttl
        if principal.expires_at is not None:
            ttl = min(ttl, principal.expires_at - time.time())
        self._remember(key, principal, now + ttl)
        return principal

    def _remember(self, key: str, principal: Principal | None, until: float) -> None:
        if until <= time.monotonic():
            return
        self._cache[key] = (until, principal)
        self._cache.move_to_end(key)
        while len(self._cache) > 1024:
            self._cache.popitem(last=False)

    async def _introspect(self, token: str) -> dict[str, Any]:
        settings = self.settings
        if self._client is None:
            self._client = _httpx().AsyncClient(timeout=settings.timeout, follow_redirects=False)
        self.calls += 1
        try:
            response = await self._client.post(
                settings.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(settings.client_id, settings.client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except Exception as exc:
            _log().warning(
                "introspection failed", endpoint=settings.endpoint, error=type(exc).__name__
            )
            raise AuthUnavailable("the authorization server could not be reached") from None
        if response.status_code != 200:
            _log().warning(
                "introspection failed", endpoint=settings.endpoint, status=response.status_code
            )
            raise AuthUnavailable(f"the authorization server answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise AuthUnavailable("the authorization server's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise AuthUnavailable("the authorization server's answer is not a JSON object")
        return answer

    def _principal(self, answer: dict[str, Any], resource: str) -> Principal:
        settings = self.settings
        if answer.get("active") is not True:
            raise AuthError.invalid_token("the token is not active")
        now = time.time()
        exp = answer.get("exp")
        if exp is not None and (_number(exp) is None or now > _number(exp) + settings.leeway):  # type: ignore[operator]
            raise AuthError.invalid_token("the token has expired")
        nbf = answer.get("nbf")
        if nbf is not None and (_number(nbf) is None or now + settings.leeway < _number(nbf)):  # type: ignore[operator]
            raise AuthError.invalid_token("the token is not valid yet (nbf)")
        if settings.issuer is not None and answer.get("iss") != settings.issuer:
            raise AuthError.invalid_token("wrong issuer")
        token_type = answer.get("token_type")
        if isinstance(token_type, str) and token_type.lower() not in (
            "bearer",
            "access_token",
            "at+jwt",
        ):
            raise AuthError.invalid_token(f"not an access token ({token_type})")
        accepted = settings.audience or [r for r in [resource] if r]
        checked = "aud" in answer or settings.require_audience
        if checked and not (accepted and _audience_ok(answer.get("aud"), accepted)):
            raise AuthError.invalid_token("the token is not meant for this server (audience)")
        subject = answer.get("sub") or answer.get("username") or answer.get("client_id")
        if not isinstance(subject, str) or not subject:
            raise AuthError.invalid_token("the introspection answer names no subject")
        claims = {k: v for k, v in answer.items() if k != "active"}
        return Principal(subject, _scopes_of(answer), claims)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class MisconfiguredVerifier:
    """Stands in when the configured authentication cannot be set up: refuses every token, so a
    broken ``[auth]`` table never leaves the server open."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def verify(self, token: str) -> Principal | None:
        raise AuthUnavailable("authentication is misconfigured on this server")


# ----------------------------------------------------------------------------------------------
# The authenticator the transports use


class Authenticator:
    """Authenticates requests with the verifiers, and decides what a principal may see and do.

    Built by `Runner.start` when any plugin offers token verifiers.
    """

    def __init__(
        self, verifiers: Iterable[Any], settings: Settings, *, registry: Any = None
    ) -> None:
        self.verifiers = list(verifiers)
        self.settings = settings
        try:
            self.config = auth_settings(settings)
        except Exception:  # reported by the auth plugin, whose verifier then refuses every token
            self.config = AuthSettings()
        self.registry = registry
        http = getattr(settings, "http", None)
        self.path = getattr(http, "path", "/mcp")
        self.resource = self.config.resource
        self._allowed_hosts = list(getattr(http, "allowed_hosts", []) or [])
        self._bound_local = getattr(http, "host", "127.0.0.1") in LOCAL_HOSTS
        self._cache: collections.OrderedDict[str, tuple[float, Principal]] = (
            collections.OrderedDict()
        )
        self._cache_size = self.config.token_cache_size
        self._plugin_scopes: dict[str, tuple[str, ...]] = {}
        audiences = self.config.jwt is not None or self.config.introspection is not None
        if (
            audiences
            and self.resource is None
            and not self._bound_local
            and not self._allowed_hosts
        ):
            _log().warning(
                "auth: no [auth] resource and no [http] allowed_hosts: the Host header cannot be "
                "trusted, so token audiences cannot be checked and JWT or introspected tokens "
                "are refused; set auth.resource to this server's public URL"
            )

    # -- who is asking --------------------------------------------------------------------------
    async def authenticate(
        self, headers: dict[str, str], query: bytes | str | None = None
    ) -> Principal:
        """The principal of an HTTP request, or an `AuthError` (401, or 400 when malformed).

        The ``Authorization`` header is removed from `headers` so that the token never reaches
        middleware, tools or logs. `query` (the raw query string) is refused when it carries an
        ``access_token``: tokens in URLs leak into logs and histories.
        """
        header = headers.pop("authorization", None)
        metadata_url = self.metadata_url(headers)
        challenge: dict[str, Any] = {
            "resource_metadata": metadata_url,
            "scopes": self.challenge_scopes(),
        }
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
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise AuthError.missing_token(
                f"Unauthorized: this server accepts only Bearer access tokens, not {scheme[:20]!r}",
                **challenge,
            )
        token = credentials.strip()
        if not token or not _B64TOKEN.fullmatch(token):
            raise AuthError.invalid_request(
                "the Authorization header is not a well-formed Bearer token", **challenge
            )
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthError.invalid_token("the token is too long", **challenge)
        principal = await self.verify(token, self.resource_uri(headers), challenge)
        _authenticated.set(principal)
        return principal

    async def verify(
        self, token: str, resource: str | None = None, challenge: dict[str, Any] | None = None
    ) -> Principal:
        """Ask each verifier in order (behind a bounded cache); the first principal wins."""
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
                    _log().error(
                        "token verifier failed",
                        verifier=type(verifier).__name__,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    continue
                if found is None:
                    continue
                principal = _as_principal(found)
                if principal is None:
                    _log().error(
                        "token verifier returned no usable principal",
                        verifier=type(verifier).__name__,
                    )
                    continue
                self._remember(
                    key, principal, getattr(verifier, "cache_ttl", DEFAULT_CACHE_SECONDS)
                )
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
        _log().info("token refused", reason=description, token_id=key[:12])
        raise AuthError.invalid_token(description, **challenge)

    def _remember(self, key: str, principal: Principal, ttl: float | None) -> None:
        if self._cache_size <= 0:
            return
        ttl = DEFAULT_CACHE_SECONDS if ttl is None else float(ttl)
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
        self, environ: dict[str, str] | os._Environ[str] | None = None
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
        if not token or len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
            raise AuthError.invalid_token(f"{TOKEN_ENV} is not a well-formed token")
        return await self.verify(token, self.resource)

    # -- where this server is -------------------------------------------------------------------
    def resource_uri(self, headers: Mapping[str, str] | None) -> str | None:
        """This server's canonical URI: ``[auth] resource``, else ``http://<Host><path>`` when the
        Host header can be trusted (a loopback bind, or one of ``[http] allowed_hosts``)."""
        if self.resource is not None:
            return self.resource
        host = (headers or {}).get("host", "")
        if not host or not self._trusted_host(host):
            return None
        return canonical_uri(f"http://{host}{self.path}")

    def _trusted_host(self, host: str) -> bool:
        if any(c in host for c in '"\\/ ?#@'):
            return False
        name = _host_name(host)
        if self._allowed_hosts:
            return host in self._allowed_hosts or name in self._allowed_hosts
        return self._bound_local and name in LOCAL_HOSTS

    def metadata_url(self, headers: Mapping[str, str] | None) -> str | None:
        """Where the protected resource metadata of this server is (RFC 9728 §3.1)."""
        resource = self.resource_uri(headers)
        if resource is None:
            host = (headers or {}).get("host", "")
            if not host or any(c in host for c in '"\\/ ?#@'):
                return None
            resource = canonical_uri(f"http://{host}{self.path}")
        parts = urlsplit(resource)
        return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + parts.path, "", ""))

    def metadata(self, headers: Mapping[str, str] | None) -> dict[str, Any]:
        """RFC 9728 protected resource metadata."""
        config = self.config
        resource = self.resource_uri(headers)
        if resource is None:
            host = (headers or {}).get("host", "")
            resource = canonical_uri(f"http://{host}{self.path}") if host else ""
        servers = list(config.authorization_servers)
        if not servers and config.jwt is not None:
            servers = [config.jwt.issuer]
        if not servers and config.introspection is not None and config.introspection.issuer:
            servers = [config.introspection.issuer]
        out: dict[str, Any] = {
            "resource": resource,
            "authorization_servers": servers,
            "scopes_supported": self.scopes_supported(),
            "bearer_methods_supported": ["header"],
        }
        name = config.resource_name or getattr(getattr(self.settings, "server", None), "name", None)
        if name:
            out["resource_name"] = name
        return out

    def scopes_supported(self) -> list[str]:
        if self.config.scopes_supported is not None:
            return list(self.config.scopes_supported)
        found: set[str] = set()
        for name in getattr(self.settings, "plugins", None) or {}:
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
    def refresh_principal(self, req: Any) -> None:
        """Use the principal of this request's own token, not the one that opened its session.

        A legacy HTTP session keeps the principal of its ``initialize``; a later request of the
        same subject may carry a refreshed (or down-scoped) token, whose scopes are what count.
        """
        current = _authenticated.get()
        held = getattr(req, "principal", None)
        if (
            current is not None
            and held is not None
            and current is not held
            and current.subject == held.subject
        ):
            req.principal = current

    def _principal_of(self, req: Any) -> Principal | None:
        principal = getattr(req, "principal", None)
        if principal is None:
            return None
        expires = getattr(principal, "expires_at", None)
        if expires is not None and time.time() > expires + _leeway(self.config):
            return None  # e.g. a stdio session that outlived its MCP_RUNNER_TOKEN
        return principal

    def required_scopes(self, component: Any) -> frozenset[str]:
        """Scopes needed for a tool, prompt or resource: its own ``scopes`` and its plugin's."""
        if isinstance(component, tuple):
            component = component[0]
        own = getattr(component, "scopes", None) or ()
        plugin = getattr(component, "plugin", "") or ""
        return frozenset(own) | frozenset(self._scopes_of_plugin(plugin))

    def _scopes_of_plugin(self, plugin: str) -> tuple[str, ...]:
        found = self._plugin_scopes.get(plugin)
        if found is None:
            try:
                found = tuple(self.settings.plugin(plugin).scopes) if plugin else ()
            except Exception:
                found = ()
            self._plugin_scopes[plugin] = found
        return found

    def visible(self, req: Any, component: Any) -> bool:
        """Whether `component` is listed for the request's principal."""
        required = self.required_scopes(component)
        if not required:
            return True
        principal = self._principal_of(req)
        return principal is not None and required <= principal.scopes

    def authorize(self, req: Any, component: Any) -> None:
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
        headers = getattr(req, "headers", None)
        metadata_url = self.metadata_url(headers) if headers else None
        scopes = sorted(required)
        if principal is None:
            hint = f" (set {TOKEN_ENV})" if getattr(req.session, "transport", "") == "stdio" else ""
            raise AuthError.missing_token(
                f"Unauthorized: {what} needs scope(s) {', '.join(scopes)} and this session "
                f"has no credentials{hint}",
                resource_metadata=metadata_url,
                scopes=scopes,
            )
        raise AuthError.insufficient_scope(what, scopes, missing, resource_metadata=metadata_url)

    async def aclose(self) -> None:
        for verifier in self.verifiers:
            close = getattr(verifier, "aclose", None)
            if close is None and isinstance(verifier, JwtVerifier) and verifier.jwks is not None:
                close = verifier.jwks.aclose
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


def _leeway(config: AuthSettings) -> float:
    return config.jwt.leeway if config.jwt is not None else 30.0


def _as_principal(found: Any) -> Principal | None:
    if isinstance(found, Principal):
        return found if found.subject else None
    subject = getattr(found, "subject", None)
    if not isinstance(subject, str) or not subject:
        return None
    scopes = getattr(found, "scopes", ()) or ()
    claims = getattr(found, "claims", None)
    return Principal(
        subject, frozenset(scopes), dict(claims) if isinstance(claims, Mapping) else {}
    )


def _describe(req: Any, component: Any) -> str:
    if isinstance(component, tuple):
        component = component[0]
    kind = type(component).__name__.lower()
    if kind == "resourcetemplate":
        kind = "resource"
    name = getattr(component, "name", None) or getattr(component, "uri", "")
    if kind == "resource":
        name = (getattr(req, "params", None) or {}).get("uri") or getattr(component, "uri", name)
    return f"{kind.capitalize()} {name!r}"


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _log() -> Any:

    from .log import get_logger

    return get_logger("mcp_runner.auth")
