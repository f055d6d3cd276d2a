"""`Principal`: who made a request, what it may do, and the claims of its token."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who (`subject`), what it may do (`scopes`), and the token's
    claims (never the token itself)."""

    subject: str
    scopes: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has_scopes(self, required: Iterable[str]) -> bool:
        """Whether the principal holds every scope of `required`."""
        return all(scope in self.scopes for scope in required)

    @property
    def expires_at(self) -> float | None:
        """The token's expiry (``exp``, seconds since the epoch), or None when it has none."""
        exp = self.claims.get("exp")
        return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
