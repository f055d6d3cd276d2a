"""Streamable HTTP: both protocol eras on one endpoint.

Each POST is classified as the spec says: a 2026-07-28 request (``_meta`` envelope, or that
version in the ``MCP-Protocol-Version`` header) is served statelessly; anything else belongs to
a legacy session opened by ``initialize``. A request is answered with plain JSON unless it sends
something before its response (progress, logs, a server-to-client request); then the answer
becomes an SSE stream. Legacy streams carry event ids and can be resumed with ``Last-Event-ID``.

The modules, one job each: `app` (the one router, `http_app()`), `endpoint` (POST, GET,
DELETE), `exchange` (one POST's answer, JSON or SSE, and its status), `sse` (streams and
replay), `sessions` (the `SessionStore` interface, the in-memory store and the shared one),
`state` (what a state backend is, for replicas), `headers` (Host, Origin and the 2026-07-28
header checks), `responses` (plain HTTP answers), `server` (uvicorn).
"""

from .app import Router, http_app
from .endpoint import McpHttpApp
from .server import serve
from .sessions import HttpSession, MemorySessionStore, SessionStore, TooManySessions
from .state import BusMessage, LoggedEvent, StateBackend, StateUnavailable, TaskStore

__all__ = [
    "BusMessage",
    "HttpSession",
    "LoggedEvent",
    "McpHttpApp",
    "MemorySessionStore",
    "Router",
    "SessionStore",
    "StateBackend",
    "StateUnavailable",
    "TaskStore",
    "TooManySessions",
    "http_app",
    "serve",
]
