"""This server as an OAuth protected resource: its canonical URI (RFC 8707), the hosts that
count as this machine, and its protected resource metadata (RFC 9728)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Host names of this machine: a server bound to one of them may trust the Host header.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
#: Where protected resource metadata is served; the resource's path is appended (RFC 9728 §3.1).
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"


def host_name(host: str) -> str:
    """The name part of a ``Host`` value: ``example.com:8000`` → ``example.com``,
    ``[::1]:8000`` → ``[::1]``."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


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


def metadata_url(resource: str) -> str:
    """Where the metadata of `resource` is served: its origin, the well-known path, its path."""
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN_PATH + parts.path, "", ""))


def protected_resource_metadata(
    resource: str,
    authorization_servers: Iterable[str],
    scopes_supported: Iterable[str],
    resource_name: str | None,
) -> dict[str, Any]:
    """The RFC 9728 metadata document of `resource` (bearer tokens in the header only)."""
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "scopes_supported": list(scopes_supported),
        "bearer_methods_supported": ["header"],
    }
    if resource_name:
        document["resource_name"] = resource_name
    return document
