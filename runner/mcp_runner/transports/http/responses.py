"""Plain HTTP responses of the transport: JSON bodies, refusals, 202, and ending a stream.

Every refusal (an answer of 400 or more) is counted by status in `REFUSALS`, for the metrics.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ...protocol.jsonrpc import encode_safely, error

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
AsgiSend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
REFUSALS: Counter[int] = Counter()
"""The refusals this process has answered, by HTTP status."""


class HttpError(Exception):
    """An HTTP-level refusal: status, and a JSON-RPC error body (or none: plain text)."""

    def __init__(self, status: int, code: int | None, message: str, id: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.id = status, code, message, id


async def send_json(
    send: AsgiSend,
    status: int,
    message: Any,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A complete JSON response (a message, or a batch's list of them)."""
    body = (
        b"[" + b",".join(encode_safely(m) for m in message) + b"]"
        if isinstance(message, list)
        else encode_safely(message)
    )
    start = [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(headers or ())]
    if status >= 400:
        REFUSALS[status] += 1
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def header_pairs(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs for a dict of header names and values."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]


async def accepted(send: AsgiSend) -> None:
    """202: a notification or a response was taken."""
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def refuse(send: AsgiSend, exc: HttpError) -> None:
    """The response for an `HttpError`: its JSON-RPC error, or plain text without a code."""
    if exc.code is None:
        REFUSALS[exc.status] += 1
        await send(
            {
                "type": "http.response.start",
                "status": exc.status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": exc.message.encode()})
        return
    await send_json(send, exc.status, error(exc.id, exc.code, exc.message))


async def end(send: AsgiSend) -> None:
    """End a streamed response (the client may already be gone)."""
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})
