"""`JwksCache`: the signing keys of a JWKS URL, fetched over HTTPS and kept fresh (joserfc is
imported on first fetch)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...auth import AuthUnavailable
from ...log import get_logger
from .http_client import async_client

#: The largest JWKS document read.
MAX_JWKS_BYTES = 1024 * 1024
# Private-key members never kept from a JWK: only public keys verify tokens.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi"})


class JwksCache:
    """A JWKS document fetched over HTTPS, cached, refetched when stale or (rate-limited) when a
    token names a key id it does not hold."""

    def __init__(self, url: str, *, max_age: float, min_refresh: float, timeout: float) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.keys: dict[str | None, Any] = {}
        self.fetched_at: float | None = None  # last attempt, successful or not
        self.loaded_at: float | None = None
        self.fetches = 0
        self._lock = asyncio.Lock()
        self._client: Any = None

    async def key(self, kid: str | None) -> Any:
        """The key named `kid` (the only key when `kid` is None), or None; raises
        `AuthUnavailable` when no keys could ever be fetched."""
        if self.loaded_at is None or time.monotonic() - self.loaded_at > self.max_age:
            await self._refresh()
        if self.loaded_at is None:
            raise AuthUnavailable("the signing keys (JWKS) could not be fetched")
        found = self._pick(kid)
        if found is None:
            await self._refresh()  # an unknown kid: the keys may have rotated (rate-limited)
            found = self._pick(kid)
        return found

    def _pick(self, kid: str | None) -> Any:
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)

    def _may_refresh(self) -> bool:
        if self.fetched_at is None:
            return True
        wait = self.min_refresh if self.loaded_at is not None else min(self.min_refresh, 5.0)
        return time.monotonic() - self.fetched_at >= wait

    async def _refresh(self) -> None:
        async with self._lock:
            if not self._may_refresh():
                return  # refreshed a moment ago (perhaps by a concurrent request)
            self.fetched_at = time.monotonic()
            self.fetches += 1
            try:
                keys = await self._fetch()
            except Exception as exc:
                get_logger("mcp_runner.auth").warning(
                    "jwks fetch failed", url=self.url, error=f"{type(exc).__name__}: {exc}"
                )
                return  # keep the keys we had, if any
            self.keys = keys
            self.loaded_at = time.monotonic()

    async def _fetch(self) -> dict[str | None, Any]:
        from joserfc import jwk

        if self._client is None:
            self._client = async_client(self.timeout)
        response = await self._client.get(self.url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"the JWKS document is larger than {MAX_JWKS_BYTES} bytes")
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document (no keys list)")
        keys: dict[str | None, Any] = {}
        for entry in document["keys"]:
            if (
                not isinstance(entry, dict)
                or entry.get("use", "sig") != "sig"
                or entry.get("kty") == "oct"
            ):
                continue  # encryption keys and shared secrets never verify tokens
            try:
                key = jwk.import_key({k: v for k, v in entry.items() if k not in PRIVATE_MEMBERS})
            except Exception:
                continue
            keys[entry.get("kid")] = key
        return keys

    async def aclose(self) -> None:
        """Close the HTTP client (a later fetch opens a new one)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
