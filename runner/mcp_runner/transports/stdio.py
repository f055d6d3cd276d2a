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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol.errors import INTERNAL_ERROR
from ..protocol.jsonrpc import encode_safely, error, invalid_request, loads, parse_error
from ..protocol.session import Request

if TYPE_CHECKING:
    from ..runner import Runner


class StdioServer:
    """One stdio connection: reads lines, runs each request as a task, writes answers."""

    def __init__(self, runner: Runner, write: Any, *, max_message: int, max_in_flight: int) -> None:
        self.runner = runner
        self.engine = runner.engine
        self.write_bytes = write
        self.max_message = max_message
        self.max_in_flight = max_in_flight
        self.session = self.engine.session("stdio", outbound=self.send)
        self.done = asyncio.Event()
        self._buffer = bytearray()
        self._discarding = False
        self._batches: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    # -- output ---------------------------------------------------------------------------------
    def write(self, message: dict[str, Any]) -> None:
        # encode_safely: e.g. a non-finite number a plugin put in its result becomes an error
        self.write_bytes(encode_safely(message) + b"\n")

    async def send(self, message: dict[str, Any]) -> None:
        self.write(message)

    # -- input ----------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
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
            -32600,
            f"Invalid request: message exceeds the {self.max_message}-byte limit "
            "(server.max_message_bytes); it was discarded",
        )

    def line(self, raw: bytes) -> None:
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
        self.accept(self.engine.receive(self.session, message, self.send))

    def accept(self, outcome: Request | dict[str, Any] | None) -> None:
        if outcome is None:
            return
        if isinstance(outcome, dict):
            self.write(outcome)
            return
        req = outcome
        refusal = self.session.admit(req, self.max_in_flight)
        if refusal is not None:
            self.write(refusal)
            return
        in_flight = self.session.in_flight
        req.task = self._loop.create_task(self.run(req))
        # Cancelled before it ever ran, run() would not clear its slot: this callback does.
        req.task.add_done_callback(
            lambda _: in_flight.pop(req.id, None) if in_flight.get(req.id) is req else None
        )

    async def run(self, req: Request) -> None:
        try:
            answer = await self.engine.handle(req)
        except asyncio.CancelledError:
            if req.cancelled_by_client:
                return  # the client withdrew it: no response (spec)
            answer = error(req.id, INTERNAL_ERROR, "Request cancelled: the server is shutting down")
        finally:
            if self.session.in_flight.get(req.id) is req:
                del self.session.in_flight[req.id]
        self.write(answer)

    def batch(self, messages: list[Any]) -> None:
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
        task = self._loop.create_task(self._run_batch(messages))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_batch(self, messages: list[Any]) -> None:
        answers = await self.engine.run_batch(self.session, messages, self.send, self.max_in_flight)
        if answers:
            self.write_bytes(b"[" + b",".join(encode_safely(a) for a in answers) + b"]\n")

    def eof(self) -> None:
        if self._buffer and not self._discarding:  # a last line without its newline
            line, self._buffer = bytes(self._buffer), bytearray()
            self.line(line)
        self.done.set()

    async def drain(self, grace: float) -> None:
        """Let in-flight requests finish for `grace` seconds, then cancel the rest."""
        tasks = [r.task for r in self.session.in_flight.values() if r.task is not None]
        tasks += list(self._batches)
        for req in list(self.session.in_flight.values()):
            if req.method == "subscriptions/listen" and req.task is not None:
                req.task.cancel()  # never ends by itself: answer it now
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self.session.close()


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
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    runner.ready("stdio")
    waiters = [asyncio.ensure_future(server.done.wait()), asyncio.ensure_future(stopping.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    if read_transport is not None:
        read_transport.close()
    await server.drain(settings.shutdown_grace)
    for sig in (signal.SIGTERM, signal.SIGINT):
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
