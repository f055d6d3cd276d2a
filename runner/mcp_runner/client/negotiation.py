"""The handshake of each protocol era: what ``initialize`` (legacy) and ``server/discover``
(2026-07-28) send, what their answers tell about the server, and the ``_meta`` envelope every
2026-07-28 request carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..protocol import versions
from ..protocol.errors import UNSUPPORTED_VERSION
from .errors import McpClientError
from .types import ServerInfo


@dataclass(slots=True)
class Handshake:
    """What the server told in its handshake answer."""

    era: Literal["legacy", "modern"]
    protocol_version: str
    server_info: ServerInfo
    capabilities: dict[str, Any]
    instructions: str | None
    supported_versions: list[str] = field(default_factory=list)


def initialize_params(
    protocol_version: str, capabilities: dict[str, Any], client_info: dict[str, Any]
) -> dict[str, Any]:
    """The params of a legacy ``initialize`` request."""
    return {
        "protocolVersion": protocol_version,
        "capabilities": capabilities,
        "clientInfo": client_info,
    }


def envelope(
    capabilities: dict[str, Any], client_info: dict[str, Any], log_level: str | None
) -> dict[str, Any]:
    """The 2026-07-28 ``_meta`` keys of every request."""
    meta: dict[str, Any] = {
        versions.META_PROTOCOL_VERSION: versions.LATEST,
        versions.META_CLIENT_CAPABILITIES: capabilities,
        versions.META_CLIENT_INFO: client_info,
    }
    if log_level is not None:
        meta[versions.META_LOG_LEVEL] = log_level
    return meta


def _capabilities_and_instructions(result: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    caps = result.get("capabilities")
    instructions = result.get("instructions")
    return (
        caps if isinstance(caps, dict) else {},
        instructions if isinstance(instructions, str) else None,
    )


def read_initialize(result: dict[str, Any]) -> Handshake:
    """The server as an ``initialize`` result tells it; `McpClientError` when it chose a
    protocol version this client does not speak."""
    version = result.get("protocolVersion")
    if version not in versions.LEGACY_VERSIONS:
        raise McpClientError(
            UNSUPPORTED_VERSION,
            f"the server answered initialize with protocol version {version!r}, which this "
            f"client does not speak ({', '.join(versions.LEGACY_VERSIONS)})",
        )
    caps, instructions = _capabilities_and_instructions(result)
    return Handshake(
        "legacy", version, ServerInfo.from_wire(result.get("serverInfo")), caps, instructions
    )


def read_discover(result: dict[str, Any]) -> Handshake:
    """The server as a ``server/discover`` result tells it."""
    found_meta = result.get("_meta")
    meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
    caps, instructions = _capabilities_and_instructions(result)
    return Handshake(
        "modern",
        versions.LATEST,
        ServerInfo.from_wire(meta.get(versions.META_SERVER_INFO)),
        caps,
        instructions,
        [v for v in result.get("supportedVersions") or () if isinstance(v, str)],
    )


def speaks_modern(result: dict[str, Any]) -> bool:
    """Whether a ``server/discover`` answer names 2026-07-28 among its ``supportedVersions``
    (an empty ``{}``, as some legacy servers give any method they do not know, does not)."""
    supported = result.get("supportedVersions")
    return isinstance(supported, list) and versions.LATEST in supported


def retry_discover(exc: McpClientError) -> bool:
    """Whether a refused ``server/discover`` is worth sending again: the server rejected the
    version yet names 2026-07-28 among those it supports."""
    if exc.code != UNSUPPORTED_VERSION or not isinstance(exc.data, dict):
        return False
    supported = exc.data.get("supported")
    return isinstance(supported, list) and versions.LATEST in supported


def discover_refused(exc: McpClientError, *, probe: bool) -> McpClientError | None:
    """What a ``server/discover`` refused with `exc` means: None when we were probing and the
    server may be legacy (then try ``initialize``), else the error to raise (`exc` itself,
    or one naming the versions the server speaks when it speaks none of ours)."""
    if exc.code == UNSUPPORTED_VERSION:
        data = exc.data if isinstance(exc.data, dict) else {}
        supported = [v for v in data.get("supported") or () if isinstance(v, str)]
        if probe and any(v in versions.LEGACY_VERSIONS for v in supported):
            return None
        return McpClientError(
            exc.code,
            f"the server speaks none of our protocol versions (it supports "
            f"{', '.join(supported) or 'nothing it named'})",
            exc.data,
        )
    return None if probe else exc
