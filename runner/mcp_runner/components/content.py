"""What tools, resources and prompts return, as wire content: content blocks, resource
contents and prompt messages (plain dicts, built per call)."""

from __future__ import annotations

import base64
from typing import Any, get_args

import pydantic_core

from ..types import (
    CONTENT_TYPES,
    Audio,
    EmbeddedResource,
    Image,
    Message,
    ResourceLink,
    ToolResult,
    sniff_mime,
)

_CONTENT_CLASSES = (Image, Audio, EmbeddedResource, ResourceLink)
_CONTENT_RETURNS = {str, bytes, bytearray, Image, Audio, EmbeddedResource, ResourceLink, ToolResult}


def to_content(value: Any) -> list[dict[str, Any]]:
    """Content blocks for a value returned by a tool (without an output schema)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, _CONTENT_CLASSES):
        return [value.to_content()]
    if isinstance(value, bytes | bytearray):
        return [_bytes_content(bytes(value))]
    if isinstance(value, dict) and value.get("type") in CONTENT_TYPES:
        return [value]
    if isinstance(value, list | tuple) and any(_is_content_like(v) for v in value):
        blocks: list[dict[str, Any]] = []
        for item in value:
            blocks.extend(to_content(item) if _is_content_like(item) else [_json_text(item)])
        return blocks
    return [_json_text(value)]


def _is_content_like(value: Any) -> bool:
    return isinstance(value, (str, bytes, bytearray, *_CONTENT_CLASSES)) or (
        isinstance(value, dict) and value.get("type") in CONTENT_TYPES
    )


def _bytes_content(data: bytes) -> dict[str, Any]:
    mime = sniff_mime(data)
    encoded = base64.b64encode(data).decode()
    if mime.startswith("image/"):
        return {"type": "image", "data": encoded, "mimeType": mime}
    if mime.startswith("audio/"):
        return {"type": "audio", "data": encoded, "mimeType": mime}
    return {"type": "resource", "resource": {"uri": "data:", "mimeType": mime, "blob": encoded}}


def _json_text(value: Any) -> dict[str, Any]:
    return {"type": "text", "text": to_json_text(value)}


def to_json_text(value: Any) -> str:
    """A value as JSON text; what JSON cannot hold is written with ``str``."""
    return pydantic_core.to_json(value, fallback=str).decode()


def error_result(message: str) -> dict[str, Any]:
    """A ``CallToolResult`` with ``isError`` and one text block holding `message`."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


def holds_content(annotation: Any) -> bool:
    """Whether a return annotation is or holds content (``str``, ``Image``, ``ToolResult``...):
    such a tool answers content blocks, not structured data."""
    return annotation in _CONTENT_RETURNS or _holds_blocks(annotation)


def _holds_blocks(annotation: Any) -> bool:
    if annotation in _CONTENT_CLASSES or annotation is ToolResult:
        return True
    return any(_holds_blocks(arg) for arg in get_args(annotation))


def resource_contents(uri: str, value: Any, mime_type: str | None) -> list[dict[str, Any]]:
    """The ``contents`` of ``resources/read`` for a value a resource function returned."""
    if isinstance(value, EmbeddedResource):
        return [value.contents()]
    if isinstance(value, str):
        return [{"uri": uri, "mimeType": mime_type or "text/plain", "text": value}]
    if isinstance(value, bytes | bytearray):
        blob = base64.b64encode(value).decode()
        return [{"uri": uri, "mimeType": mime_type or sniff_mime(bytes(value)), "blob": blob}]
    if isinstance(value, list) and value and all(isinstance(v, EmbeddedResource) for v in value):
        return [v.contents() for v in value]
    return [{"uri": uri, "mimeType": mime_type or "application/json", "text": to_json_text(value)}]


def prompt_message(item: Any) -> dict[str, Any]:
    """One ``PromptMessage`` for an item a prompt function returned (a `Message`, a dict with a
    ``role``, or content for a ``user`` message)."""
    if isinstance(item, Message):
        return {"role": item.role, "content": _single_content(item.content)}
    if isinstance(item, dict) and "role" in item:
        return item
    return {"role": "user", "content": _single_content(item)}


def _single_content(value: Any) -> dict[str, Any]:
    blocks = to_content(value)
    return blocks[0] if len(blocks) == 1 else {"type": "text", "text": to_json_text(value)}
