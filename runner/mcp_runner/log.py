"""structlog set-up: done by the runner at start (never at import), always to stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any

SECRET_KEYS = frozenset({"authorization", "token", "access_token", "password", "secret", "api_key"})


def redact_secrets(logger: Any, method: str, event: Any) -> Any:
    """Replace the values of keys that name secrets, at any depth of dicts."""
    for key, value in event.items():
        if key.lower() in SECRET_KEYS:
            event[key] = "[redacted]"
        elif isinstance(value, dict):
            event[key] = redact_secrets(logger, method, dict(value))
    return event


def configure(
    level: str = "warning", fmt: str = "auto", processors: list[Any] | None = None
) -> None:
    import structlog

    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *(processors or []),
            redact_secrets,
            structlog.processors.format_exc_info if fmt == "json" else _noop,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr)


def _noop(logger: Any, method: str, event: Any) -> Any:
    return event
