"""Load generator for the MCP benchmarks: stdio and Streamable HTTP, stdlib asyncio only.

Every server in a run is driven by this same code. It is kept cheap per request so
that it is not the bottleneck: request bodies are prebuilt byte strings, HTTP/1.1 is
spoken by hand over keep-alive connections (no client library), and only what is
needed to check an answer is decoded. Its own CPU time is measured on every run
(``RunResult.loadgen_cpu``) so the report can show how close it came to its ceiling.

Every loop is bounded twice: by a request count and by a wall-clock deadline, after
which no new request is sent and the ones in flight are awaited (for a bounded time).
Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}
CLIENT_INFO = {"name": "mcp-runner-bench", "version": "0"}
LINE_LIMIT = 64 * 1024 * 1024  # tools/list with 1,000 tools is one long line
GRACE = 30.0  # seconds allowed for in-flight requests after a deadline
SERVER_CPUS: set[int] | None = None  # when set (run.py --pin), servers are pinned to these CPUs


def pin_server(pid: int) -> None:
    if SERVER_CPUS:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, SERVER_CPUS)


class BenchError(RuntimeError):
    """A server answered wrongly or not at all."""


class NotSupported(BenchError):
    """A server does not support what a scenario asks for (reported as n/a)."""


# --------------------------------------------------------------------------- requests

# The tools/call mix: echo and add alternate; (name, arguments, expected text content).
CALLS = (
    ("echo", {"text": "hello"}, "hello"),
    ("add", {"a": 2, "b": 3}, "5"),
)


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Requests:
    """Prebuilt tools/call bodies: ``head % id + tail`` is one request."""

    def __init__(self, era: str = "legacy") -> None:
        self.bodies = []
        self.expected = []
        self.names = []
        for name, arguments, expected in CALLS:
            params: dict = {"name": name, "arguments": arguments}
            if era == "modern":
                params["_meta"] = MODERN_META
            tail = _dumps({"method": "tools/call", "params": params})[1:]  # drop "{"
            self.bodies.append((b'{"jsonrpc":"2.0","id":%d,', tail))
            self.expected.append(expected)
            self.names.append(name)

    def body(self, i: int) -> bytes:
        head, tail = self.bodies[i % len(self.bodies)]
        return head % i + tail

    def check(self, i: int, msg: dict) -> None:
        result = msg.get("result")
        if not isinstance(result, dict):
            raise BenchError(f"tools/call {self.names[i % 2]} #{i} failed: {str(msg)[:300]}")
        content = result.get("content") or [{}]
        if result.get("isError") or content[0].get("text") != self.expected[i % len(self.expected)]:
            raise BenchError(f"tools/call {self.names[i % 2]} #{i} wrong answer: {str(msg)[:300]}")


def initialize_body(i: int = 0) -> bytes:
    return _dumps(
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY_VERSION,
                "capabilities": {},
                "clientInfo": CLIENT_INFO,
            },
        }
    )


INITIALIZED = _dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})


def tools_list_body(i: int, era: str = "legacy", cursor: str | None = None) -> bytes:
    params: dict = {"_meta": MODERN_META} if era == "modern" else {}
    if cursor is not None:
        params["cursor"] = cursor
    return _dumps({"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": params})


# --------------------------------------------------------------------------- results


@dataclass
class RunResult:
    count: int = 0  # requests completed
    wall: float = 0.0  # seconds from first send to last answer
    latencies: list[float] = field(default_factory=list)  # seconds, when recorded
    loadgen_cpu: float = 0.0  # CPU seconds this process spent during the run
    server_cpu: float = 0.0  # CPU seconds the server process tree spent during the run
    other_cpu: float = 0.0  # CPU seconds every other process on the machine spent meanwhile
    hit_deadline: bool = False

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Meter:
    """Wall time and CPU time over a run: this process's, the server's, everybody else's."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def __enter__(self) -> Meter:
        self.m0 = machine_busy_seconds()
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()
        self.s0 = cpu_seconds(self.pid) if self.pid else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        self.server_cpu = (cpu_seconds(self.pid) - self.s0) if self.pid else 0.0
        busy = machine_busy_seconds() - self.m0
        self.other_cpu = max(0.0, busy - self.cpu - self.server_cpu)

    def fill(self, result: RunResult) -> RunResult:
        result.wall, result.loadgen_cpu, result.server_cpu = self.wall, self.cpu, self.server_cpu
        result.other_cpu = self.other_cpu
        return result


# --------------------------------------------------------------------------- /proc


