"""The builtin ``logging`` plugin: one structured log line per request, at completion."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ..middleware import Handler, Middleware
from ..protocol.errors import McpError

if TYPE_CHECKING:
    from ..config import Settings
    from ..protocol.session import Request


@hookimpl
def mcp_runner_middleware(settings: Settings) -> Middleware | None:
    """The request log, in the ``observe`` band, when the log level is info or lower."""
    if settings.server.log_level not in ("debug", "info"):
        return None  # nothing would be written: keep the chain short
    from ..log import get_logger

    logger = get_logger("mcp_runner.request")

    async def log_request(request: Request, call_next: Handler) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = await call_next(request)
            if isinstance(result, dict):
                if result.get("isError"):
                    outcome = "tool_error"
                elif result.get("resultType") == "input_required":
                    outcome = "input_required"
            return result
        except McpError as exc:
            outcome = f"error {exc.code}"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            target = request.target
            logger.info(
                "request",
                method=request.method,
                target=getattr(target, "name", None)
                or request.params.get("name")
                or request.params.get("uri"),
                plugin=request.plugin,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_id=request.id,
                correlation_id=request.correlation_id,
                session=request.session_id,
                transport=request.transport,
                protocol=request.version,
            )

    return Middleware(log_request, band="observe", name="request-log")
