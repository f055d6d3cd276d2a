"""The last-resort error mapper: a safe message for the client, the traceback for the log."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from ..protocol.errors import INTERNAL_ERROR, INVALID_PARAMS, McpError
from ..types import ToolError


@hookimpl(trylast=True)
def mcp_runner_handle_error(ctx: Any, exc: BaseException, settings: Any) -> Any:
    if isinstance(exc, McpError):
        return exc
    if isinstance(exc, ToolError):  # a deliberate, client-facing message
        return str(exc) if ctx.method == "tools/call" else McpError(INVALID_PARAMS, str(exc))
    mask = settings.server.mask_error_details
    correlation = ctx.correlation_id
    _log(ctx, exc, correlation)
    what = _what(ctx)
    detail = "" if mask else f": {type(exc).__name__}: {exc}"
    message = f"{what} failed{detail} (error id {correlation})"
    if ctx.method == "tools/call":
        return message
    return McpError(INTERNAL_ERROR, message, {"errorId": correlation})


def _what(ctx: Any) -> str:
    name = getattr(ctx.target, "name", None)
    if ctx.method == "tools/call" and name:
        return f"Tool {name!r}"
    if ctx.method == "prompts/get" and name:
        return f"Prompt {name!r}"
    if ctx.method == "resources/read":
        return f"Resource {ctx.params.get('uri')!r}"
    return ctx.method


def _log(ctx: Any, exc: BaseException, correlation: str) -> None:
    from ..log import get_logger

    get_logger("mcp_runner").error(
        "request failed",
        method=ctx.method,
        plugin=ctx.plugin,
        error_id=correlation,
        exc_info=exc,
    )
