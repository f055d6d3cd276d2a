"""What request headers say, checked: Host and Origin (DNS rebinding), what trusted reverse
proxies forward (``Forwarded``, ``X-Forwarded-*``), and the 2026-07-28 headers that must mirror
the body (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``, ``Mcp-Param-*``)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
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
NAMED_METHODS = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "tasks/get": "taskId",
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


class HostCheck:
    """The Host (421) and Origin (403) checks against DNS rebinding, built once from ``[http]``.

    A Host is accepted when it is listed in ``allowed_hosts`` (``"*"``: any), or names this
    machine: a loopback name, the machine's host name, or the very address the request arrived
    at (so a server bound to a wildcard address answers its own IP, and a pod its own). Any other
    name, the one a DNS-rebinding page would send, is refused until it is listed. An Origin is
    accepted when listed in ``allowed_origins`` (``"*"``: any), or when it is a loopback origin
    and the request arrived on a loopback address.
    """

    __slots__ = ("any_host", "any_origin", "hosts", "origins")

    def __init__(self, settings: HttpSettings) -> None:
        allowed = [h.lower() for h in settings.allowed_hosts]
        self.any_host = "*" in allowed
        self.hosts = frozenset(allowed) | LOCAL_HOSTS | {socket.gethostname().lower()}
        self.any_origin = "*" in settings.allowed_origins
        self.origins = frozenset(settings.allowed_origins)

    def check(self, headers: dict[str, str], scope: Scope) -> None:
        """Refuse a request whose Host (421) or Origin (403) this server does not answer to."""
        if not self.any_host:
            host = headers.get("host", "").lower()
            hosts = self.hosts
            if host not in hosts:
                name = host_name(host)
                if name not in hosts and name != _arrival_host(scope):
                    raise HttpError(
                        421,
                        INVALID_REQUEST,
                        f"Misdirected request: Host {host!r} is not allowed; list the name "
                        "clients use in [http] allowed_hosts (MCP_RUNNER_HTTP__ALLOWED_HOSTS)",
                    )
        origin = headers.get("origin")
        if origin is not None and not self.any_origin and origin not in self.origins:
            name = host_name(urlsplit(origin).netloc.lower()) if "://" in origin else ""
            if not (name in LOCAL_HOSTS and _on_loopback(_arrival_host(scope))):
                raise HttpError(
                    403,
                    INVALID_REQUEST,
                    f"Forbidden: Origin {origin!r} is not allowed; list it in "
                    "[http] allowed_origins (MCP_RUNNER_HTTP__ALLOWED_ORIGINS)",
                )


def _arrival_host(scope: Scope) -> str | None:
    """The address the request arrived at, as a Host header names it (IPv6 in brackets)."""
    server = scope.get("server")
    if not server or not isinstance(server[0], str):
        return None  # a Unix socket, or an ASGI server that does not say
    address: str = server[0]
    if address.startswith("::ffff:") and "." in address:  # IPv4 on a dual-stack socket
        return address[7:]
    return f"[{address}]" if ":" in address else address


def _on_loopback(address: str | None) -> bool:
    return address is not None and (address.startswith("127.") or address == "[::1]")


class ForwardedHeaders:
    """What trusted reverse proxies say about a request (``[http] forwarded_allow_ips``,
    uvicorn's meaning): the scheme, Host and client address the proxy received.

    From a peer in the list, ``Forwarded`` (RFC 7239) or else ``X-Forwarded-Proto``,
    ``X-Forwarded-Host`` and ``X-Forwarded-For`` replace the request's scheme, its Host header
    and its client address; the client is the nearest address not in the list, walking the chain
    from the right. ``X-Forwarded-Prefix`` (the path the proxy serves us under) is put before the
    scope's ``root_path``. From any other peer they are ignored.
    """

    __slots__ = ("addresses", "any_peer", "known", "literals", "networks")

    def __init__(self, allowed: list[str]) -> None:
        self.any_peer = "*" in allowed
        self.addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.literals: set[str] = set()  # e.g. a Unix socket path
        self.known: dict[str, bool] = {}  # peers already judged (bounded)
        for entry in allowed:
            try:
                if "/" in entry:
                    self.networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(entry))
            except ValueError:
                self.literals.add(entry)

    def trusts(self, peer: str | None) -> bool:
        """Whether `peer` (an address) is a trusted proxy."""
        if self.any_peer:
            return True
        if not peer:
            return False
        known = self.known.get(peer)
        if known is None:
            try:
                ip = ipaddress.ip_address(peer.strip("[]"))
            except ValueError:
                known = peer in self.literals
            else:
                known = ip in self.addresses or any(ip in net for net in self.networks)
            if len(self.known) >= 4096:
                self.known.clear()
            self.known[peer] = known
        return known

    def apply(self, scope: Scope) -> Scope:
        """`scope` as the trusted proxy received it (a copy), or `scope` itself when its peer is
        not trusted or says nothing."""
        client = scope.get("client")
        if not self.trusts(client[0] if client else None):
            return scope
        forwarded: list[str] = []
        xff: list[str] = []
        proto = host = prefix = None
        for key, value in scope["headers"]:
            if key == b"forwarded":
                forwarded.append(value.decode("latin-1"))
            elif key == b"x-forwarded-for":
                xff.append(value.decode("latin-1"))
            elif key == b"x-forwarded-proto":
                proto = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
            elif key == b"x-forwarded-host":
                host = value.decode("latin-1").rsplit(",", 1)[-1].strip()
            elif key == b"x-forwarded-prefix":
                prefix = value.decode("latin-1").rsplit(",", 1)[-1].strip().rstrip("/")
        if prefix and not _path_prefix(prefix):
            prefix = None
        hops: list[dict[str, str]]
        if forwarded:
            hops = [_forwarded_element(e) for e in ",".join(forwarded).split(",")]
        elif xff or proto or host or prefix:
            hops = [{"for": a.strip()} for a in ",".join(xff).split(",")] if xff else [{}]
            if proto:
                hops[-1]["proto"] = proto
            if host:
                hops[-1]["host"] = host
        else:
            return scope
        # The nearest hop whose sender is not a trusted proxy: what our proxies received.
        chosen = hops[0]
        for hop in reversed(hops):
            chosen = hop
            if not self.trusts(_address_of(hop.get("for", ""))):
                break
        hop_proto = chosen.get("proto") or hops[-1].get("proto")
        hop_host = chosen.get("host") or hops[-1].get("host")
        scope = dict(scope)
        if prefix:
            scope["root_path"] = prefix + scope.get("root_path", "")
        if hop_proto in ("http", "https"):
            scope["scheme"] = hop_proto
        sender = _address_of(chosen.get("for", ""))
        if sender:
            scope["client"] = (sender, 0)
        if hop_host and not any(c in hop_host for c in _NOT_IN_HOST):
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [
                (b"host", hop_host.encode("latin-1"))
            ]
        return scope


# Characters that never occur in a Host a proxy forwards.
_NOT_IN_HOST = frozenset('"\\/ ?#@,;')


def _path_prefix(prefix: str) -> bool:
    """Whether `prefix` is a plain path prefix (``/tools``): segments of URL path characters."""
    return (
        prefix.startswith("/")
        and all(c.isalnum() or c in "/-._~" for c in prefix)
        and not {".", ".."} & set(prefix.split("/"))
        and "//" not in prefix
    )


def _forwarded_element(element: str) -> dict[str, str]:
    """One ``Forwarded`` element: ``for=1.2.3.4;proto=https;host=x`` → its pairs."""
    pairs = {}
    for pair in element.split(";"):
        key, _, value = pair.partition("=")
        pairs[key.strip().lower()] = value.strip().strip('"')
    return pairs


def _address_of(node: str) -> str:
    """The address of a forwarded node (``1.2.3.4:5``, ``[::1]:5``, ``"[::1]"``), no port."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node
    return node.rsplit(":", 1)[0] if node.count(":") == 1 else node


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
