"""stdio: newline-delimited JSON-RPC on stdin/stdout.

stdout carries protocol messages only: at start the real stdout is moved to a private file
descriptor and fd 1 is pointed at stderr, so a plugin's ``print()`` (or a child process) can
never corrupt the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..protocol.connection import Connection
from ..protocol.errors import INTERNAL_ERROR, INVALID_REQUEST
from ..protocol.jsonrpc import encode_safely, error, invalid_request, loads, parse_error
from ..protocol.session import DirectOutlet

if TYPE_CHECKING:
    from ..runner import Runner


#: The signals that drain the server (SIGHUP: its terminal or parent went away).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)


class StdioServer:
    """One stdio connection: reads lines, runs each request as a task, writes answers."""

    def __init__(self, runner: Runner, write: Any, *, max_message: int, max_in_flight: int) -> None:
        self.runner = runner
        self.write_bytes = write
        self.max_message = max_message
        self.session = runner.engine.session("stdio", outbound=self.send)
        self.connection = Connection(runner.engine, self.session, max_in_flight)
        self.outlet = DirectOutlet(self.send)  # every request's messages go straight out
        self.done = asyncio.Event()
        # Writes are synchronous (into the pipe's buffer): what `send` returns is already done.
        self._written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._written.set_result(None)
        self._buffer = bytearray()
        self._discarding = False

    # -- output ---------------------------------------------------------------------------------
    def write(self, message: dict[str, Any]) -> None:
        """Write one message as a line of stdout."""
        # encode_safely: e.g. a non-finite number a plugin put in its result becomes an error
        self.write_bytes(encode_safely(message) + b"\n")

    def send(self, message: dict[str, Any]) -> Awaitable[None]:
        """`write`, as sessions and outlets send: an awaitable, already done."""
        self.write(message)
        return self._written

    # -- input ----------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Take bytes read from stdin: each complete line is a message."""
        buffer = self._buffer
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            if self._discarding:
                self._discarding = False
            elif end - start > self.max_message:
                self.write(self._too_large())
            else:
                try:
                    self.line(bytes(buffer[start:end]))
                except Exception as exc:  # never let one message jam the connection
                    self.write(error(None, INTERNAL_ERROR, f"Internal error: {exc!r}"))
            start = end + 1
        del buffer[:start]
        if len(buffer) > self.max_message:
            if not self._discarding:
                self.write(self._too_large())
            self._discarding = True
            buffer.clear()

    def _too_large(self) -> dict[str, Any]:
        return error(
            None,
            INVALID_REQUEST,
            f"Invalid request: message exceeds the {self.max_message}-byte limit "
            "(server.max_message_bytes); it was discarded",
        )

    def line(self, raw: bytes) -> None:
        """One line: a message (or a batch) onto the connection's request path."""
        raw = raw.strip()
        if not raw:
            return
        try:
            message = loads(raw)
        except ValueError as exc:
            self.write(parse_error(exc))
            return
        if isinstance(message, list):
            self.batch(message)
            return
        immediate = self.connection.accept(message, self.outlet)
        if immediate is not None:
            self.write(immediate)

    def batch(self, messages: list[Any]) -> None:
        """A JSON-RPC batch: answered as one array line, in a 2025-03-26 session only."""
        version = self.session.version
        if version != "2025-03-26":
            self.write(
                invalid_request(
                    None,
                    f"JSON-RPC batches are not supported in protocol version {version or 'before initialize'} "
                    "(only 2025-03-26 allows them)",
                )
            )
            return
        if not messages:
            self.write(invalid_request(None, "empty batch"))
            return
        self.connection.start_batch(messages, self.outlet, self._write_batch)

    def _write_batch(self, answers: list[dict[str, Any]]) -> None:
        self.write_bytes(b"[" + b",".join(encode_safely(a) for a in answers) + b"]\n")

    def eof(self) -> None:
        """stdin closed: the last line without its newline still counts; serving ends."""
        if self._buffer and not self._discarding:  # a last line without its newline
            line, self._buffer = bytes(self._buffer), bytearray()
            self.line(line)
        self.done.set()


class _Reader(asyncio.Protocol):
    def __init__(self, server: StdioServer) -> None:
        self.server = server

    def data_received(self, data: bytes) -> None:
        self.server.feed(data)

    def eof_received(self) -> bool:
        self.server.eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.eof()


class _Writer(asyncio.Protocol):
    def connection_lost(self, exc: Exception | None) -> None:
        pass


_protected: int | None = None


def protect_stdout() -> int:
    """Move the real stdout to a private fd and point fd 1 (and `sys.stdout`) at stderr.

    Idempotent. The CLI calls it before any plugin is imported, so even a plugin that prints
    at import time cannot corrupt the protocol stream.
    """
    global _protected
    if _protected is None:
        sys.stdout.flush()
        _protected = os.dup(1)
        os.dup2(2, 1)
    return _protected


async def serve(runner: Runner, options: dict[str, Any]) -> None:
    """Serve `runner` on stdin/stdout until stdin closes or a signal (the ``stdio`` transport)."""
    loop = asyncio.get_running_loop()
    settings = runner.settings.server
    principal = await _principal(runner)
    out_fd = protect_stdout()
    out_file = os.fdopen(out_fd, "wb", buffering=0)
    write_transport: asyncio.WriteTransport | None = None
    write: Callable[[bytes], Any] = out_file.write  # a file or a terminal: blocking writes
    if _is_pipe(out_fd):
        write_transport, _ = await loop.connect_write_pipe(_Writer, out_file)
        write = write_transport.write
    server = StdioServer(
        runner,
        write,
        max_message=settings.max_message_bytes,
        max_in_flight=settings.max_in_flight,
    )
    server.session.principal = principal
    stdin = sys.stdin.buffer
    read_transport: asyncio.ReadTransport | None = None
    if _is_pipe(stdin.fileno()):
        read_transport, _ = await loop.connect_read_pipe(lambda: _Reader(server), stdin)
    else:  # a file or a terminal: read it on a thread
        threading.Thread(target=_read_blocking, args=(stdin, server, loop), daemon=True).start()
    stopping = asyncio.Event()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    runner.ready("stdio")
    waiters = [asyncio.ensure_future(server.done.wait()), asyncio.ensure_future(stopping.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    if read_transport is not None:
        read_transport.close()
    await server.connection.drain(settings.shutdown_grace)
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)
    # Flush what is buffered before the pipe closes.
    if write_transport is None:
        out_file.close()
        return
    for _ in range(500):
        if not write_transport.get_write_buffer_size() or write_transport.is_closing():
            break
        await asyncio.sleep(0.01)
    write_transport.close()


async def _principal(runner: Runner) -> Any:
    """With auth configured, the session's principal is that of MCP_RUNNER_TOKEN (or None)."""
    if runner.authenticator is None:
        return None
    from ..protocol.errors import McpError

    try:
        return await runner.authenticator.principal_from_environment()
    except McpError as exc:
        print(
            f"mcp-runner: error: MCP_RUNNER_TOKEN was refused: {exc.message}",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1) from None


def _is_pipe(fd: int) -> bool:
    """Pipes and sockets get event-loop transports; files and terminals blocking I/O."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _read_blocking(stream: Any, server: StdioServer, loop: asyncio.AbstractEventLoop) -> None:
    while chunk := stream.read1(65536):
        loop.call_soon_threadsafe(server.feed, chunk)
    loop.call_soon_threadsafe(server.eof)
