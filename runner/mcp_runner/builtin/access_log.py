"""The builtin ``access_log`` plugin: one log line per HTTP request, refusals included.

Each line (event ``http``, logger ``mcp_runner.access``) carries the method, path, status,
duration, bytes sent, client address, authenticated subject, session and correlation id. It is written at ``info``,
so it is on when ``[server] log_level`` is ``info`` or ``debug``; otherwise the HTTP transport
does not even time its requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..hookspecs import HttpAccess, HttpObserver
    from ..runner import Runner


@hookimpl
def mcp_runner_http_observers(runner: Runner) -> HttpObserver | None:
    """The access log, when the log level lets its lines through."""
    if runner.settings.server.log_level not in ("debug", "info"):
        return None
    from ..log import get_logger

    logger = get_logger("mcp_runner.access")

    def log_access(access: HttpAccess) -> None:
        logger.info(
            "http",
            method=access.method,
            path=access.path,
            status=access.status,
            duration_ms=round(access.duration * 1000, 3),
            bytes=access.bytes,
            client=access.client,
            subject=access.subject,
            session=access.session,
            correlation_id=access.correlation_id,
        )

    return log_access
