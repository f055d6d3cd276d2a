"""The builtin ``errors`` plugin: the last-resort error mapper.

The client gets a safe message naming what failed and an error id; the log gets the
traceback under the same id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hookspecs import hookimpl
from ..protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, McpError
from ..types import ToolError

if TYPE_CHECKING:
    from ..config import Settings
    from ..protocol.session import Request


@hookimpl(trylast=True)
def mcp_runner_handle_error(
    request: Request, exc: BaseException, settings: Settings
) -> McpError | str:
    """Answer any exception: the text of an ``isError`` result for ``tools/call``, a JSON-RPC
    error otherwise; with ``[server] mask_error_details`` the exception's text is left out."""
    if isinstance(exc, McpError):
        return exc
    if isinstance(exc, ToolError):  # a deliberate, client-facing message
        return str(exc) if request.method == "tools/call" else McpError(INVALID_PARAMS, str(exc))
    correlation = request.correlation_id
    _log(request, exc, correlation)
    detail = "" if settings.server.mask_error_details else f": {type(exc).__name__}: {exc}"
    message = f"{_what(request)} failed{detail} (error id {correlation})"
    if request.method == "tools/call":
        return message
    return McpError(INTERNAL_ERROR, message, {"errorId": correlation})


def _what(request: Request) -> str:
    name = getattr(request.target, "name", None)
    if request.method == "tools/call" and name:
        return f"Tool {name!r}"
    if request.method == "prompts/get" and name:
        return f"Prompt {name!r}"
    if request.method == "resources/read":
        return f"Resource {request.params.get('uri')!r}"
    return request.method


def _log(request: Request, exc: BaseException, correlation: str) -> None:
    from ..log import get_logger

    get_logger("mcp_runner").error(
        "request failed",
        method=request.method,
        plugin=request.plugin,
        error_id=correlation,
        exc_info=exc,
    )
