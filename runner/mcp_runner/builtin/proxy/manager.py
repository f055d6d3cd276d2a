"""The backends of one runner: started with it (or lazily, on the first request), stopped with
it, and the 2026-07-28 calls parked between input rounds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .backend import Backend, chain_depth
from .call import ForwardedCall

if TYPE_CHECKING:
    from ...protocol.session import Request
    from ...runner import Runner
    from .config import ProxySettings

MAX_DEPTH = 4  # proxies deep at which backends are no longer started (a config mounting itself)
PARK_TTL = 600.0  # as long as the engine's requestState lives
# Requests that wait for lazy backends to come up (their answer would miss what they serve).
LIST_METHODS = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list"}
)


class ProxyManager:
    """Every backend of one runner, for one lifespan of it."""

    def __init__(self, runner: Runner, section: ProxySettings) -> None:
        self.runner = runner
        self.section = section
        self.backends = {
            name: Backend(self, name, server, section) for name, server in section.servers.items()
        }
        self.lazy_waiting = {
            b for b in self.backends.values() if b.lazy and b.state == "configured"
        }
        self.parked: dict[str, ForwardedCall] = {}
        self.background: set[asyncio.Future[Any]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Start the eager backends and wait (up to ``startup_wait``) for them; stop them all
        on exit."""
        depth = chain_depth()
        if depth >= MAX_DEPTH:
            for backend in self.backends.values():
                if backend.state == "configured":
                    backend.fail(
                        f"not started: this server is a backend {depth} proxies deep (does a "
                        "backend run mcp-runner with this same config? give it its own --config or cwd)"
                    )
            self.lazy_waiting.clear()
        eager = [b for b in self.backends.values() if not b.lazy and b.state == "configured"]
        for backend in eager:
            backend.start()
        try:
            await self.settle(eager, self.section.startup_wait)
            yield
        finally:
            for token in list(self.parked):
                call = self.unpark(token)
                if call is not None:
                    call.abandon()
            await asyncio.gather(
                *(b.stop() for b in self.backends.values()), return_exceptions=True
            )

    async def settle(self, backends: list[Backend], timeout: float) -> None:
        """Wait up to `timeout` seconds for `backends` to be ready or down."""
        waiting = [asyncio.ensure_future(b.settled.wait()) for b in backends if b.task is not None]
        if not waiting or timeout <= 0:
            for task in waiting:
                task.cancel()
            return
        _, pending = await asyncio.wait(waiting, timeout=timeout)
        for task in pending:
            task.cancel()

    async def wake(self, req: Request) -> None:
        """A request arrived: start the lazy backends; a listing, or a call for a name that is
        not there yet, waits for them to come up."""
        for backend in self.lazy_waiting:
            backend.start()
        needs = req.method in LIST_METHODS or (
            req.method in ("tools/call", "prompts/get", "resources/read") and req.target is None
        )
        starting = [b for b in self.lazy_waiting if b.state == "starting"]
        if needs and starting:
            await self.settle(starting, max(b.config.startup_timeout for b in starting))
            if req.target is None and req.method not in LIST_METHODS:
                self.runner.engine.resolve_target(req)
        self.lazy_waiting = {b for b in self.lazy_waiting if b.state == "starting"}

    def park(self, call: ForwardedCall) -> None:
        """Keep `call` (its backend call still running) for the client's retry, under its
        token, for up to `PARK_TTL` seconds."""
        assert call.token is not None
        call.request = None
        self.parked[call.token] = call
        call.expiry = asyncio.get_running_loop().call_later(PARK_TTL, self._expire, call.token)

    def unpark(self, token: str) -> ForwardedCall | None:
        """The call parked under `token`, taken out (None: none, or it expired)."""
        call = self.parked.pop(token, None)
        if call is not None and call.expiry is not None:
            call.expiry.cancel()
            call.expiry = None
        return call

    def _expire(self, token: str) -> None:
        call = self.unpark(token)
        if call is not None:
            call.abandon()
