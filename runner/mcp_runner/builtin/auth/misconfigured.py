"""`MisconfiguredVerifier`: the stand-in for verifiers that could not be set up, so that a
broken ``[auth]`` table closes the server instead of leaving it open."""

from __future__ import annotations

from ...auth import AuthUnavailable, Principal


class MisconfiguredVerifier:
    """Stands in when the configured authentication cannot be set up: refuses every token, so a
    broken ``[auth]`` table never leaves the server open."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def verify(self, token: str) -> Principal | None:
        """Refuse: 503, the server cannot check tokens until its configuration is fixed."""
        raise AuthUnavailable("authentication is misconfigured on this server")
