"""The stdio transport: a server started as a subprocess, newline-delimited JSON-RPC on its
pipes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from ..protocol.jsonrpc import encode, loads
from .errors import ConnectionClosed
from .transport import Sink, Transport

MAX_LINE = 64 * 1024 * 1024


class _PipeEvents(asyncio.SubprocessProtocol):
    """The subprocess's pipe and exit events, routed to the transport that spawned it."""

    def __init__(
        self,
        feed: Callable[[bytes], None],
        eof: Callable[[], None],
        exited: Callable[[], None],
        writable: asyncio.Event,
    ) -> None:
        self.feed = feed
        self.eof = eof
        self.exited = exited
        self.writable = writable

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.eof()

    def process_exited(self) -> None:
        self.exited()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()


class StdioTransport(Transport):
    """Spawns ``command args...`` and speaks newline-delimited JSON-RPC on its stdin/stdout.

    The server's stderr goes to ours unless `stderr` says otherwise (a file object, or
    ``asyncio.subprocess.DEVNULL``). `env` is added to this process's environment
    (``inherit_env=False``: it is the whole environment).

    Lines are parsed as they arrive; an answer that nothing is queued before is handed to its
    waiting request at once, everything else goes through one ordered dispatcher (so a
    request's progress can never overtake its answer).
    """

    kind = "stdio"

    def __init__(
        self,
        command: str,
        args: list[str] | tuple[str, ...] = (),
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        inherit_env: bool = True,
        stderr: Any = None,
        close_timeout: float = 2.0,
    ) -> None:
        self.command = command
        self.args = list(args)
        self.env = dict(env or {})
        self.cwd = cwd
        self.inherit_env = inherit_env
        self.stderr = stderr
        self.close_timeout = close_timeout
        self._process: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._sink: Sink | None = None
        self._buffer = bytearray()
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._exit = asyncio.Event()
        self._stdout_closed = False
        self._closing = False
        self._reported = False

    @property
    def pid(self) -> int | None:
        """The server process's id (None before it is started)."""
        return self._process.get_pid() if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """The server process's exit code (None while it runs)."""
        return self._process.get_returncode() if self._process is not None else None

    def describe(self) -> str:
        """The command line."""
        return " ".join([self.command, *self.args])

    async def open(self, sink: Sink) -> None:
        """Start the server process; `ConnectionClosed` when it cannot be started."""
        self._sink = sink
        env = {**os.environ, **self.env} if self.inherit_env else dict(self.env)
        loop = asyncio.get_running_loop()
        try:
            process, _ = await loop.subprocess_exec(
                lambda: _PipeEvents(self._feed, self._eof, self._exited, self._writable),
                self.command,
                *self.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=self.stderr,
                env=env,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise ConnectionClosed(f"cannot start {self.command!r}: {exc.strerror or exc}") from exc
        self._process = process
        self._stdin = process.get_pipe_transport(0)  # type: ignore[assignment]
        self._dispatcher = asyncio.create_task(self._dispatch())

    # -- reading ----------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        buffer = self._buffer
        if not buffer and data.find(b"\n") == len(data) - 1:  # the common case: one whole line
            if data.strip():
                self._line(data)
            return
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end]).strip()
            start = end + 1
            if line:
                self._line(line)
        del buffer[:start]
        if len(buffer) > MAX_LINE:
            buffer.clear()
            print(
                f"mcp-runner client: dropped a message over {MAX_LINE} bytes from {self.command}",
                file=sys.stderr,
            )

    def _line(self, line: bytes) -> None:
        try:
            message = loads(line)
        except ValueError:
            print(
                f"mcp-runner client: ignoring a line that is not JSON-RPC from {self.command}: {line[:200]!r}",
                file=sys.stderr,
            )
            return
        for item in message if isinstance(message, list) else (message,):
            if not isinstance(item, dict):
                continue
            if (
                not self._queue
                and "method" not in item
                and self._sink is not None
                and self._sink.resolve(item)
            ):
                continue  # an answer, nothing before it: straight to the waiting request
            self._queue.append(item)
            self._wakeup.set()

    async def _dispatch(self) -> None:
        sink = self._sink
        assert sink is not None
        while True:
            while self._queue:
                message = self._queue[0]
                try:
                    await sink.deliver(message, None)
                finally:
                    self._queue.popleft()
            if self._stdout_closed:
                break
            self._wakeup.clear()
            await self._wakeup.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._exit.wait(), 0.5)
        code = self.returncode
        reason = (
            "the server closed its stdout"
            if code is None
            else f"the server process exited with code {code}"
        )
        self._reported = True
        sink.transport_closed(ConnectionClosed(reason))

    def _eof(self) -> None:
        self._stdout_closed = True
        self._wakeup.set()

    def _exited(self) -> None:
        self._exit.set()

    # -- writing ----------------------------------------------------------------------------
    async def send(self, message: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Write the message as one line to the server's stdin (waiting while its pipe is full)."""
        stdin = self._stdin
        if stdin is None or self._closing or stdin.is_closing():
            raise ConnectionClosed("the server's stdin is closed")
        stdin.write(encode(message) + b"\n")
        if not self._writable.is_set():
            await self._writable.wait()

    async def close(self) -> None:
        """Close stdin, then terminate, then kill the server (each after `close_timeout`)."""
        self._closing = True
        process = self._process
        if process is not None:
            if self._stdin is not None and not self._stdin.is_closing():
                self._stdin.close()
            for step in ("wait", "terminate", "kill"):
                if process.get_returncode() is not None:
                    break
                if step != "wait":
                    with contextlib.suppress(ProcessLookupError):
                        getattr(process, step)()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._exit.wait(), self.close_timeout)
            process.close()
        if self._dispatcher is not None:
            self._stdout_closed = True
            self._wakeup.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._dispatcher), 1.0)
            self._dispatcher.cancel()
