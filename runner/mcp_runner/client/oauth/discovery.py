"""Finding who to ask: the protected resource metadata from the 401 challenge or its
well-known places (RFC 9728), then the authorization server's metadata (RFC 8414 and OpenID
Connect discovery, in the MCP authorization spec's order), with the checks on both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ...protocol.jsonrpc import loads
from .challenge import Challenge
from .errors import OAuthError
from .metadata import ResourceMetadata, ServerMetadata

if TYPE_CHECKING:
    import httpx


def canonical_url(url: str) -> str:
    """A server URL without query and fragment, its scheme and host in lower case."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def resource_metadata_urls(server_url: str, challenge: Challenge) -> list[str]:
    """Where to look for the protected resource metadata, in order: the challenge's
    ``resource_metadata``, then the path-based well-known URL, then the root one."""
    urls = [challenge.resource_metadata] if challenge.resource_metadata else []
    path = urlsplit(server_url).path.rstrip("/")
    if path:
        urls.append(f"{_origin(server_url)}/.well-known/oauth-protected-resource{path}")
    urls.append(f"{_origin(server_url)}/.well-known/oauth-protected-resource")
    return list(dict.fromkeys(urls))


def server_metadata_urls(issuer: str) -> list[str]:
    """Where to look for an authorization server's metadata, in order. With a path: RFC 8414
    path insertion, OpenID Connect path insertion, OpenID Connect path appending; without:
    RFC 8414, then OpenID Connect."""
    origin, path = _origin(issuer), urlsplit(issuer).path.rstrip("/")
    if path:
        return [
            f"{origin}/.well-known/oauth-authorization-server{path}",
            f"{origin}/.well-known/openid-configuration{path}",
            f"{origin}{path}/.well-known/openid-configuration",
        ]
    return [
        f"{origin}/.well-known/oauth-authorization-server",
        f"{origin}/.well-known/openid-configuration",
    ]


def resource_matches(resource: str, server_url: str) -> bool:
    """Whether a published resource identifier covers the server's URL: the same origin, and
    the server's path is the resource's path or under it."""
    if _origin(resource) != _origin(server_url) or urlsplit(resource).fragment:
        return False
    base = urlsplit(resource).path.rstrip("/")
    path = urlsplit(server_url).path.rstrip("/")
    return path == base or path.startswith(base + "/")


def same_issuer(published: str | None, expected: str) -> bool:
    """RFC 8414 section 3.3: the metadata's ``issuer`` is the identifier its well-known URL
    was built from (a trailing slash aside)."""
    return published is not None and published.rstrip("/") == expected.rstrip("/")


@dataclass(frozen=True)
class Discovery:
    """Everything discovery found for one MCP server."""

    server_url: str
    resource: str  # the RFC 8707 ``resource`` to send: exactly as the metadata publishes it
    resource_metadata: ResourceMetadata | None
    server: ServerMetadata

    @property
    def issuer_key(self) -> str:
        """The authorization server this is about: its issuer, or its token endpoint."""
        return self.server.issuer or self.server.token_endpoint


async def fetch_json(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    """A JSON object from a 200 answer, or None (any other status, not JSON, unreachable)."""
    import httpx

    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        document = loads(response.content)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


async def discover(http: httpx.AsyncClient, server_url: str, challenge: Challenge) -> Discovery:
    """Discover the authorization server of the MCP server at `server_url`.

    Raises `OAuthError` when the resource metadata names another resource (RFC 8707: a token
    must not be sought for a server that is not the one we talk to), names no authorization
    server, or when the authorization server's metadata claims another issuer. A server
    without resource metadata (2025-03-26) is its own authorization server (its origin: the
    issuer is then whatever its metadata says, as nothing named one to check against); when
    that publishes no metadata either, its default endpoints are assumed.
    """
    server_url = canonical_url(server_url)
    prm = None
    for url in resource_metadata_urls(server_url, challenge):
        document = await fetch_json(http, url)
        prm = ResourceMetadata.parse(document) if document is not None else None
        if prm is not None:
            break
    if prm is not None:
        if not resource_matches(prm.resource, server_url):
            raise OAuthError(
                f"the protected resource metadata is for {prm.resource}, not {server_url}: "
                "no authorization is sought for it"
            )
        if not prm.authorization_servers:
            raise OAuthError(
                f"the protected resource metadata of {server_url} names no authorization server"
            )
        issuer, resource = prm.authorization_servers[0], prm.resource
    else:
        issuer, resource = _origin(server_url), server_url
    for url in server_metadata_urls(issuer):
        document = await fetch_json(http, url)
        server = ServerMetadata.parse(document) if document is not None else None
        if server is None:
            continue
        if prm is not None and not same_issuer(server.issuer, issuer):
            raise OAuthError(
                f"the authorization server metadata at {url} claims issuer {server.issuer!r}, "
                f"not {issuer!r}: refused"
            )
        return Discovery(server_url, resource, prm, server)
    if prm is not None:
        raise OAuthError(f"no authorization server metadata found for {issuer}")
    return Discovery(server_url, resource, None, ServerMetadata.assumed(issuer))
