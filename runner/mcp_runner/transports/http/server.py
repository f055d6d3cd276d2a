"""Serving the HTTP transport on uvicorn, with the runner's signals and a graceful end."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING, Any

from .app import Router
from .endpoint import McpHttpApp

if TYPE_CHECKING:
    from ...runner import Runner


async def serve(runner: Runner, options: dict[str, Any]) -> None:
    """Serve `runner` over Streamable HTTP until a signal (the ``http`` transport)."""
    import uvicorn

    settings = runner.settings.http
    endpoint = McpHttpApp(runner)
    config = uvicorn.Config(
        Router(endpoint, settings.path),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(runner.settings.server.shutdown_grace, 0.01),  # type: ignore[arg-type]
    )
    server = _server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.stop)

    async def watch() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        for s in server.servers:
            for sock in s.sockets:
                host, port = sock.getsockname()[:2]
                print(
                    f"mcp-runner: serving http://{_url_host(host)}:{port}{settings.path}",
                    file=sys.stderr,
                    flush=True,
                )
        runner.ready("http")
        while not server.should_exit:
            await asyncio.sleep(0.05)
        endpoint.end_streams()  # open SSE streams end now, not at the end of the grace

    watcher = asyncio.ensure_future(watch())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        await endpoint.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _server(config: Any) -> Any:
    """uvicorn's server with signals left to us: a signal ends serving, and the runner then
    exits the plugins' lifespans (uvicorn itself would re-raise the signal and skip them)."""
    import uvicorn

    class Server(uvicorn.Server):
        def capture_signals(self) -> Any:
            return contextlib.nullcontext()

        def stop(self) -> None:
            if self.should_exit:  # a second signal: stop waiting for connections
                self.force_exit = True
            self.should_exit = True

    return Server(config)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
