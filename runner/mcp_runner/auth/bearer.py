"""The Bearer scheme on the wire (RFC 6750): what a token may look like, and the
``WWW-Authenticate`` challenge of a refusal."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: The longest token the host reads; a longer one is refused unread.
MAX_TOKEN_LENGTH = 16 * 1024
# Characters allowed inside a quoted challenge value (RFC 6750 §3): %x20-21 / %x23-5B / %x5D-7E
_UNSAFE_IN_QUOTES = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def bearer_challenge(
    resource_metadata: str | None,
    scopes: Iterable[str] = (),
    error: str | None = None,
    description: str | None = None,
) -> str:
    """A ``WWW-Authenticate`` value: ``Bearer resource_metadata="...", scope="...", error=...``."""
    params = []
    if resource_metadata:
        params.append(f'resource_metadata="{_quote(resource_metadata)}"')
    scope = " ".join(scopes)
    if scope:
        params.append(f'scope="{_quote(scope)}"')
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{_quote(description)}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"


def _quote(value: str) -> str:
    return _UNSAFE_IN_QUOTES.sub("?", value)
