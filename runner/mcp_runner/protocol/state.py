"""Integrity-protected `requestState` for 2026-07-28 multi-round-trip requests.

The state is ``base64url(json) "." base64url(hmac-sha256)``, bound to the method, the target
and an expiry, so a client can neither forge nor replay it against another request. It is
sealed with a key ring: the first key signs and every key verifies, so a new key is put first
while the old one still opens the states it sealed, then dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from .errors import INVALID_PARAMS, McpError

STATE_TTL_SECONDS = 600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateSigner:
    """Seals and opens `requestState` with a key ring (`server.state_secrets`, shared by every
    replica): the first key seals, any key opens. Without keys, a random one for this process."""

    def __init__(self, keys: Sequence[bytes] = ()) -> None:
        self._keys = tuple(keys) or (os.urandom(32),)

    def seal(self, payload: dict[str, Any], binding: str) -> str:
        """`payload` as a state token bound to `binding`, valid for STATE_TTL_SECONDS."""
        body = dict(payload, b=binding, x=int(time.time()) + STATE_TTL_SECONDS)
        data = json.dumps(body, separators=(",", ":")).encode()
        mac = hmac.new(self._keys[0], data, hashlib.sha256).digest()
        return f"{_b64(data)}.{_b64(mac)}"

    def open(self, token: Any, binding: str) -> dict[str, Any]:
        """The payload of a state we sealed for this binding; -32602 for anything else."""
        try:
            if not isinstance(token, str):
                raise ValueError("not a string")
            data_part, mac_part = token.split(".")
            data, mac = _unb64(data_part), _unb64(mac_part)
            if not any(
                hmac.compare_digest(mac, hmac.new(key, data, hashlib.sha256).digest())
                for key in self._keys
            ):
                raise ValueError("integrity check failed")
            body: dict[str, Any] = json.loads(data)
        except (ValueError, TypeError) as exc:
            raise McpError(INVALID_PARAMS, f"Invalid requestState: {exc}") from None
        if body.get("b") != binding:
            raise McpError(INVALID_PARAMS, "Invalid requestState: issued for another request")
        if body.get("x", 0) < time.time():
            raise McpError(INVALID_PARAMS, "Invalid requestState: expired")
        return body
