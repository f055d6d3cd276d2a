"""Reading a token's claims, for the JWT and introspection verifiers: scopes, audience, dates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...auth import canonical_uri


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes from ``scope`` (space-separated, RFC 8693/9068) or ``scp`` (a list or a string)."""
    found: set[str] = set()
    for key in ("scope", "scp"):
        value = claims.get(key)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def audience_ok(aud: Any, accepted: Iterable[str]) -> bool:
    """Whether the ``aud`` claim (a string or a list) names one of `accepted`; URIs are
    compared in canonical form."""
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    wanted = {canonical_uri(a) if "://" in a else a for a in accepted}
    return any(
        isinstance(v, str) and (canonical_uri(v) if "://" in v else v) in wanted for v in values
    )


def numeric_date(value: Any) -> float | None:
    """A NumericDate claim (``exp``, ``nbf``, ``iat``) as a float, or None when it is not one."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
