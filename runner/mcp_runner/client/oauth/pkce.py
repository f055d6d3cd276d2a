"""PKCE (RFC 7636, S256) and the ``state`` value of an authorization request."""

from __future__ import annotations

import base64
import hashlib
import secrets


def code_verifier() -> str:
    """A fresh code verifier: 64 characters of the unreserved alphabet."""
    return secrets.token_urlsafe(48)


def s256(verifier: str) -> str:
    """The S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    """An unguessable ``state`` for one authorization request."""
    return secrets.token_urlsafe(24)
