"""Serving the HTTP transport on uvicorn, with the runner's signals and a graceful end."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from ... import log
from .app import Router
from .endpoint import McpHttpApp
from .sessions import MemorySessionStore

if TYPE_CHECKING:
    from ...runner import Runner

#: The signals that drain the server: stop accepting, let requests in flight finish within
#: ``shutdown_grace``, exit the plugins' lifespans. A second one ends the grace at once.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: The listening socket's queue of connections not yet accepted.
BACKLOG = 2048


async def serve(runner: Runner, options: dict[str, Any]) -> None:
    """Serve `runner` over Streamable HTTP until a signal (the ``http`` transport).

    The listening socket is a worker's, given by its parent (which announced it), or bound
    here with `bind`: a port that cannot be bound raises `CannotListen` before serving."""
    import uvicorn

    settings = runner.settings.http
    given = options.get("sockets")
    sockets = given or [bind(settings.host, settings.port)]
    endpoint = McpHttpApp(runner)
    config = uvicorn.Config(
        Router(endpoint, settings.path),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,  # uvicorn's records go through our log set-up, JSON in JSON mode
        access_log=False,
        proxy_headers=False,  # [http] forwarded_allow_ips decides, in the router
        lifespan="on",
        timeout_graceful_shutdown=max(runner.settings.server.shutdown_grace, 0.01),  # type: ignore[arg-type]
    )
    server = _server(config)
    loop = asyncio.get_running_loop()
    if options.get("workers", 1) > 1 and sessions_stay_here(endpoint):
        runner.engine.legacy_refusal = no_shared_sessions(options["workers"])
    stop = server.stop
    stop_when = options.get("stop_when")  # a worker's: the pipe its parent closes to drain it
    if stop_when is not None:
        stop = _worker_signals(server, loop, stop_when)
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)

    def started() -> None:
        if given is None:
            host, port = sockets[0].getsockname()[:2]
            banner(host, port, settings.path)
        runner.ready("http")

    def stopping() -> None:
        runner.draining = True
        endpoint.end_streams()  # open SSE streams end now, not at the end of the grace

    server.on_started, server.on_stopping = started, stopping
    log.apply()  # before uvicorn starts: its errors are rendered like ours
    try:
        await server.serve(sockets)
    finally:
        await endpoint.close()
        if given is None:
            sockets[0].close()
        for sig in (*STOP_SIGNALS, signal.SIGQUIT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _worker_signals(
    server: Any, loop: asyncio.AbstractEventLoop, stop_when: int
) -> Callable[[], None]:
    """A worker's stop: its parent closing `stop_when` drains it, as does its own first stop
    signal, whichever comes first (a terminal's Ctrl-C reaches both); its second signal, or
    SIGQUIT from its parent, ends the grace. Returns the stop signals' handler."""
    signalled = False

    def drain() -> None:
        loop.remove_reader(stop_when)
        server.should_exit = True

    def on_signal() -> None:
        nonlocal signalled
        if signalled:
            server.force_exit = True
        signalled = True
        server.should_exit = True

    def end_grace() -> None:
        server.force_exit = server.should_exit = True

    loop.add_reader(stop_when, drain)
    loop.add_signal_handler(signal.SIGQUIT, end_grace)
    return on_signal


def _server(config: Any) -> Any:
    """uvicorn's server with signals left to us (a signal ends serving, and the runner then
    exits the plugins' lifespans; uvicorn itself would re-raise the signal and skip them), and
    no poll loop: serving waits on an event, and the ``Date`` header is refreshed once a
    second only while connections are open, so an idle server is not woken up at all."""
    import uvicorn

    class Connections(set[Any]):
        """uvicorn's set of open connections, telling the server when one opens."""

        def __init__(self, opened: Callable[[], None]) -> None:
            super().__init__()
            self.opened = opened

        def add(self, connection: Any) -> None:
            super().add(connection)
            self.opened()

    class Server(uvicorn.Server):
        def __init__(self, config: Any) -> None:
            self.exit_event = asyncio.Event()
            self.wake = asyncio.Event()
            self.on_started: Callable[[], None] = lambda: None
            self.on_stopping: Callable[[], None] = lambda: None
            self.date_until = 0.0
            super().__init__(config)
            self.server_state.connections = Connections(self.connection_opened)

        @property
        def should_exit(self) -> bool:
            return self.exit_event.is_set()

        @should_exit.setter
        def should_exit(self, value: bool) -> None:
            if value:
                self.exit_event.set()
            else:
                self.exit_event.clear()

        def capture_signals(self) -> Any:
            return contextlib.nullcontext()

        def stop(self) -> None:
            if self.should_exit:  # a second signal: stop waiting for connections
                self.force_exit = True
            self.should_exit = True

        def connection_opened(self) -> None:
            if time.time() >= self.date_until:  # idle until now: the Date header is stale
                self.refresh_date()
                self.wake.set()  # and stays fresh while connections are open

        def refresh_date(self) -> None:
            """uvicorn's default headers with the ``Date`` of this second."""
            now = time.time()
            date = [(b"date", formatdate(now, usegmt=True).encode())]
            self.server_state.default_headers = [
                *(date if self.config.date_header else ()),
                *self.config.encoded_headers,
            ]
            self.date_until = math.floor(now) + 1.0

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit:
                self.on_started()

        async def main_loop(self) -> None:
            exiting = asyncio.ensure_future(self.exit_event.wait())
            try:
                while not self.should_exit:
                    self.refresh_date()
                    self.wake.clear()
                    woken = asyncio.ensure_future(self.wake.wait())
                    timeout = (
                        self.date_until - time.time() if self.server_state.connections else None
                    )
                    await asyncio.wait(
                        (exiting, woken), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    woken.cancel()
            finally:
                exiting.cancel()
            self.on_stopping()

    return Server(config)


class CannotListen(OSError):
    """`bind` failed: its `errno` and `strerror` are the bind's, or the host name lookup's
    (a `socket.gaierror`, then its cause)."""


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket listening on `host`:`port`: an IPv6 address when `host` has a colon, else
    the first IPv4 address it names (an address, or a name such as ``localhost``, as uvicorn
    binds); port 0 picks a free port. Raises `CannotListen`."""
    wanted = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, wanted, socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise CannotListen(exc.errno, exc.strerror) from exc
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError as exc:
        listener.close()
        raise CannotListen(exc.errno, exc.strerror) from exc
    return listener


def banner(host: str, port: int, path: str, note: str = "") -> None:
    """Tell stderr where the server listens (tests and scripts read the URL from it)."""
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{port}{path}"
    details = {"note": note.strip(" ()")} if note else {}
    log.announce(f"mcp-runner: serving {url}{note}", "serving", url=url, **details)


def sessions_stay_here(endpoint: McpHttpApp) -> bool:
    """Whether the legacy sessions this process opens live in its memory only, unseen by
    other workers (no shared state backend)."""
    return isinstance(endpoint.sessions, MemorySessionStore)


def no_shared_sessions(workers: int) -> str:
    """Why `initialize` is refused by one of `workers` processes that share no sessions."""
    return (
        f"Legacy sessions are not available: this server runs {workers} worker processes "
        "without a shared state backend, so a session opened by one would not be found by the "
        "others. Connect with protocol version 2026-07-28 (it needs no session), or run the "
        "server with a shared state backend (the redis plugin) or with --workers 1"
    )
