"""`IntrospectionVerifier`: opaque tokens, checked at the authorization server's RFC 7662
introspection endpoint, answers cached briefly."""

from __future__ import annotations

import collections
import hashlib
import time
from typing import Any

from ...auth import AuthError, AuthUnavailable, Principal, expected_resource
from ...log import get_logger
from .claims import audience_ok, numeric_date, scopes_of
from .http_client import async_client
from .settings import IntrospectionSettings

#: How many introspection answers are remembered.
CACHE_SIZE = 1024
#: Token types an introspection answer may name for an access token.
ACCESS_TOKEN_TYPES = frozenset({"bearer", "access_token", "at+jwt"})


class IntrospectionVerifier:
    """Opaque tokens checked at an RFC 7662 introspection endpoint (client_secret_basic).

    Checks ``active``, ``exp`` (and ``nbf``), ``iss`` when configured, ``aud`` when the answer
    names one (or always with ``require_audience``); answers are cached briefly.
    """

    def __init__(self, settings: IntrospectionSettings) -> None:
        self.settings = settings
        self.cache_ttl = settings.cache_seconds
        self._cache: collections.OrderedDict[str, tuple[float, Principal | None]] = (
            collections.OrderedDict()
        )
        self._client: Any = None
        self.calls = 0

    def __repr__(self) -> str:
        return f"<IntrospectionVerifier {self.settings.endpoint}>"

    async def verify(self, token: str) -> Principal | None:
        """The principal of an active token; `AuthError` for an inactive or unfit one,
        `AuthUnavailable` when the endpoint cannot answer."""
        resource = expected_resource() or ""
        key = hashlib.sha256(f"{resource}\x00{token}".encode()).hexdigest()
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            if hit[1] is None:
                raise AuthError.invalid_token("the token is not active")
            return hit[1]
        answer = await self._introspect(token)
        try:
            principal = self._principal(answer, resource)
        except AuthError:
            self._remember(key, None, now + min(self.cache_ttl, 5.0))
            raise
        ttl = self.cache_ttl
        if principal.expires_at is not None:
            ttl = min(ttl, principal.expires_at - time.time())
        self._remember(key, principal, now + ttl)
        return principal

    def _remember(self, key: str, principal: Principal | None, until: float) -> None:
        if until <= time.monotonic():
            return
        self._cache[key] = (until, principal)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def _introspect(self, token: str) -> dict[str, Any]:
        settings = self.settings
        if self._client is None:
            self._client = async_client(settings.timeout)
        self.calls += 1
        log = get_logger("mcp_runner.auth")
        try:
            response = await self._client.post(
                settings.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(settings.client_id, settings.client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except Exception as exc:
            log.warning(
                "introspection failed", endpoint=settings.endpoint, error=type(exc).__name__
            )
            raise AuthUnavailable("the authorization server could not be reached") from None
        if response.status_code != 200:
            log.warning(
                "introspection failed", endpoint=settings.endpoint, status=response.status_code
            )
            raise AuthUnavailable(f"the authorization server answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise AuthUnavailable("the authorization server's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise AuthUnavailable("the authorization server's answer is not a JSON object")
        return answer

    def _principal(self, answer: dict[str, Any], resource: str) -> Principal:
        settings = self.settings
        if answer.get("active") is not True:
            raise AuthError.invalid_token("the token is not active")
        now = time.time()
        if answer.get("exp") is not None:
            exp = numeric_date(answer["exp"])
            if exp is None or now > exp + settings.leeway:
                raise AuthError.invalid_token("the token has expired")
        if answer.get("nbf") is not None:
            nbf = numeric_date(answer["nbf"])
            if nbf is None or now + settings.leeway < nbf:
                raise AuthError.invalid_token("the token is not valid yet (nbf)")
        if settings.issuer is not None and answer.get("iss") != settings.issuer:
            raise AuthError.invalid_token("wrong issuer")
        token_type = answer.get("token_type")
        if isinstance(token_type, str) and token_type.lower() not in ACCESS_TOKEN_TYPES:
            raise AuthError.invalid_token(f"not an access token ({token_type})")
        accepted = settings.audience or [r for r in [resource] if r]
        checked = "aud" in answer or settings.require_audience
        if checked and not (accepted and audience_ok(answer.get("aud"), accepted)):
            raise AuthError.invalid_token("the token is not meant for this server (audience)")
        subject = answer.get("sub") or answer.get("username") or answer.get("client_id")
        if not isinstance(subject, str) or not subject:
            raise AuthError.invalid_token("the introspection answer names no subject")
        claims = {k: v for k, v in answer.items() if k != "active"}
        return Principal(subject, scopes_of(answer), claims)

    async def aclose(self) -> None:
        """Close the HTTP client (a later introspection opens a new one)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
