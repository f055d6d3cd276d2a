"""Checks on request headers: Host and Origin (DNS rebinding), and the 2026-07-28 headers
that must mirror the body (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``,
``Mcp-Param-*``)."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...auth.metadata import LOCAL_HOSTS, host_name
from ...protocol import versions
from ...protocol.errors import HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, UNSUPPORTED_VERSION
from ...protocol.jsonrpc import error
from .responses import HttpError, Scope

if TYPE_CHECKING:
    from ...config import HttpSettings
    from ...protocol.catalog import Catalog, ServedTool
    from ...protocol.session import Request

#: The body field each method's ``Mcp-Name`` header mirrors.
NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def check_origin(headers: dict[str, str], settings: HttpSettings) -> None:
    """Refuse a Host (421) or an Origin (403) this server does not answer to: bound to a
    local address, only local names, unless `http.allowed_hosts`/`allowed_origins` say so."""
    host = headers.get("host", "")
    allowed_hosts = settings.allowed_hosts
    bound_local = settings.host in LOCAL_HOSTS
    if allowed_hosts or bound_local:
        name = host_name(host)
        if not (
            host in allowed_hosts or name in allowed_hosts or (bound_local and name in LOCAL_HOSTS)
        ):
            raise HttpError(
                421, INVALID_REQUEST, f"Misdirected request: Host {host!r} is not allowed"
            )
    origin = headers.get("origin")
    if origin is not None:
        allowed = settings.allowed_origins
        name = host_name(urlsplit(origin).netloc) if "://" in origin else ""
        if not (origin in allowed or "*" in allowed or (bound_local and name in LOCAL_HOSTS)):
            raise HttpError(403, INVALID_REQUEST, f"Forbidden: Origin {origin!r} is not allowed")


class ModernHeaders:
    """The 2026-07-28 header checks, with each tool's mirrored parameters found once."""

    def __init__(self, registry: Catalog) -> None:
        self.registry = registry
        self._mirrored: dict[int, list[tuple[str, str]]] = {}

    def check(self, req: Request, headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        """The status and error answer for headers that disagree with the body, or None."""
        meta = req.meta
        version = meta.get(versions.META_PROTOCOL_VERSION)
        if not isinstance(version, str) or not isinstance(
            meta.get(versions.META_CLIENT_CAPABILITIES), dict
        ):
            missing = "protocolVersion" if not isinstance(version, str) else "clientCapabilities"
            return 400, error(
                req.id,
                INVALID_PARAMS,
                f"Invalid params: _meta needs io.modelcontextprotocol/{missing}",
            )

        def mismatch(why: str) -> tuple[int, dict[str, Any]]:
            return 400, error(req.id, HEADER_MISMATCH, f"Header mismatch: {why}")

        header = ows(headers.get("mcp-protocol-version"))
        if header is None:
            return mismatch("the MCP-Protocol-Version header is missing")
        if header != version:
            return mismatch(
                f"MCP-Protocol-Version header {header!r} does not match the body's {version!r}"
            )
        if version not in versions.MODERN_VERSIONS:
            return 400, error(
                req.id,
                UNSUPPORTED_VERSION,
                f"Unsupported protocol version: {version}",
                {"supported": list(versions.SUPPORTED_VERSIONS), "requested": version},
            )
        method_header = ows(headers.get("mcp-method"))
        if method_header != req.method:
            what = "missing" if method_header is None else f"{method_header!r}"
            return mismatch(
                f"Mcp-Method header {what} does not match the body's method {req.method!r}"
            )
        field = NAMED_METHODS.get(req.method)
        if field is not None:
            expected = req.params.get(field)
            raw = headers.get("mcp-name")
            if raw is None:
                return mismatch(f"the Mcp-Name header is missing (expected params.{field})")
            got = decode_header(raw)
            if got is None:
                return mismatch("the Mcp-Name header has invalid base64")
            if got != expected:
                return mismatch(
                    f"Mcp-Name header {got!r} does not match params.{field} {expected!r}"
                )
        if req.method == "tools/call":
            tool = self.registry.tools.get(req.params.get("name"))  # type: ignore[arg-type]
            if tool is not None:
                arguments = req.params.get("arguments") or {}
                for prop, name in self.mirrored(tool):
                    value = arguments.get(prop) if isinstance(arguments, dict) else None
                    raw = headers.get(f"mcp-param-{name.lower()}")
                    if value is None:
                        continue
                    if raw is None:
                        return mismatch(
                            f"the Mcp-Param-{name} header is missing (argument {prop!r} is set)"
                        )
                    got = decode_header(raw)
                    if got is None:
                        return mismatch(f"the Mcp-Param-{name} header has invalid base64")
                    if got != header_text(value):
                        return mismatch(
                            f"Mcp-Param-{name} header {got!r} does not match argument {prop!r}"
                        )
        return None

    def mirrored(self, tool: ServedTool) -> list[tuple[str, str]]:
        """The tool's arguments mirrored in headers (``x-mcp-header``): (property, header)."""
        found = self._mirrored.get(id(tool))
        if found is None:
            props = tool.input_schema.get("properties", {})
            found = [
                (p, s["x-mcp-header"])
                for p, s in props.items()
                if isinstance(s, dict) and isinstance(s.get("x-mcp-header"), str)
            ]
            self._mirrored[id(tool)] = found
        return found


def ows(value: str | None) -> str | None:
    """A header value without its optional whitespace."""
    return value.strip(" \t") if value is not None else None


def decode_header(raw: str) -> str | None:
    """A header value with the ``=?base64?...?=`` sentinel decoded; None when it is invalid."""
    value = raw.strip(" \t")
    if value.startswith("=?base64?") and value.endswith("?=") and len(value) >= 11:
        encoded = value[9:-2]
        if len(encoded) % 4:
            return None
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return value


def header_text(value: Any) -> str:
    """How an argument's value reads in its mirroring header."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
