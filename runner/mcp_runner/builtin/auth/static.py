"""`StaticTokenVerifier`: the tokens listed in ``[[auth.tokens]]``, each with its subject and
scopes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from ...auth import DEFAULT_CACHE_TTL, Principal
from .settings import StaticToken


class StaticTokenVerifier:
    """Tokens listed in the config, each mapped to a subject and scopes.

    Only SHA-256 digests are kept; every configured digest is compared in constant time.
    """

    cache_ttl = DEFAULT_CACHE_TTL

    def __init__(self, tokens: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        self._entries = [
            (hashlib.sha256(token.encode()).digest(), subject, frozenset(scopes))
            for token, subject, scopes in tokens
        ]

    @classmethod
    def from_settings(cls, tokens: Iterable[StaticToken]) -> StaticTokenVerifier:
        """The verifier of the ``[[auth.tokens]]`` entries."""
        return cls((t.token.get_secret_value(), t.subject, t.scopes) for t in tokens)

    def __repr__(self) -> str:
        return f"<StaticTokenVerifier {len(self._entries)} tokens>"

    async def verify(self, token: str) -> Principal | None:
        """The principal of a listed token, or None."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, subject, scopes in self._entries:  # no early exit: constant work
            if hmac.compare_digest(digest, known) and found is None:
                found = (subject, scopes)
        if found is None:
            return None
        subject, scopes = found
        return Principal(
            subject,
            scopes,
            {"sub": subject, "scope": " ".join(sorted(scopes)), "token_type": "static"},
        )
