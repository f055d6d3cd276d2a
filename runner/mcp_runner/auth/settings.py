"""`ResourceServerSettings`: the keys of the ``[auth]`` table that the authenticator reads
itself (where this server is, what its metadata says, how long verified tokens are reused).

The builtin ``auth`` plugin validates the whole table with its subclass, which adds the
settings of its verifiers; the authenticator reads only these keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .metadata import canonical_uri

if TYPE_CHECKING:
    from ..config import Settings

#: The clock skew allowed when a principal's expiry is checked, unless the settings say more.
DEFAULT_LEEWAY = 30.0


class ResourceServerSettings(BaseModel):
    """This server as an OAuth resource server: the ``[auth]`` keys every verifier shares."""

    model_config = ConfigDict(extra="forbid")

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

    def default_authorization_servers(self) -> list[str]:
        """The metadata's ``authorization_servers`` when none are configured (a subclass
        names the issuers it trusts)."""
        return []

    def expiry_leeway(self) -> float:
        """Seconds a principal still counts after its token's ``exp``."""
        return DEFAULT_LEEWAY

    def requires_audience(self) -> bool:
        """Whether the verifiers check token audiences against this server's URI (then a
        server whose URI cannot be known refuses their tokens, and says so at start)."""
        return False


def resource_server_settings(settings: Settings) -> ResourceServerSettings:
    """The resource-server keys of the ``[auth]`` table of `settings` (defaults without one).

    A table the owning plugin validated is used as it is; a raw one (no plugin validated it)
    is read for these keys alone, and falls back to the defaults when they are invalid.
    """
    section = settings.section("auth")
    if isinstance(section, ResourceServerSettings):
        return section
    if not isinstance(section, dict):
        return ResourceServerSettings()
    own = {k: v for k, v in section.items() if k in ResourceServerSettings.model_fields}
    try:
        return ResourceServerSettings.model_validate(own)
    except ValidationError:
        return ResourceServerSettings()
