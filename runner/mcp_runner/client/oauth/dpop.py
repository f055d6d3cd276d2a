"""DPoP (RFC 9449): a key of this client's, and the proof JWT it signs for each request, so
an access token bound to the key is worthless to anyone who steals it. Needs joserfc (the
``mcp-runner[jwt]`` extra), imported when the first key is made."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import OAuthError


def _htu(url: str) -> str:
    """The proof's ``htu``: the URL without query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class DpopKey:
    """An ES256 key pair made for this process, the proofs it signs, and the nonces servers
    asked for (by origin)."""

    algorithm = "ES256"

    def __init__(self) -> None:
        try:
            from joserfc import jwt
            from joserfc.jwk import ECKey
        except ImportError:
            raise OAuthError(
                "DPoP needs the joserfc package: pip install 'mcp-runner[jwt]'"
            ) from None
        self._jwt = jwt
        self._key = ECKey.generate_key("P-256")
        self._header: dict[str, Any] = {
            "typ": "dpop+jwt",
            "alg": self.algorithm,
            "jwk": self._key.as_dict(private=False),
        }
        self.nonces: dict[str, str] = {}

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        """A fresh proof for one request (with ``ath`` when it carries `access_token`, and the
        server's nonce when it gave one)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": _htu(url),
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        nonce = self.nonces.get(_origin(url))
        if nonce is not None:
            claims["nonce"] = nonce
        return str(self._jwt.encode(self._header, claims, self._key))

    def take_nonce(self, url: str, nonce: str | None) -> bool:
        """Remember a server's ``DPoP-Nonce``; True when it is a new one (worth a retry)."""
        if not nonce or self.nonces.get(_origin(url)) == nonce:
            return False
        self.nonces[_origin(url)] = nonce
        return True