def _descendants(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def rss_bytes(pid: int) -> int:
    """Resident set size of a process and its descendants."""
    total = 0
    for p in _descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs of the machine spent busy since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICK


def cpu_seconds(pid: int) -> float:
    """user+system CPU seconds of a process and its descendants."""
    total = 0
    for p in _descendants(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / _TICK


# --------------------------------------------------------------------------- processes


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a server this benchmark started (by its own handle, never by name)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def astop_process(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """stop_process for a server started with asyncio."""
    if proc.returncode is not None:
        return
    try:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), grace)
    except ProcessLookupError:
        pass
    except TimeoutError:
        proc.kill()
        await proc.wait()


def cold_start(
    argv: Sequence[str], env: dict, cwd: str | Path, stderr_path: Path, timeout: float = 60.0
) -> float:
    """Seconds from spawning a stdio server to reading its initialize response."""
    with open(stderr_path, "ab") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd
        )
        assert proc.stdin is not None and proc.stdout is not None
        pin_server(proc.pid)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            proc.stdin.write(initialize_body(0) + b"\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            elapsed = time.perf_counter() - t0
        finally:
            timer.cancel()
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            stop_process(proc)
        if not (isinstance(msg, dict) and "result" in msg):
            raise BenchError(f"no initialize response (got {line[:200]!r}); see {stderr_path}")
        return elapsed


def import_time(python: str, module: str, env: dict | None = None) -> tuple[float, int]:
    """(seconds to import ``module`` in a fresh interpreter, modules loaded by it)."""
    code = (
        "import sys, time; n = len(sys.modules); t = time.perf_counter(); "
        f"import {module}; "
        "print(time.perf_counter() - t, len(sys.modules) - n)"
    )
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if out.returncode != 0:
        raise BenchError(f"import {module} failed: {out.stderr.strip()[-300:]}")
    seconds, modules = out.stdout.split()
    return float(seconds), int(modules)


# --------------------------------------------------------------------------- stdio


class StdioServer:
    """A stdio MCP server subprocess and a client for it."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._next_id = 1_000_000_000  # ids for control requests, far from the load's ids

    @classmethod
    async def start(
        cls, argv: Sequence[str], env: dict, cwd: str | Path, stderr_path: Path
    ) -> StdioServer:
        with open(stderr_path, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=cwd,
                limit=LINE_LIMIT,
            )
        pin_server(proc.pid)
        return cls(proc)

    async def rpc_raw(self, body_for_id, timeout: float = 60.0) -> tuple[dict, int, float]:
        """Send one request built by ``body_for_id(id)``.

        Returns (reply, reply size in bytes, seconds from sending to receiving the reply's
        line). The reply is decoded only after the clock stops, so that a large answer
        (tools/list) is not charged with the generator's own parsing.
        """
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._next_id += 1
        rid = self._next_id
        t0 = time.perf_counter()
        self.proc.stdin.write(body_for_id(rid) + b"\n")
        await self.proc.stdin.drain()
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            t1 = time.perf_counter()
            if not line:
                raise BenchError(f"server closed stdout (exit code {self.proc.returncode})")
            msg = json.loads(line)
            if msg.get("id") == rid and ("result" in msg or "error" in msg):
                return msg, len(line), t1 - t0

    async def initialize(self, timeout: float = 60.0) -> dict:
        msg, _, _ = await self.rpc_raw(initialize_body, timeout)
        if "result" not in msg:
            raise BenchError(f"initialize failed: {msg}")
        assert self.proc.stdin is not None
        self.proc.stdin.write(INITIALIZED + b"\n")
        await self.proc.stdin.drain()
        return msg["result"]

    async def sequential(self, total: int, deadline: float, *, record: bool = True) -> RunResult:
        """One tools/call at a time until ``total`` or ``deadline`` seconds."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        reqs = Requests()
        write, readline, drain = (
            self.proc.stdin.write,
            self.proc.stdout.readline,
            self.proc.stdin.drain,
        )
        result = RunResult()
        lat = result.latencies
        perf = time.perf_counter
        with Meter(self.pid) as meter:
            end = perf() + deadline
            for i in range(total):
                t0 = perf()
                if t0 > end:
                    result.hit_deadline = True
                    break
                write(reqs.body(i) + b"\n")
                await drain()
                while True:
                    line = await readline()
                    if not line:
                        raise BenchError("server closed stdout")
                    msg = json.loads(line)
                    if msg.get("id") == i:
                        break
                if record:
                    lat.append(perf() - t0)
                reqs.check(i, msg)
                result.count += 1
        return meter.fill(result)

    async def pipelined(self, total: int, window: int, deadline: float) -> RunResult:
        """Keep ``window`` tools/call requests in flight until ``total`` are answered."""
        return await asyncio.wait_for(self._pipelined(total, window, deadline), deadline + GRACE)

    async def _pipelined(self, total: int, window: int, deadline: float) -> RunResult:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        reqs = Requests()
        write, readline = self.proc.stdin.write, self.proc.stdout.readline
        result = RunResult()
        perf = time.perf_counter
        with Meter(self.pid) as meter:
            end = perf() + deadline
            sent = min(window, total)
            write(b"".join(reqs.body(i) + b"\n" for i in range(sent)))
            await self.proc.stdin.drain()
            outstanding = sent
            since_drain = 0
            while outstanding:
                line = await readline()
                if not line:
                    raise BenchError("server closed stdout")
                msg = json.loads(line)
                rid = msg.get("id")
                if not isinstance(rid, int) or ("result" not in msg and "error" not in msg):
                    continue  # a notification or a request from the server: not ours
                reqs.check(rid, msg)
                result.count += 1
                outstanding -= 1
                if sent < total:
                    if perf() > end:
                        result.hit_deadline = True
                        total = sent
                        continue
                    write(reqs.body(sent) + b"\n")
                    sent += 1
                    outstanding += 1
                    since_drain += 1
                    if since_drain >= window:
                        since_drain = 0
                        await self.proc.stdin.drain()
        return meter.fill(result)

    async def close(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                await asyncio.wait_for(self.proc.wait(), 5)
            except (TimeoutError, OSError):
                pass
        await astop_process(self.proc)


# --------------------------------------------------------------------------- HTTP


class HttpConn:
    """One keep-alive HTTP/1.1 connection, spoken by hand."""

    def __init__(self, port: int, path: str = "/mcp") -> None:
        self.port = port
        self.path = path.encode()
        self.host_header = f"{HOST}:{port}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> HttpConn:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=LINE_LIMIT)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def head(self, method: bytes, extra_headers: bytes, body_len: int) -> bytes:
        return (
            b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\n%sContent-Length: %d\r\n\r\n"
            % (method, self.path, self.host_header, extra_headers, body_len)
        )

    async def request(
        self, method: bytes, extra_headers: bytes, body: bytes
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        """(status, lower-cased headers, body) for one request on this connection."""
        for attempt in (0, 1):
            if self.writer is None or self.reader is None or self.reader.at_eof():
                await (
                    self.connect()
                )  # first use, or the server closed an idle keep-alive connection
            assert self.reader is not None and self.writer is not None
            self.writer.write(self.head(method, extra_headers, len(body)) + body)
            reader = self.reader
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                # Closed before answering (idle timeout racing our request): retry once, fresh.
                if attempt or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
                self.close()
        lines = raw[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get(b"content-length")
        if length is not None:
            data = await reader.readexactly(int(length))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers are sent here
                    break
                parts.append((await reader.readexactly(size + 2))[:-2])
            data = b"".join(parts)
        elif status in (202, 204, 304) or method == b"HEAD":
            data = b""
        else:
            data = await reader.read()
            self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, headers, data


def decode_reply(headers: dict[bytes, bytes], data: bytes, want_id: int | None = None) -> dict:
    """The JSON-RPC reply in a plain JSON or SSE answer."""
    if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
        for event in data.replace(b"\r\n", b"\n").split(b"\n\n"):
            payload = b"\n".join(
                line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
            )
            if not payload:
                continue
            msg = json.loads(payload)
            if ("result" in msg or "error" in msg) and (
                want_id is None or msg.get("id") == want_id
            ):
                return msg
        raise BenchError(f"no JSON-RPC reply in SSE stream: {data[:300]!r}")
    return json.loads(data)


@dataclass
class Session:
    """How to address one client's requests: a legacy session id or the 2026-07-28 envelope."""

    era: str  # "legacy" | "modern"
    session_id: bytes | None = None

    def headers(self, method: str, name: str | None = None) -> bytes:
        if self.era == "modern":
            h = b"MCP-Protocol-Version: %s\r\nMcp-Method: %s\r\n" % (
                MODERN_VERSION.encode(),
                method.encode(),
            )
            if name is not None:
                h += b"Mcp-Name: %s\r\n" % name.encode()
            return h
        h = b"MCP-Protocol-Version: %s\r\n" % LEGACY_VERSION.encode()
        if self.session_id is not None:
            h += b"Mcp-Session-Id: %s\r\n" % self.session_id
        return h


async def open_session(conn: HttpConn) -> Session:
    """initialize -> Mcp-Session-Id, then notifications/initialized."""
    status, headers, data = await conn.request(b"POST", b"", initialize_body(0))
    if status != 200:
        raise BenchError(f"initialize: HTTP {status} {data[:200]!r}")
    msg = decode_reply(headers, data, 0)
    if "result" not in msg:
        raise BenchError(f"initialize failed: {msg}")
    sid = headers.get(b"mcp-session-id")
    session = Session("legacy", sid)
    status, _, data = await conn.request(
        b"POST", session.headers("notifications/initialized"), INITIALIZED
    )
    if status not in (200, 202, 204):
        raise BenchError(f"notifications/initialized: HTTP {status} {data[:200]!r}")
    return session


async def delete_session(conn: HttpConn, session: Session) -> int:
    status, _, _ = await conn.request(b"DELETE", session.headers("DELETE"), b"")
    return status


async def http_call(conn: HttpConn, session: Session, reqs: Requests, i: int) -> None:
    name = reqs.names[i % len(reqs.names)]
    status, headers, data = await conn.request(
        b"POST", session.headers("tools/call", name), reqs.body(i)
    )
    if status != 200:
        if session.era == "modern" and status in (400, 404, 405, 406):
            raise NotSupported(f"2026-07-28 request refused: HTTP {status} {data[:200]!r}")
        raise BenchError(f"tools/call: HTTP {status} {data[:200]!r}")
    msg = decode_reply(headers, data, i)
    if session.era == "modern" and "error" in msg:
        raise NotSupported(f"2026-07-28 request refused: {msg['error']}")
    reqs.check(i, msg)


async def http_rpc(
    conn: HttpConn, session: Session, method: str, body: bytes, rid: int
) -> tuple[dict, int]:
    status, headers, data = await conn.request(b"POST", session.headers(method), body)
    if status != 200:
        raise BenchError(f"{method}: HTTP {status} {data[:200]!r}")
    return decode_reply(headers, data, rid), len(data)


async def http_load(
    port: int, clients: int, era: str, total: int, deadline: float, pid: int | None
) -> RunResult:
    """``clients`` connections, each with its own legacy session (or none: modern), calling
    tools/call back to back until ``total`` calls or ``deadline`` seconds."""
    conns = [await HttpConn(port).connect() for _ in range(clients)]
    try:
        if era == "modern":
            sessions = [Session("modern") for _ in conns]
        else:
            sessions = [await open_session(c) for c in conns]
        reqs = Requests(era)
        result = RunResult()
        lat = result.latencies
        perf = time.perf_counter
        counter = iter(range(total))
        end = 0.0

        async def client(conn: HttpConn, session: Session) -> None:
            for i in counter:
                t0 = perf()
                if t0 > end:
                    result.hit_deadline = True
                    return
                await http_call(conn, session, reqs, i)
                lat.append(perf() - t0)
                result.count += 1

        with Meter(pid) as meter:
            end = perf() + deadline
            await asyncio.wait_for(
                asyncio.gather(*(client(c, s) for c, s in zip(conns, sessions, strict=True))),
                deadline + GRACE,
            )
        if era == "legacy":  # leave no sessions behind for the next measurement
            for conn, session in zip(conns, sessions, strict=True):
                with contextlib.suppress(BenchError, OSError, EOFError):
                    await delete_session(conn, session)
        return meter.fill(result)
    finally:
        for c in conns:
            c.close()


async def open_sessions(port: int, n: int, deadline: float, conns: int = 8) -> list[Session]:
    """Open ``n`` idle legacy sessions over a few connections (bounded by ``deadline``)."""
    sessions: list[Session] = []
    end = time.perf_counter() + deadline
    counter = iter(range(n))

    async def worker() -> None:
        conn = await HttpConn(port).connect()
        try:
            for _ in counter:
                if time.perf_counter() > end:
                    return
                sessions.append(await open_session(conn))
        finally:
            conn.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conns))), deadline + GRACE)
    return sessions


async def delete_sessions(
    port: int, sessions: list[Session], deadline: float, conns: int = 8
) -> dict[int, int]:
    """DELETE each session; {HTTP status: count}."""
    statuses: dict[int, int] = {}
    end = time.perf_counter() + deadline
    todo = iter(sessions)

    async def worker() -> None:
        conn = await HttpConn(port).connect()
        try:
            for s in todo:
                if time.perf_counter() > end:
                    return
                st = await delete_session(conn, s)
                statuses[st] = statuses.get(st, 0) + 1
        finally:
            conn.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conns))), deadline + GRACE)
    return statuses


async def wait_http_ready(
    port: int, proc: asyncio.subprocess.Process, timeout: float = 60.0
) -> float:
    """Seconds until the port accepts connections (fails early if the process died)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.returncode is not None:
            raise BenchError(f"server exited with code {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return time.perf_counter() - t0
        except OSError:
            await asyncio.sleep(0.05)
    raise BenchError(f"server did not listen on {HOST}:{port} within {timeout:.0f}s")
