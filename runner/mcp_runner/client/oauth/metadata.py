"""The two metadata documents: the protected resource's (RFC 9728) and the authorization
server's (RFC 8414, or OpenID Connect discovery)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


@dataclass(frozen=True)
class ResourceMetadata:
    """An MCP server's protected resource metadata: its identifier, its authorization
    servers and the scopes it knows."""

    resource: str
    authorization_servers: list[str]
    scopes_supported: list[str] | None = None

    @classmethod
    def parse(cls, document: dict[str, Any]) -> ResourceMetadata | None:
        """The metadata in a document, or None when it lacks ``resource``."""
        resource = document.get("resource")
        if not isinstance(resource, str) or not resource:
            return None
        return cls(
            resource=resource,
            authorization_servers=_strings(document.get("authorization_servers")) or [],
            scopes_supported=_strings(document.get("scopes_supported")),
        )


@dataclass(frozen=True)
class ServerMetadata:
    """What the client uses of an authorization server's metadata. `issuer` is None only for
    the endpoints a 2025-03-26 server is assumed to have when it publishes no metadata."""

    issuer: str | None
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str | None = None
    scopes_supported: list[str] | None = None
    token_endpoint_auth_methods_supported: list[str] | None = None
    code_challenge_methods_supported: list[str] | None = None
    grant_types_supported: list[str] | None = None
    client_id_metadata_document_supported: bool = False
    iss_parameter_supported: bool = False
    published: bool = True  # False: the assumed endpoints, no document
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, document: dict[str, Any]) -> ServerMetadata | None:
        """The metadata in a document, or None when an endpoint the flows need is missing."""
        issuer = document.get("issuer")
        authorize = document.get("authorization_endpoint")
        token = document.get("token_endpoint")
        if not (isinstance(issuer, str) and isinstance(token, str)):
            return None
        registration = document.get("registration_endpoint")
        return cls(
            issuer=issuer,
            authorization_endpoint=authorize if isinstance(authorize, str) else "",
            token_endpoint=token,
            registration_endpoint=registration if isinstance(registration, str) else None,
            scopes_supported=_strings(document.get("scopes_supported")),
            token_endpoint_auth_methods_supported=_strings(
                document.get("token_endpoint_auth_methods_supported")
            ),
            code_challenge_methods_supported=_strings(
                document.get("code_challenge_methods_supported")
            ),
            grant_types_supported=_strings(document.get("grant_types_supported")),
            client_id_metadata_document_supported=(
                document.get("client_id_metadata_document_supported") is True
            ),
            iss_parameter_supported=(
                document.get("authorization_response_iss_parameter_supported") is True
            ),
            extra=document,
        )

    @classmethod
    def assumed(cls, base: str) -> ServerMetadata:
        """The default endpoints under `base` (2025-03-26, for a server without metadata)."""
        base = base.rstrip("/")
        return cls(
            issuer=None,
            authorization_endpoint=f"{base}/authorize",
            token_endpoint=f"{base}/token",
            registration_endpoint=f"{base}/register",
            published=False,
        )

    def auth_methods(self) -> list[str]:
        """The token endpoint's client authentication methods (RFC 8414's default when the
        metadata does not say)."""
        return self.token_endpoint_auth_methods_supported or ["client_secret_basic"]
