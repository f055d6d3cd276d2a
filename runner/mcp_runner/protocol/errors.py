"""JSON-RPC and MCP error codes, and the exception that carries them to the wire."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# 2026-07-28 era
HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021
UNSUPPORTED_VERSION = -32022
#: A server-to-client request the client did not answer in time (server.client_request_timeout).
REQUEST_TIMEOUT = -32001
# Legacy-era "resource not found" (2025-06-18 and earlier).
RESOURCE_NOT_FOUND = -32002


class McpError(Exception):
    """An error answered to the client as a JSON-RPC error object.

    Raise it from a resource, prompt or hook to choose the code and message the client sees.
    """

    #: An HTTP status for this error when the request came over HTTP (None: 200).
    http_status: int | None = None
    #: HTTP response headers to send with it (e.g. WWW-Authenticate).
    http_headers: dict[str, str] | None = None

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error(self) -> dict[str, Any]:
        """The JSON-RPC error object: code, message and (if any) data."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str, data: Any = None) -> McpError:
    """A -32602 "Invalid params" error."""
    return McpError(INVALID_PARAMS, message, data)
