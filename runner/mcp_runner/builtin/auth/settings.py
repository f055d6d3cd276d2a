"""The builtin ``auth`` plugin's settings: the ``[auth]`` table with its static tokens, JWT
and introspection verifiers (``MCP_RUNNER_AUTH__<FIELD>`` environment variables overlay it)::

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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ...auth import LOCAL_HOSTS, ResourceServerSettings
from ...auth.bearer import B64TOKEN
from ...auth.settings import DEFAULT_LEEWAY
from . import SECTION

if TYPE_CHECKING:
    from ...config import Settings

#: The key type (JWK ``kty``) each accepted JWS algorithm needs.
KEY_TYPE_OF_ALGORITHM = {
    **{f"RS{n}": "RSA" for n in (256, 384, 512)},
    **{f"PS{n}": "RSA" for n in (256, 384, 512)},
    **{f"ES{n}": "EC" for n in (256, 384, 512)},
    "ES256K": "EC",
    "EdDSA": "OKP",
    "Ed25519": "OKP",
    "Ed448": "OKP",
    **{f"HS{n}": "oct" for n in (256, 384, 512)},
}
#: The JWS algorithms accepted when ``[auth.jwt] algorithms`` is not set.
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


def _check_url(value: str, what: str) -> str:
    """https, or http to this machine only (a local test or a sidecar)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.netloc:
        return value
    if parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS:
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
        if not B64TOKEN.fullmatch(secret):
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
    leeway: float = Field(default=DEFAULT_LEEWAY, ge=0, le=300)
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
            if alg not in KEY_TYPE_OF_ALGORITHM:
                raise ValueError(
                    f"unknown JWS algorithm {alg!r}; known: {', '.join(KEY_TYPE_OF_ALGORITHM)}"
                )
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
    leeway: float = Field(default=DEFAULT_LEEWAY, ge=0, le=300)
    timeout: float = Field(default=5.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _secure_endpoint(cls, value: str) -> str:
        return _check_url(value, "introspection.endpoint")

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class AuthSettings(ResourceServerSettings):
    """The ``[auth]`` table: the resource-server keys, and the builtin verifiers' settings."""

    tokens: list[StaticToken] = Field(default_factory=list)
    jwt: JwtSettings | None = None
    introspection: IntrospectionSettings | None = None

    def default_authorization_servers(self) -> list[str]:
        """The JWT issuer, else the introspection issuer (when configured)."""
        if self.jwt is not None:
            return [self.jwt.issuer]
        if self.introspection is not None and self.introspection.issuer:
            return [self.introspection.issuer]
        return []

    def expiry_leeway(self) -> float:
        """The JWT leeway: a JWT principal counts until its ``exp`` plus that much."""
        return self.jwt.leeway if self.jwt is not None else DEFAULT_LEEWAY

    def requires_audience(self) -> bool:
        """JWT and introspected tokens are checked for this server's URI as their audience."""
        return self.jwt is not None or self.introspection is not None


def auth_settings(settings: Settings) -> AuthSettings:
    """The validated ``[auth]`` table of `settings` (defaults when there is none); raises
    pydantic's ``ValidationError`` when it is invalid."""
    section = settings.section(SECTION)
    if isinstance(section, AuthSettings):
        return section
    if section is None:
        return AuthSettings()
    return AuthSettings.model_validate(section)
