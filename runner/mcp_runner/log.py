"""structlog set-up: chosen by the runner at start (never at import), always to stderr.

`configure` records the choice; it is applied by the first `get_logger` call or, at the
latest, once the server is serving (`apply`), so importing structlog stays off the path from
spawn to the first answer. The stdlib's log records, uvicorn's included, are rendered by the
same pipeline, so in JSON mode stderr carries JSON lines only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
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
_json = False  # the recorded format renders JSON


def resolve_format(fmt: str) -> str:
    """``console`` or ``json``: ``auto`` is console on a terminal, JSON otherwise."""
    if fmt == "auto":
        return "console" if sys.stderr.isatty() else "json"
    return fmt


def configure(
    level: str = "warning", fmt: str = "auto", processors: list[Any] | None = None
) -> None:
    """Record the log level, format (``auto``: console on a terminal, JSON otherwise) and
    the plugins' processors; applied later, by `apply`."""
    global _pending, _json
    _pending = (level, fmt, list(processors or []))
    _json = resolve_format(fmt) == "json"


def announce(text: str, event: str, level: str = "info", **fields: Any) -> None:
    """Tell the operator something whatever the log level: `text` as it is in console mode,
    in JSON mode a JSON line shaped like the log's (`event`, `fields`, level, timestamp).

    Written without structlog, so announcing costs no import on the way to serving."""
    if _json:
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        text = json.dumps({"event": event, **fields, "level": level, "timestamp": stamp})
    print(text, file=sys.stderr, flush=True)


def get_logger(name: str) -> Any:
    """A structlog logger, the configuration applied first if it is still pending."""
    _apply_pending()
    import structlog

    return structlog.get_logger(name)


def apply() -> None:
    """Configure structlog as `configure` recorded, once, and take over the stdlib loggers of
    libraries that configured their own since (uvicorn does as it starts): called once the
    server is serving."""
    _apply_pending()
    if _stdlib_handler is not None:
        adopt_foreign_loggers()


def _apply_pending() -> None:
    global _pending
    if _pending is None:
        return
    level, fmt, processors = _pending
    _pending = None
    import structlog

    fmt = resolve_format(fmt)
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[Any] = [
        redact_secrets,
        structlog.processors.format_exc_info if fmt == "json" else _noop,
        renderer,
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            *(processors or []),
            *rendering,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    route_stdlib_logging(
        getattr(logging, level.upper()),
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared, *(processors or [])],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        ),
    )


FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
"""Libraries' loggers that configure handlers of their own: theirs are removed, so their
records reach the root logger and are rendered like ours (JSON only, in JSON mode)."""


_stdlib_handler: logging.Handler | None = None


def route_stdlib_logging(level: int, formatter: logging.Formatter) -> None:
    """Every stdlib log record (uvicorn's included) to stderr through `formatter`."""
    global _stdlib_handler
    _stdlib_handler = logging.StreamHandler(sys.stderr)
    _stdlib_handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [_stdlib_handler]
    root.setLevel(level)
    adopt_foreign_loggers()


def adopt_foreign_loggers() -> None:
    """Send the records of `FOREIGN_LOGGERS` to the root logger, not to their own handlers."""
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers = []
        foreign.propagate = True


def _noop(logger: Any, method: str, event: Any) -> Any:
    return event
