"""Reading a ``WWW-Authenticate: Bearer ...`` (or ``DPoP ...``) challenge (RFC 6750,
RFC 9449, RFC 9728)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCHEME = re.compile(r"(?:^|,)\s*(?:Bearer|DPoP)(?:\s+|$)", re.IGNORECASE)
_PARAM = re.compile(r'\s*([A-Za-z0-9_\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')


@dataclass(frozen=True)
class Challenge:
    """What a 401 or 403 asked for: where the resource metadata is, which scopes, what error."""

    resource_metadata: str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None

    @property
    def scopes(self) -> list[str]:
        """The challenged scopes, in order."""
        return self.scope.split() if self.scope else []


def parse_challenge(header: str | None) -> Challenge:
    """The Bearer (or DPoP) challenge of a ``WWW-Authenticate`` header (empty when there is
    none)."""
    if not header:
        return Challenge()
    match = _SCHEME.search(header)
    if match is None:
        return Challenge()
    params: dict[str, str] = {}
    rest = header[match.end() :]
    position = 0
    while position < len(rest):
        param = _PARAM.match(rest, position)
        if param is None or param.end() == position:
            break  # another scheme, or something we cannot read
        name, value = param.group(1).lower(), param.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(name, value)
        position = param.end()
    return Challenge(
        resource_metadata=params.get("resource_metadata") or None,
        scope=params.get("scope") or None,
        error=params.get("error") or None,
        error_description=params.get("error_description") or None,
    )
