"""Values a tool, resource or prompt may return, and the errors it may raise."""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["user", "assistant"]


class ToolError(Exception):
    """Raise from a tool to answer an ``isError`` result whose text is exactly this message."""


def _read(data: bytes | str | Path) -> bytes:
    return Path(data).read_bytes() if isinstance(data, str | Path) else data


def _guess_mime(path: bytes | str | Path, fallback: str) -> str:
    if isinstance(path, str | Path):
        return mimetypes.guess_type(str(path))[0] or fallback
    return fallback


@dataclass(slots=True)
class Image:
    """Image content: raw bytes or a file path, with its MIME type."""

    data: bytes | str | Path
    mime_type: str | None = None

    def to_content(self) -> dict[str, Any]:
        """The ``image`` content block (the file is read now, when `data` is a path)."""
        return {
            "type": "image",
            "data": base64.b64encode(_read(self.data)).decode(),
            "mimeType": self.mime_type or _guess_mime(self.data, sniff_mime(_read(self.data))),
        }


@dataclass(slots=True)
class Audio:
    """Audio content: raw bytes or a file path, with its MIME type."""

    data: bytes | str | Path
    mime_type: str | None = None

    def to_content(self) -> dict[str, Any]:
        """The ``audio`` content block (the file is read now, when `data` is a path)."""
        return {
            "type": "audio",
            "data": base64.b64encode(_read(self.data)).decode(),
            "mimeType": self.mime_type or _guess_mime(self.data, sniff_mime(_read(self.data))),
        }


@dataclass(slots=True)
class EmbeddedResource:
    """A resource's contents embedded in a tool result or a prompt message."""

    uri: str
    text: str | None = None
    blob: bytes | None = None
    mime_type: str | None = None

    def to_content(self) -> dict[str, Any]:
        """The ``resource`` content block embedding `contents`."""
        return {"type": "resource", "resource": self.contents()}

    def contents(self) -> dict[str, Any]:
        """The resource contents: ``text``, or ``blob`` base64-encoded when `blob` is set."""
        out: dict[str, Any] = {"uri": self.uri}
        if self.mime_type:
            out["mimeType"] = self.mime_type
        if self.blob is not None:
            out["blob"] = base64.b64encode(self.blob).decode()
        else:
            out["text"] = self.text or ""
        return out


@dataclass(slots=True)
class ResourceLink:
    """A link to a resource, returned in a tool result."""

    uri: str
    name: str
    description: str | None = None
    mime_type: str | None = None

    def to_content(self) -> dict[str, Any]:
        """The ``resource_link`` content block."""
        out: dict[str, Any] = {"type": "resource_link", "uri": self.uri, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.mime_type:
            out["mimeType"] = self.mime_type
        return out


@dataclass(slots=True)
class Message:
    """One prompt message."""

    content: Any
    role: Role = "user"


@dataclass(slots=True)
class ToolResult:
    """Full control over a tool's result: content blocks, structured content, error flag."""

    content: list[Any] = field(default_factory=list)
    structured_content: dict[str, Any] | None = None
    is_error: bool = False
    meta: dict[str, Any] | None = None


CONTENT_TYPES = frozenset({"text", "image", "audio", "resource", "resource_link"})

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
)


def sniff_mime(data: bytes) -> str:
    """A MIME type from the leading bytes of common image and audio formats."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
