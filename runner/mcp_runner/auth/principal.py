"""`Principal`: who made a request, what it may do, the claims of its token, and the token
itself for a tool that forwards it to an API it is meant for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .metadata import canonical_uri


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who (`subject`), what it may do (`scopes`), the token's
    `claims`, and the verified bearer `token` (set by the authenticator).

    The token is left out of ``repr`` (so of every log line) and of comparisons; read it with
    `token_for`, which hands it over only for a resource its audience names.
    """

    subject: str
    scopes: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    token: str | None = field(default=None, compare=False, repr=False)

    def has_scopes(self, required: Iterable[str]) -> bool:
        """Whether the principal holds every scope of `required`."""
        return all(scope in self.scopes for scope in required)

    @property
    def expires_at(self) -> float | None:
        """The token's expiry (``exp``, seconds since the epoch), or None when it has none."""
        exp = self.claims.get("exp")
        return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None

    def token_for(self, resource: str) -> str | None:
        """The bearer token, when its audience (the ``aud`` claim, a string or a list) names
        `resource` (RFC 8707; URIs compared in canonical form); else None.

        This is how a tool forwards the caller's token to another API: only to one the token
        was issued for, never to any other.
        """
        if self.token is None:
            return None
        aud = self.claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        wanted = _comparable(resource)
        return (
            self.token
            if any(isinstance(a, str) and _comparable(a) == wanted for a in audiences)
            else None
        )


def _comparable(value: str) -> str:
    return canonical_uri(value) if "://" in value else value
