"""Tokens, and the token endpoint: a grant in, tokens out, with the client authenticated as
its registration says (``client_secret_basic``, ``client_secret_post`` or ``none``)."""

from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...protocol.jsonrpc import loads
from .errors import OAuthError

if TYPE_CHECKING:
    import httpx

    from .dpop import DpopKey
    from .registration import ClientInfo

# Refresh this long before a token expires, so it does not expire on the way.
EXPIRY_MARGIN = 30.0


@dataclass(frozen=True)
class Tokens:
    """An access token, with what came with it and what it was asked for."""

    access_token: str
    token_type: str = "Bearer"  # or "DPoP": bound to the client's DPoP key
    refresh_token: str | None = None
    expires_at: float | None = None  # seconds since the epoch
    scope: str | None = None  # granted (or, when the server did not say, requested)
    requested_scope: str | None = None
    issuer: str | None = None  # the authorization server that issued it

    def expired(self, now: float | None = None) -> bool:
        """Whether it expires within `EXPIRY_MARGIN` seconds."""
        if self.expires_at is None:
            return False
        return (now if now is not None else time.time()) >= self.expires_at - EXPIRY_MARGIN

    def scopes(self) -> set[str]:
        """Every scope it was granted or asked for."""
        return set((self.scope or "").split()) | set((self.requested_scope or "").split())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for a token store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokens:
        """The inverse of `to_dict`."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def client_authentication(
    client: ClientInfo, form: dict[str, str], audience: str
) -> dict[str, str]:
    """Put the client's credentials in the form or a header, as its method says; returns the
    headers to add. `audience` is who a ``private_key_jwt`` assertion is for."""
    if client.auth_method == "private_key_jwt" and client.private_key is not None:
        from .assertion import ASSERTION_TYPE, client_assertion

        form["client_id"] = client.client_id  # optional in RFC 7523; servers often look it up
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = client_assertion(
            client.client_id, audience, client.private_key, client.signing_algorithm
        )
        return {}
    if client.auth_method == "client_secret_basic" and client.client_secret is not None:
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    form["client_id"] = client.client_id
    if client.auth_method == "client_secret_post" and client.client_secret is not None:
        form["client_secret"] = client.client_secret
    return {}


async def request_tokens(
    http: httpx.AsyncClient,
    token_endpoint: str,
    client: ClientInfo,
    form: dict[str, str],
    *,
    issuer: str | None,
    requested_scope: str | None,
    previous: Tokens | None = None,
    dpop: DpopKey | None = None,
) -> Tokens:
    """POST a grant to the token endpoint and read the tokens (a refresh keeps the previous
    refresh token when the server sends no new one). With `dpop`, each POST carries a proof
    and a ``use_dpop_nonce`` answer is retried once with the server's nonce."""
    import httpx

    form = dict(form)
    headers = {"Accept": "application/json"}
    headers.update(client_authentication(client, form, issuer or token_endpoint))
    for _ in range(2):
        if dpop is not None:
            headers["DPoP"] = dpop.proof("POST", token_endpoint)
        try:
            response = await http.post(token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise OAuthError(f"token request to {token_endpoint}: {exc}") from exc
        try:
            answer = loads(response.content)
        except ValueError:
            answer = None
        wants_nonce = isinstance(answer, dict) and answer.get("error") == "use_dpop_nonce"
        if not (
            dpop is not None
            and wants_nonce
            and dpop.take_nonce(token_endpoint, response.headers.get("dpop-nonce"))
        ):
            break
    if not isinstance(answer, dict):
        raise OAuthError(
            f"token request to {token_endpoint}: HTTP {response.status_code}, not a JSON object"
        )
    if response.status_code != 200 or not isinstance(answer.get("access_token"), str):
        error = answer.get("error") if isinstance(answer.get("error"), str) else None
        detail = answer.get("error_description")
        raise OAuthError(
            f"token request to {token_endpoint} refused (HTTP {response.status_code}"
            + (f", {error}" if error else "")
            + (f": {detail}" if isinstance(detail, str) else "")
            + ")",
            error,
        )
    lifetime = answer.get("expires_in")
    expires_at = (
        time.time() + float(lifetime)
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
        else None
    )
    refresh = answer.get("refresh_token")
    scope = answer.get("scope")
    bound = dpop is not None and str(answer.get("token_type", "")).lower() == "dpop"
    tokens = Tokens(
        access_token=answer["access_token"],
        token_type="DPoP" if bound else "Bearer",
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_at=expires_at,
        scope=scope if isinstance(scope, str) else requested_scope,
        requested_scope=requested_scope,
        issuer=issuer,
    )
    if previous is not None and tokens.refresh_token is None:
        tokens = replace(tokens, refresh_token=previous.refresh_token)
    return tokens
