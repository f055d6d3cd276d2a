"""`TokenVerifier`: what a token verifier is, for the builtin ones and any plugin's."""

from __future__ import annotations

from typing import Protocol

from .principal import Principal

#: How long (seconds) the host reuses a verifier's answer when the verifier sets no ``cache_ttl``.
DEFAULT_CACHE_TTL = 300.0


class TokenVerifier(Protocol):
    """Checks bearer tokens; plugins offer verifiers through ``mcp_runner_token_verifiers``.

    The authenticator asks each verifier in turn and the first principal wins. ``verify``:

    - returns None for a token it does not know (the next verifier is asked);
    - returns a `Principal` (or any object with a ``subject`` string and a ``scopes``
      collection) for a token it accepts;
    - raises `AuthError` (e.g. ``AuthError.invalid_token("expired")``) for a token it knows to
      be bad, whose reason reaches the client, or `AuthUnavailable` when it cannot check the
      token right now (503). Any other exception counts as a refusal: it never lets a token in.

    While it runs, `expected_resource()` is the canonical URI the token must be meant for.
    Optional attributes: ``cache_ttl`` (seconds the host may reuse an answer; default
    `DEFAULT_CACHE_TTL`, never past the token's ``exp``) and ``async aclose()`` (called when
    the server stops).
    """

    async def verify(self, token: str) -> Principal | None:
        """The principal of `token`, or None when the token is not this verifier's."""
        ...
