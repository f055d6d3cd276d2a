"""`JwtVerifier`: signed JWT access tokens (RFC 9068), checked with a JWKS or one configured
key. joserfc (the ``mcp-runner[jwt]`` extra) is imported only when this verifier is built."""

from __future__ import annotations

import base64
import binascii
import json
import time
import warnings
from typing import Any

from ...auth import AuthError, Principal, expected_resource
from .claims import audience_ok, numeric_date, scopes_of
from .jwks import PRIVATE_MEMBERS, JwksCache
from .settings import KEY_TYPE_OF_ALGORITHM, JwtSettings

JWT_MISSING = "JWT verification needs the joserfc package: pip install 'mcp-runner[jwt]'"


class JwtVerifier:
    """Signed JWT access tokens (RFC 9068): signature, ``alg``, ``iss``, ``aud``, ``exp``/``nbf``.

    The audience must be this server's canonical resource URI (RFC 8707; `expected_resource()`)
    unless ``audience`` is configured. Scopes come from ``scope`` or ``scp``.
    """

    def __init__(self, settings: JwtSettings) -> None:
        try:
            from joserfc import jwk, jwt  # noqa: F401
        except ImportError:
            raise RuntimeError(JWT_MISSING) from None
        self.settings = settings
        self.algorithms = list(settings.algorithms)
        self.jwks: JwksCache | None = None
        self._key: Any = None
        if settings.jwks_url is not None:
            self.jwks = JwksCache(
                settings.jwks_url,
                max_age=settings.jwks_cache_seconds,
                min_refresh=settings.jwks_min_refresh_seconds,
                timeout=settings.timeout,
            )
        else:
            if settings.key_file is not None:
                with open(settings.key_file, encoding="utf-8") as handle:
                    raw = handle.read()
            else:
                assert settings.key is not None
                raw = settings.key.get_secret_value()
            self._key = _import_key(raw)

    def __repr__(self) -> str:
        return f"<JwtVerifier issuer={self.settings.issuer!r}>"

    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid JWT; None for a token that is not a JWS; `AuthError` for a
        JWT that fails a check."""
        parts = token.split(".")
        if len(parts) != 3:
            return None  # not a JWS compact token: another verifier's
        header = _b64json(parts[0])
        if not isinstance(header, dict):
            raise AuthError.invalid_token("malformed JWT header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise AuthError.invalid_token("unsigned tokens (alg none) are not accepted")
        if alg not in self.algorithms:
            raise AuthError.invalid_token(f"algorithm {alg[:32]} is not accepted")
        if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
            raise AuthError.invalid_token("unsupported JWT header parameters (crit, jku, x5u, jwk)")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError.invalid_token("malformed kid")
        key = await self.jwks.key(kid) if self.jwks is not None else self._key
        if key is None:
            raise AuthError.invalid_token(
                f"unknown signing key {kid[:64]!r}" if kid else "the token names no key id (kid)"
            )
        if getattr(key, "key_type", None) != KEY_TYPE_OF_ALGORITHM[alg]:
            raise AuthError.invalid_token(f"algorithm {alg} does not match the signing key")
        key_alg = key.get("alg") if hasattr(key, "get") else None
        if key_alg is not None and key_alg != alg:
            raise AuthError.invalid_token(f"algorithm {alg} does not match the signing key")
        claims = self._decode(token, key, alg)
        return self._principal(claims)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        from joserfc import errors, jwt

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # EdDSA's deprecation warning
                decoded = jwt.decode(token, key, algorithms=[alg])
        except errors.BadSignatureError:
            raise AuthError.invalid_token("bad signature") from None
        except (errors.JoseError, ValueError, TypeError) as exc:
            raise AuthError.invalid_token(
                f"malformed or unverifiable JWT ({type(exc).__name__})"
            ) from None
        return dict(decoded.claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        settings = self.settings
        now = time.time()
        leeway = settings.leeway
        if claims.get("iss") != settings.issuer:
            raise AuthError.invalid_token("wrong issuer")
        exp = numeric_date(claims.get("exp"))
        if exp is None:
            if "exp" in claims or settings.require_exp:
                raise AuthError.invalid_token("the token has no valid expiry (exp)")
        elif now > exp + leeway:
            raise AuthError.invalid_token("the token has expired")
        if "nbf" in claims:
            nbf = numeric_date(claims.get("nbf"))
            if nbf is None or now + leeway < nbf:
                raise AuthError.invalid_token("the token is not valid yet (nbf)")
        if claims.get("iat") is not None:
            iat = numeric_date(claims["iat"])
            if iat is None or iat > now + leeway:
                raise AuthError.invalid_token("the token was issued in the future (iat)")
        accepted = settings.audience or [r for r in [expected_resource()] if r]
        if not accepted:
            raise AuthError.invalid_token(
                "this server has no resource URI to check the audience against"
            )
        if not audience_ok(claims.get("aud"), accepted):
            raise AuthError.invalid_token("the token is not meant for this server (audience)")
        subject = claims.get("sub") or claims.get("client_id")
        if not isinstance(subject, str) or not subject:
            raise AuthError.invalid_token("the token names no subject (sub)")
        return Principal(subject, scopes_of(claims), claims)

    async def aclose(self) -> None:
        """Close the JWKS client, if any."""
        if self.jwks is not None:
            await self.jwks.aclose()


def _b64json(segment: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise AuthError.invalid_token(f"malformed JWT ({type(exc).__name__})") from None


def _import_key(raw: str) -> Any:
    from joserfc import jwk

    text = raw.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if data.get("kty") != "oct":
                data = {k: v for k, v in data.items() if k not in PRIVATE_MEMBERS}
            return jwk.import_key(data)
        for kty in ("RSA", "EC", "OKP"):
            try:
                key = jwk.import_key(text, kty)
            except Exception:
                continue
            return jwk.import_key(key.as_dict(private=False))
    except Exception as exc:
        raise ValueError(f"jwt.key is not a usable PEM or JWK: {type(exc).__name__}") from None
    raise ValueError(
        "jwt.key is not a usable PEM or JWK (RSA, EC or OKP public key, or an oct JWK)"
    )
