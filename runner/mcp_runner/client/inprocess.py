"""The in-process transport: a `Client` talking to a `Runner` in this process, no wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.jsonrpc import encode
from .errors import ConnectionClosed
from .transport import Sink, Transport

if TYPE_CHECKING:
    from ..protocol.engine import Engine


class LocalRunner(Protocol):
    """What the in-process transport uses of a `mcp_runner.Runner` (the client library sits
    below the runner: it names what it needs instead of importing it)."""

    settings: Any
    engine: Engine

    def start(self) -> Any:
        """Compose the plugins and build the engine (once)."""

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Enter the plugins' lifespans."""


def _copy(message: dict[str, Any]) -> Any:
    """A deep copy through JSON: what crosses is exactly what a wire would carry."""
    return json.loads(encode(message))


class InProcessTransport(Transport):
    """A `Runner` in this process: its engine answers directly, no bytes on any wire.

    With ``lifespan=True`` (the default) the runner's plugin lifespans are entered on connect and
    exited on close.
    """

    kind = "inprocess"

    def __init__(self, runner: LocalRunner, *, lifespan: bool = True) -> None:
        self.runner = runner
        self.lifespan = lifespan
        self._stack = contextlib.AsyncExitStack()
        self._sink: Sink | None = None
        self._session: Any = None
        self._closed = False

    def describe(self) -> str:
        return f"in-process {self.runner.settings.server.name}"

    async def open(self, sink: Sink) -> None:
        self._sink = sink
        self.runner.start()
        if self.lifespan:
            await self._stack.enter_async_context(self.runner.lifespan())
        self._session = self.runner.engine.session("inprocess", outbound=self._outbound)

    async def _outbound(self, message: dict[str, Any]) -> None:
        if not self._closed and self._sink is not None:
            await self._sink.deliver(_copy(message), None)

    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        if self._closed or self._session is None:
            raise ConnectionClosed("the in-process connection is closed")
        from ..protocol.session import Request

        engine = self.runner.engine
        message = _copy(message)
        related = message.get("id") if "method" in message else None

        async def send_related(out: dict[str, Any]) -> None:
            if not self._closed and self._sink is not None:
                await self._sink.deliver(_copy(out), related)

        outcome = engine.receive(self._session, message, send_related)
        if outcome is None:
            return
        if not isinstance(outcome, Request):
            await send_related(outcome)
            return
        req = outcome
        session = self._session
        if req.id in session.in_flight:
            from ..protocol.jsonrpc import invalid_request

            await send_related(
                invalid_request(req.id, f"request id {req.id!r} is already in flight")
            )
            return
        session.in_flight[req.id] = req
        req.task = asyncio.create_task(self._run(req, send_related))

    async def _run(self, req: Any, send: Any) -> None:
        from ..protocol.jsonrpc import error

        try:
            answer = await self.runner.engine.handle(req)
        except asyncio.CancelledError:
            if req.cancelled_by_client or self._closed:
                return
            answer = error(req.id, -32603, "Request cancelled: the server is shutting down")
        finally:
            self._session.in_flight.pop(req.id, None)
        await send(answer)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        session = self._session
        if session is not None:
            tasks = [r.task for r in session.in_flight.values() if r.task is not None]
            session.close()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
        await self._stack.aclose()
