"""Protocol versions and eras."""

from __future__ import annotations

import re

# The legacy era: an `initialize` handshake opens a session.
LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_LEGACY = LEGACY_VERSIONS[-1]
# The stateless era: every request carries its version and capabilities in `_meta`.
MODERN_VERSIONS = ("2026-07-28",)
LATEST = MODERN_VERSIONS[-1]
SUPPORTED_VERSIONS = LEGACY_VERSIONS + MODERN_VERSIONS

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"


def negotiate(requested: object) -> str:
    """The version answered to `initialize`: the client's when we speak it, else our latest."""
    if isinstance(requested, str) and requested in LEGACY_VERSIONS:
        return requested
    return LATEST_LEGACY


def is_modern(version: str) -> bool:
    """Whether a version string names the stateless era (a date from 2026-07-28 on)."""
    return _DATE.fullmatch(version) is not None and version >= MODERN_VERSIONS[0]


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
