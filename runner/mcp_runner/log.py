"""structlog set-up: chosen by the runner at start (never at import), always to stderr.

`configure` records the choice; it is applied by the first `get_logger` call or, at the
latest, once the server is serving (`apply`), so importing structlog stays off the path from
spawn to the first answer.
"""

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


_pending: tuple[str, str, list[Any]] | None = None


def configure(
    level: str = "warning", fmt: str = "auto", processors: list[Any] | None = None
) -> None:
    """Record the log level, format (``auto``: console on a terminal, JSON otherwise) and
    the plugins' processors; applied later, by `apply`."""
    global _pending
    _pending = (level, fmt, list(processors or []))


def get_logger(name: str) -> Any:
    """A structlog logger, the configuration applied first if it is still pending."""
    apply()
    import structlog

    return structlog.get_logger(name)


def apply() -> None:
    """Configure structlog as `configure` recorded, once; does nothing when nothing is
    pending."""
    global _pending
    if _pending is None:
        return
    level, fmt, processors = _pending
    _pending = None
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
