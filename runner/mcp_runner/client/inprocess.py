"""The in-process transport: a `Client` talking to a `Runner` in this process, no wire."""

from __future__ import annotations

import contextlib
import functools
import json
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.connection import Connection
from ..protocol.jsonrpc import encode
from ..protocol.session import DirectOutlet
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
        self._connection: Connection | None = None
        self._closed = False

    def describe(self) -> str:
        """The server, for messages: ``in-process <server name>``."""
        return f"in-process {self.runner.settings.server.name}"

    async def open(self, sink: Sink) -> None:
        """Start the runner (and enter its lifespan, unless told not to) and open a session
        on its one request path; what the server sends goes to `sink`."""
        self._sink = sink
        self.runner.start()
        if self.lifespan:
            await self._stack.enter_async_context(self.runner.lifespan())
        engine = self.runner.engine
        session = engine.session("inprocess", outbound=self._outbound)
        self._connection = Connection(engine, session, self.runner.settings.server.max_in_flight)

    async def _outbound(self, message: dict[str, Any]) -> None:
        await self._deliver(None, message)

    async def _deliver(self, related: Any, message: dict[str, Any]) -> None:
        if not self._closed and self._sink is not None:
            await self._sink.deliver(_copy(message), related)

    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Hand one message (a copy: nothing is shared) to the server's connection; a
        request's answer and its own messages are delivered as related to it."""
        if self._closed or self._connection is None:
            raise ConnectionClosed("the in-process connection is closed")
        message = _copy(message)
        related = message.get("id") if "method" in message else None
        # A request's own messages and its answer are delivered as related to it.
        outlet = DirectOutlet(functools.partial(self._deliver, related))
        immediate = self._connection.accept(message, outlet)
        if immediate is not None:
            await outlet.send(immediate)

    async def close(self) -> None:
        """Stop at once: requests still running are cancelled, then the lifespan is exited."""
        if self._closed:
            return
        self._closed = True
        if self._connection is not None:
            await self._connection.drain(0)
        await self._stack.aclose()
