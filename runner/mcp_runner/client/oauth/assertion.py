"""``private_key_jwt`` client authentication (RFC 7523 section 2.2): a short-lived JWT signed
with the client's key. Needs joserfc (the ``mcp-runner[jwt]`` extra), imported only here."""

from __future__ import annotations

import secrets
import time

from .errors import OAuthError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME = 300  # seconds
_KEY_TYPES = {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}


def client_assertion(client_id: str, audience: str, private_key: str, algorithm: str) -> str:
    """A signed JWT naming the client as issuer and subject, for `audience` (the
    authorization server's issuer)."""
    try:
        from joserfc import jwt
        from joserfc.jwk import JWKRegistry
    except ImportError:
        raise OAuthError(
            "private_key_jwt needs the joserfc package: pip install 'mcp-runner[jwt]'"
        ) from None
    key_type = _KEY_TYPES.get(algorithm[:2])
    if key_type is None:
        raise OAuthError(f"unsupported signing algorithm {algorithm!r} for private_key_jwt")
    try:
        key = JWKRegistry.import_key(private_key, key_type)
    except Exception as exc:  # joserfc raises several kinds for an unreadable key
        raise OAuthError(f"the private key is not a {key_type} key: {exc}") from None
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + LIFETIME,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode({"alg": algorithm, "typ": "JWT"}, claims, key)
