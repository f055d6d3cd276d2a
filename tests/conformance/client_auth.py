"""The OAuth side of the conformance client driver: `auth_for_scenario` gives the
``httpx.Auth`` an ``auth/*`` scenario needs, built on `mcp_runner.client.oauth.OAuth`.

The scenarios' authorization servers approve at once and redirect back, so a
`HeadlessRedirect` follows the authorization URL and takes the code. Credentials come from
the scenario's context (``MCP_CONFORMANCE_CONTEXT``): a pre-registered client (``client_id``,
``client_secret``, ``issuer``), or those of the client-credentials extension scenarios (a
secret, or a private key for ``private_key_jwt``). The client ID metadata document URL is
the one the suite expects a CIMD client to use.
"""

from __future__ import annotations

from typing import Any

from mcp_runner.client.oauth import HeadlessRedirect, IdJagExchange, OAuth

# The URL the suite's CIMD scenario expects as the client_id.
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
REDIRECT_URI = "http://localhost:3000/callback"


def auth_for_scenario(scenario: str, url: str, context: dict[str, Any]) -> OAuth | None:
    """The OAuth provider for an ``auth/*`` scenario (None for other scenarios)."""
    if not scenario.startswith("auth/"):
        return None
    if scenario.startswith("auth/client-credentials-"):  # the -basic and -jwt extensions
        return OAuth(
            grant="client_credentials",
            client_id=context["client_id"],
            client_secret=context.get("client_secret"),
            private_key=context.get("private_key_pem"),
            signing_algorithm=context.get("signing_algorithm") or "ES256",
        )
    if scenario in ("auth/enterprise-managed-authorization", "auth/cross-app-access-complete-flow"):
        exchange = IdJagExchange(
            context["idp_token_endpoint"],
            context["idp_id_token"],
            client_id=context.get("idp_client_id"),
        )
        return OAuth(
            grant="jwt_bearer",
            client_id=context["client_id"],
            client_secret=context.get("client_secret"),
            assertion=exchange,
        )
    if scenario == "auth/wif-jwt-bearer":  # the workload identity extension
        return OAuth(
            grant="jwt_bearer", client_id=context["client_id"], assertion=context["valid_jwt"]
        )
    return OAuth(
        client_id=context.get("client_id"),
        client_secret=context.get("client_secret"),
        client_issuer=context.get("issuer"),
        client_metadata_url=CLIENT_METADATA_URL,
        client_name="mcp-runner conformance client",
        redirect=HeadlessRedirect(REDIRECT_URI),
        dpop=scenario.startswith("auth/dpop"),  # the DPoP extension scenarios
    )
