"""What the client raises."""

from __future__ import annotations

from typing import Any

# A JSON-RPC code for failures that never reached the protocol (an HTTP status without a
# JSON-RPC body, a malformed answer). In the implementation-defined server-error range.
TRANSPORT_ERROR = -32000


class McpClientError(Exception):
    """The server answered with a JSON-RPC error (or the transport gave an HTTP error)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def from_error(cls, error: Any) -> McpClientError:
        """The exception for a JSON-RPC error object (a malformed one included)."""
        if not isinstance(error, dict):
            return cls(TRANSPORT_ERROR, f"malformed error object: {error!r}")
        code = error.get("code")
        return cls(
            code if isinstance(code, int) and not isinstance(code, bool) else TRANSPORT_ERROR,
            str(error.get("message", "")),
            error.get("data"),
        )


class ConnectionClosed(Exception):
    """The connection to the server ended (process exited, HTTP session gone, unreachable)."""


class SessionExpired(ConnectionClosed):
    """The server no longer knows the legacy HTTP session (it answered 404): the connection's
    close reason, and what a request whose own POST got that 404 raises (the server did not
    run it). The server answered, so a new session can be opened at once."""


class RequestTimeout(TimeoutError):
    """A request got no answer within its timeout (it was cancelled on the server)."""

    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(f"{method}: no answer within {timeout:g} s")
        self.method = method
        self.timeout = timeout


class Interrupted(Exception):
    """`Outstanding.interrupt()` woke the task awaiting a request before its answer came (the
    request goes on: await it again)."""
