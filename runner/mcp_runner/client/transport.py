"""The contract between a `Client` and the transport that reaches its server.

A transport moves JSON-RPC messages (plain dicts) to the server with `Transport.send`, and hands
what the server sends to its `Sink` (the `Client` is one): `deliver` a message, `resolve` an
answer at once, `fail_request` a request that will get no answer, or `transport_closed` when the
connection is gone.
"""

from __future__ import annotations

from typing import Any, Protocol


class Sink(Protocol):
    """What a transport hands the server's messages to."""

    async def deliver(self, message: dict[str, Any], related: Any) -> None:
        """A message from the server, in the order it arrived. `related` is the id of our
        request whose stream carried it (HTTP, in process), or None (stdio, the GET stream)."""

    def resolve(self, message: dict[str, Any]) -> bool:
        """Hand an answer straight to the request awaiting it; False when no request awaits it
        (then `deliver` it in order)."""

    def fail_request(self, request_id: Any, exc: BaseException) -> None:
        """Request `request_id` will get no answer: it fails with `exc`."""

    def transport_closed(self, exc: BaseException) -> None:
        """The connection is gone: everything pending fails with `exc`."""


class Transport:
    """The interface every transport implements."""

    kind = "base"

    async def open(self, sink: Sink) -> None:
        """Connect; from now on what the server sends goes to `sink`."""
        raise NotImplementedError

    def started(self, era: str) -> None:
        """The handshake is done (`era` is "legacy" or "modern")."""

    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Send one message (`headers`: extra HTTP headers for it, where the transport has any)."""
        raise NotImplementedError

    def abort(self, request_id: Any) -> bool:
        """Stop waiting for a request's answer; True when that alone cancels it on the server
        (a 2026-07-28 HTTP stream closed), False when a `notifications/cancelled` is needed."""
        return False

    async def close(self) -> None:
        """End the connection and everything the transport runs."""
        raise NotImplementedError

    def describe(self) -> str:
        """The server, for messages: a command line, a URL."""
        return self.kind
