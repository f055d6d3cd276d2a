"""Enterprise-managed authorization (SEP-990): the user's identity provider exchanges their
ID token for an identity assertion authorization grant (ID-JAG, RFC 8693 token exchange),
which the ``jwt_bearer`` grant then presents to the MCP server's authorization server."""

from __future__ import annotations

from typing import Any

from ...protocol.jsonrpc import loads
from .errors import OAuthError

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"


class IdJagExchange:
    """An `OAuth` ``assertion`` for ``grant="jwt_bearer"``: each call exchanges `id_token` at
    the identity provider's token endpoint for an ID-JAG meant for the authorization server
    (``audience``) and the MCP server (``resource``).

    `id_token` is the text, or a function returning the current one (ID tokens expire);
    `client_id` and `client_secret` are the client's at the identity provider.
    """

    def __init__(
        self,
        token_endpoint: str,
        id_token: str | Any,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self.token_endpoint = token_endpoint
        self.id_token = id_token
        self.client_id = client_id
        self.client_secret = client_secret

    async def __call__(self, audience: str, resource: str) -> str:
        """The ID-JAG for this authorization server and MCP server."""
        import httpx

        id_token = self.id_token() if callable(self.id_token) else self.id_token
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN,
            "audience": audience,
            "resource": resource,
        }
        if self.client_id is not None:
            form["client_id"] = self.client_id
        if self.client_secret is not None:
            form["client_secret"] = self.client_secret
        try:
            async with httpx.AsyncClient(timeout=30.0) as http:
                response = await http.post(
                    self.token_endpoint, data=form, headers={"Accept": "application/json"}
                )
        except httpx.HTTPError as exc:
            raise OAuthError(f"token exchange at {self.token_endpoint}: {exc}") from exc
        try:
            answer = loads(response.content)
        except ValueError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise OAuthError(
                f"token exchange at {self.token_endpoint} refused (HTTP {response.status_code}"
                + (f", {error}" if isinstance(error, str) else "")
                + ")",
                error if isinstance(error, str) else None,
            )
        if isinstance(answer, dict) and answer.get("issued_token_type") not in (None, ID_JAG):
            raise OAuthError(f"token exchange gave a {answer['issued_token_type']}, not an ID-JAG")
        return token
