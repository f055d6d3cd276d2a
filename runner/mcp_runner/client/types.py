"""Typed results: small dataclasses over the wire dicts (each keeps the dict as ``raw``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _get(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = raw.get(key)
    return value if isinstance(value, kind) else default


@dataclass(slots=True)
class Tool:
    """A tool the server offers (``tools/list``)."""

    name: str
    description: str | None = None
    input_schema: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Tool:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        return cls(
            name=str(raw.get("name", "")),
            description=_get(raw, "description", str),
            input_schema=_get(raw, "inputSchema", dict, {}),
            title=_get(raw, "title", str),
            output_schema=_get(raw, "outputSchema", dict),
            annotations=_get(raw, "annotations", dict),
            meta=_get(raw, "_meta", dict),
            raw=raw,
        )


@dataclass(slots=True)
class CallToolResult:
    """The result of ``tools/call``; a tool's own failure is ``is_error``, not an exception."""

    content: list[dict[str, Any]] = field(default_factory=list)
    structured_content: Any = None
    is_error: bool = False
    meta: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> CallToolResult:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        return cls(
            content=_get(raw, "content", list, []),
            structured_content=raw.get("structuredContent"),
            is_error=raw.get("isError") is True,
            meta=_get(raw, "_meta", dict),
            raw=raw,
        )

    @property
    def text(self) -> str:
        """The text blocks of the content, joined by newlines."""
        return "\n".join(
            b["text"] for b in self.content if isinstance(b, dict) and b.get("type") == "text"
        )


@dataclass(slots=True)
class Resource:
    """A resource the server offers (``resources/list``)."""

    uri: str
    name: str = ""
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    size: int | None = None
    annotations: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Resource:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        return cls(
            uri=str(raw.get("uri", "")),
            name=str(raw.get("name", "")),
            title=_get(raw, "title", str),
            description=_get(raw, "description", str),
            mime_type=_get(raw, "mimeType", str),
            size=_get(raw, "size", int),
            annotations=_get(raw, "annotations", dict),
            meta=_get(raw, "_meta", dict),
            raw=raw,
        )


@dataclass(slots=True)
class ResourceTemplate:
    """A URI template of resources (``resources/templates/list``)."""

    uri_template: str
    name: str = ""
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    annotations: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ResourceTemplate:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        return cls(
            uri_template=str(raw.get("uriTemplate", "")),
            name=str(raw.get("name", "")),
            title=_get(raw, "title", str),
            description=_get(raw, "description", str),
            mime_type=_get(raw, "mimeType", str),
            annotations=_get(raw, "annotations", dict),
            meta=_get(raw, "_meta", dict),
            raw=raw,
        )


@dataclass(slots=True)
class ResourceContents:
    """One item of a resource's contents: `text`, or `blob` (base64)."""

    uri: str
    mime_type: str | None = None
    text: str | None = None
    blob: str | None = None  # base64
    meta: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ResourceContents:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        return cls(
            uri=str(raw.get("uri", "")),
            mime_type=_get(raw, "mimeType", str),
            text=_get(raw, "text", str),
            blob=_get(raw, "blob", str),
            meta=_get(raw, "_meta", dict),
        )


@dataclass(slots=True)
class ReadResourceResult:
    """The result of ``resources/read``."""

    contents: list[ResourceContents] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ReadResourceResult:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        items = _get(raw, "contents", list, [])
        return cls([ResourceContents.from_wire(c) for c in items if isinstance(c, dict)], raw)

    @property
    def text(self) -> str:
        """The text items of the contents, joined."""
        return "".join(c.text or "" for c in self.contents)


@dataclass(slots=True)
class PromptArgument:
    """An argument a prompt takes."""

    name: str
    description: str | None = None
    required: bool = False


@dataclass(slots=True)
class Prompt:
    """A prompt the server offers (``prompts/list``)."""

    name: str
    title: str | None = None
    description: str | None = None
    arguments: list[PromptArgument] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Prompt:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        args = [
            PromptArgument(
                str(a.get("name", "")), _get(a, "description", str), a.get("required") is True
            )
            for a in _get(raw, "arguments", list, [])
            if isinstance(a, dict)
        ]
        return cls(
            name=str(raw.get("name", "")),
            title=_get(raw, "title", str),
            description=_get(raw, "description", str),
            arguments=args,
            meta=_get(raw, "_meta", dict),
            raw=raw,
        )


@dataclass(slots=True)
class PromptMessage:
    """One message of a prompt: its role and one content block."""

    role: str
    content: dict[str, Any]


@dataclass(slots=True)
class GetPromptResult:
    """The result of ``prompts/get``."""

    messages: list[PromptMessage] = field(default_factory=list)
    description: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> GetPromptResult:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        messages = [
            PromptMessage(str(m.get("role", "user")), _get(m, "content", dict, {}))
            for m in _get(raw, "messages", list, [])
            if isinstance(m, dict)
        ]
        return cls(messages, _get(raw, "description", str), raw)


@dataclass(slots=True)
class Completion:
    """The result of ``completion/complete``: suggested values for an argument."""

    values: list[str] = field(default_factory=list)
    total: int | None = None
    has_more: bool = False

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Completion:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        body = _get(raw, "completion", dict, {})
        values = [str(v) for v in _get(body, "values", list, [])]
        return cls(values, _get(body, "total", int), body.get("hasMore") is True)


@dataclass(slots=True)
class Progress:
    """A `notifications/progress` for one request."""

    progress: float
    total: float | None = None
    message: str | None = None


@dataclass(slots=True)
class LogMessage:
    """A `notifications/message`. `tag` is the tag of the request it arrived with (on HTTP,
    where a stream belongs to one request), else None."""

    level: str
    data: Any
    logger: str | None = None
    tag: Any = None


@dataclass(slots=True)
class RequestInfo:
    """Given to a sampling, elicitation or roots handler: which request of ours the server's
    question belongs to, when the transport tells (HTTP streams, 2026-07-28 input rounds)."""

    method: str
    tag: Any = None
    client: Any = field(default=None, repr=False)


@dataclass(slots=True)
class ServerInfo:
    """The server's name and version, as its handshake told them."""

    name: str = ""
    version: str = ""
    title: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, raw: Any) -> ServerInfo:
        """From the wire dict (fields of the wrong type are left at their defaults)."""
        if not isinstance(raw, dict):
            return cls()
        return cls(
            str(raw.get("name", "")), str(raw.get("version", "")), _get(raw, "title", str), raw
        )
