"""Who the client is at an authorization server: a pre-registered client, a client ID
metadata document (its URL is the client ID), or a registration (RFC 7591)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...protocol.jsonrpc import encode, loads
from .errors import OAuthError

if TYPE_CHECKING:
    import httpx

    from .metadata import ServerMetadata

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass(frozen=True)
class ClientInfo:
    """A client identity at one authorization server, and how it authenticates at the token
    endpoint (``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` with
    `private_key` and `signing_algorithm`, or ``none``)."""

    client_id: str
    client_secret: str | None = None
    auth_method: str = "none"
    redirect_uris: tuple[str, ...] = ()
    registered: bool = False  # obtained by dynamic registration (may be redone)
    private_key: str | None = field(default=None, repr=False)  # PEM, for private_key_jwt
    signing_algorithm: str = "ES256"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for a token store (a private key is never part of it)."""
        out = asdict(self)
        out["redirect_uris"] = list(self.redirect_uris)
        del out["private_key"], out["signing_algorithm"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClientInfo:
        """The inverse of `to_dict`."""
        return cls(
            client_id=data["client_id"],
            client_secret=data.get("client_secret"),
            auth_method=data.get("auth_method", "none"),
            redirect_uris=tuple(data.get("redirect_uris") or ()),
            registered=bool(data.get("registered")),
        )


def auth_method_for(server: ServerMetadata, secret: str | None, preferred: str | None) -> str:
    """How a client with (or without) a secret authenticates at this server's token
    endpoint: `preferred` when given, else basic, then post, as the server supports them."""
    if preferred is not None:
        return preferred
    if secret is None:
        return "none"
    supported = server.auth_methods()
    if "client_secret_basic" not in supported and "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


def application_type(redirect_uri: str | None) -> str:
    """SEP-837: ``native`` for a client redirected to the loopback interface, else ``web``."""
    if redirect_uri is None:
        return "web"
    return "native" if urlsplit(redirect_uri).hostname in LOOPBACK_HOSTS else "web"


async def register(
    http: httpx.AsyncClient,
    server: ServerMetadata,
    *,
    client_name: str,
    redirect_uri: str | None,
    grant_types: list[str],
    scope: str | None,
) -> ClientInfo:
    """Register a client with the server's registration endpoint (RFC 7591)."""
    import httpx

    if not server.registration_endpoint:
        raise OAuthError(
            f"{server.issuer or server.token_endpoint} offers no dynamic client registration: "
            "configure a client_id (and client_secret) registered with it"
        )
    supported = server.auth_methods()
    wanted = (
        "none"
        if "none" in supported and redirect_uri is not None
        else ("client_secret_basic" if "client_secret_basic" in supported else "client_secret_post")
    )
    body: dict[str, Any] = {
        "client_name": client_name,
        "grant_types": grant_types,
        "token_endpoint_auth_method": wanted,
        "application_type": application_type(redirect_uri),
    }
    if redirect_uri is not None:
        body["redirect_uris"] = [redirect_uri]
        body["response_types"] = ["code"]
    if scope:
        body["scope"] = scope
    try:
        response = await http.post(
            server.registration_endpoint,
            content=encode(body),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise OAuthError(f"client registration at {server.registration_endpoint}: {exc}") from exc
    try:
        answer = loads(response.content)
    except ValueError:
        answer = None
    if response.status_code not in (200, 201) or not isinstance(answer, dict):
        raise OAuthError(
            f"client registration at {server.registration_endpoint} failed "
            f"(HTTP {response.status_code})",
            answer.get("error") if isinstance(answer, dict) else None,
        )
    client_id = answer.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise OAuthError(f"client registration at {server.registration_endpoint}: no client_id")
    secret = answer.get("client_secret")
    secret = secret if isinstance(secret, str) and secret else None
    method = answer.get("token_endpoint_auth_method")
    if method not in AUTH_METHODS:
        method = auth_method_for(server, secret, None)
    return ClientInfo(
        client_id=client_id,
        client_secret=secret,
        auth_method=method,
        redirect_uris=(redirect_uri,) if redirect_uri else (),
        registered=True,
    )
