"""Bearer-token authentication (OAuth 2.1 resource server) and scope-based authorization:
what any token verifier needs, the builtin ones and a plugin's alike.

The host turns authentication on when a plugin offers token verifiers
(``mcp_runner_token_verifiers``); the builtin ``auth`` plugin (`mcp_runner.builtin.auth`)
offers them from the ``[auth]`` config table. Every HTTP request must then carry
``Authorization: Bearer <token>`` (never a query parameter); the verifiers are asked in order
and the first `Principal` wins. A tool, prompt or resource whose required scopes (its own
``scopes=[...]`` plus its plugin's ``[plugins.<name>] scopes``) the principal lacks is hidden
from lists and refused with 403 ``insufficient_scope``.

A verifier is a `TokenVerifier`: ``async verify(token) -> Principal | None``. It returns None
for a token it does not know and raises `AuthError` (e.g. ``AuthError.invalid_token("expired")``)
for one it knows is bad; `expected_resource()` tells it which resource URI the token must be
meant for::

    from mcp_runner.auth import AuthError, Principal, expected_resource
"""

from .authenticator import TOKEN_ENV, Authenticator, expected_resource
from .bearer import bearer_challenge
from .errors import FORBIDDEN, UNAUTHORIZED, UNAVAILABLE, AuthError, AuthUnavailable
from .metadata import LOCAL_HOSTS, WELL_KNOWN_PATH, canonical_uri, host_name
from .principal import Principal
from .settings import ResourceServerSettings
from .verifier import DEFAULT_CACHE_TTL, TokenVerifier

__all__ = [
    "DEFAULT_CACHE_TTL",
    "FORBIDDEN",
    "LOCAL_HOSTS",
    "TOKEN_ENV",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "WELL_KNOWN_PATH",
    "AuthError",
    "AuthUnavailable",
    "Authenticator",
    "Principal",
    "ResourceServerSettings",
    "TokenVerifier",
    "bearer_challenge",
    "canonical_uri",
    "expected_resource",
    "host_name",
]
