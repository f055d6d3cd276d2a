#!/usr/bin/env python3
"""A bounded load test of mcp-runner over Streamable HTTP and stdio (loopback only).

HTTP phase: N clients (``--clients``, default 200), each with its own keep-alive connection
and legacy session, call ``tools/call add`` back to back for T seconds (``--seconds``, default
60), while M more sessions (``--idle``, default 1000) sit initialized and idle; at the end every
idle session must still answer ``ping``.

stdio phase: one ``mcp-runner serve`` over pipes kept at K requests in flight (``--inflight``,
default 1000) for T seconds: each answer is replaced by a new request at once.

Every request carries a unique id; the run checks that each is answered exactly once, with
the right result and no error. Reported: requests, req/s, latency p50/p99/max, and the
server's RSS (VmRSS from /proc/<pid>/status) before and after. Exit status 1 on any error.

Traffic goes only to 127.0.0.1; every loop is bounded in time and count, and a watchdog ends
the run (and the servers it started) if it overruns.

    python benchmarks/load.py --quick            # 10 s, smaller N/M/K
    python benchmarks/load.py                    # 60 s, 200 clients, 1000 idle, 1000 in flight
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # the only address this script ever connects to
PLUGIN_SOURCE = '''
"""Load-test plugin (written by benchmarks/load.py)."""
import asyncio
from mcp_runner import Plugin

plugin = Plugin("loadtest", description="load test")


@plugin.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@plugin.tool
async def nap(ms: int = 0, tag: int = 0) -> int:
    """Sleep `ms` milliseconds, then return `tag`."""
    await asyncio.sleep(ms / 1000)
    return tag
'''
LEGACY = "2025-11-25"
MAX_REQUESTS = 50_000_000  # a hard cap, whatever the duration
_BACKGROUND: set[asyncio.Future[Any]] = set()  # stderr readers of the servers


# ---------------------------------------------------------------------------------------------
# Bookkeeping


@dataclass
class Tally:
    name: str
    sent: int = 0
    answered: dict[int, int] = field(default_factory=dict)  # id -> times answered
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def answer(self, rid: int, latency: float | None) -> None:
        self.answered[rid] = self.answered.get(rid, 0) + 1
        if latency is not None:
            self.latencies.append(latency)

    def error(self, what: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append(what)
        else:
            self.errors[-1] = f"... and more ({what})"

    def check(self, expected_ids: set[int]) -> None:
        twice = [rid for rid, n in self.answered.items() if n != 1]
        missing = expected_ids - self.answered.keys()
        unknown = self.answered.keys() - expected_ids
        if twice:
            self.error(f"{len(twice)} ids answered more than once, e.g. {twice[:5]}")
        if missing:
            self.error(f"{len(missing)} ids never answered, e.g. {sorted(missing)[:5]}")
        if unknown:
            self.error(f"{len(unknown)} answers to ids never sent, e.g. {sorted(unknown)[:5]}")

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        duration = max(self.ended - self.started, 1e-9)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

        return {
            "phase": self.name,
            "requests": self.sent,
            "answered_once": sum(1 for n in self.answered.values() if n == 1),
            "errors": len(self.errors),
            "seconds": round(duration, 2),
            "req_per_s": round(len(lat) / duration, 1),
            "p50_ms": round(pct(0.50), 2),
            "p99_ms": round(pct(0.99), 2),
            "max_ms": round(lat[-1] * 1000, 2) if lat else float("nan"),
            "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else float("nan"),
        }


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Starting servers


def runner_command() -> list[str]:
    script = Path(sys.executable).with_name("mcp-runner")
    if script.exists():
        return [str(script)]
    found = shutil.which("mcp-runner")
    return [found] if found else [sys.executable, "-m", "mcp_runner"]


def server_env(plugin_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [plugin_dir, os.environ.get("PYTHONPATH")]))
    env["MCP_RUNNER_PLUGINS"] = "loadtest"
    env.update(extra)
    return env


async def start_http(plugin_dir: str, max_sessions: int) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        *runner_command(),
        "serve",
        "--transport",
        "http",
        "--host",
        HOST,
        "--port",
        "0",
        "--plugin",
        "loadtest_plugin:plugin",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(plugin_dir, MCP_RUNNER_HTTP__MAX_SESSIONS=str(max_sessions)),
    )
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        if not line:
            break
        seen += line
        found = re.search(rb'serving(?: |", "url": ")http://127\.0\.0\.1:(\d+)/mcp', line)
        if found:
            _BACKGROUND.add(asyncio.ensure_future(_drain(proc.stderr)))
            return proc, int(found.group(1))
    proc.kill()
    raise RuntimeError(f"the HTTP server did not start: {seen.decode(errors='replace')}")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int | None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode


# ---------------------------------------------------------------------------------------------
# A small HTTP/1.1 client (keep-alive, Content-Length or chunked answers)


class HttpConn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0  # uvicorn closes keep-alive connections idle for 5 s

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def post(
        self, message: dict[str, Any], session: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is not None and time.monotonic() - self.last_used > 3:
            await self.close()
            self.writer = None
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        body = json.dumps(message, separators=(",", ":")).encode()
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n"
        )
        if session is not None:
            head += f"Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: {LEGACY}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(parts)
        else:
            data = b""
        self.last_used = time.monotonic()
        if headers.get("connection", "").lower() == "close":
            await self.close()
            self.writer = None
        return status, headers, data


def parse_body(headers: dict[str, str], data: bytes) -> Any:
    if headers.get("content-type", "").startswith("text/event-stream"):
        events = [
            line[5:].strip() for line in data.decode().splitlines() if line.startswith("data:")
        ]
        events = [e for e in events if e]
        return json.loads(events[-1]) if events else None
    return json.loads(data) if data else None


async def open_session(conn: HttpConn) -> str:
    status, headers, data = await conn.post(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "load", "version": "1"},
            },
        }
    )
    if status != 200 or "mcp-session-id" not in headers:
        raise RuntimeError(f"initialize failed: {status} {data[:200]!r}")
    sid = headers["mcp-session-id"]
    status, _, data = await conn.post(
        {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid
    )
    if status != 202:
        raise RuntimeError(f"notifications/initialized: {status} {data[:200]!r}")
    return sid


# ---------------------------------------------------------------------------------------------
# HTTP phase


async def http_phase(args: argparse.Namespace, plugin_dir: str) -> dict[str, Any]:
    proc, port = await start_http(plugin_dir, max_sessions=args.clients + args.idle + 100)
    report: dict[str, Any] = {"server_pid": proc.pid, "rss_kib_start": rss_kib(proc.pid)}
    ids = itertools.count(1)
    try:
        # idle sessions: opened over a few connections, then left alone
        idle: list[str] = []
        conns = [HttpConn(port) for _ in range(min(20, max(1, args.idle)))]

        async def opener(conn: HttpConn, count: int) -> None:
            for _ in range(count):
                idle.append(await open_session(conn))

        share = [
            args.idle // len(conns) + (1 if i < args.idle % len(conns) else 0)
            for i in range(len(conns))
        ]
        await asyncio.gather(*(opener(c, n) for c, n in zip(conns, share, strict=True)))
        report["rss_kib_after_idle_sessions"] = rss_kib(proc.pid)

        load = Tally("http tools/call")
        sent_ids: set[int] = set()
        clients = [HttpConn(port) for _ in range(args.clients)]
        sessions = await asyncio.gather(*(open_session(c) for c in clients))
        stop_at = time.monotonic() + args.seconds

        async def client(conn: HttpConn, sid: str, index: int) -> None:
            while time.monotonic() < stop_at and load.sent < MAX_REQUESTS:
                rid = next(ids)
                a, b = index, rid % 1000
                message = {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "method": "tools/call",
                    "params": {"name": "add", "arguments": {"a": a, "b": b}},
                }
                sent_ids.add(rid)
                load.sent += 1
                started = time.perf_counter()
                try:
                    status, headers, data = await asyncio.wait_for(conn.post(message, sid), 30)
                except Exception as exc:
                    load.error(f"{rid}: {type(exc).__name__}: {exc}")
                    await conn.close()
                    conn.writer = None
                    continue
                latency = time.perf_counter() - started
                try:
                    answer = parse_body(headers, data)
                except ValueError as exc:
                    load.error(f"{rid}: body is not JSON ({exc}): {data[:100]!r}")
                    continue
                if status != 200 or not isinstance(answer, dict):
                    load.error(f"{rid}: HTTP {status}: {data[:200]!r}")
                    continue
                got = answer.get("id")
                if isinstance(got, int):
                    load.answer(got, latency if got == rid else None)
                if got != rid:
                    load.error(f"{rid}: answered with id {got!r}")
                elif "error" in answer or answer["result"].get("isError"):
                    load.error(f"{rid}: {json.dumps(answer)[:200]}")
                elif answer["result"].get("structuredContent", {}).get("result") != a + b:
                    load.error(f"{rid}: wrong result {json.dumps(answer)[:200]}")

        load.started = time.monotonic()
        await asyncio.gather(
            *(client(c, s, i) for i, (c, s) in enumerate(zip(clients, sessions, strict=True)))
        )
        load.ended = time.monotonic()
        load.check(sent_ids)
        report["rss_kib_after_load"] = rss_kib(proc.pid)

        # every idle session must still be there
        alive = Tally("http idle sessions ping")
        ping_ids: set[int] = set()
        alive.started = time.monotonic()

        async def pinger(conn: HttpConn, chunk: list[str]) -> None:
            for sid in chunk:
                rid = next(ids)
                ping_ids.add(rid)
                alive.sent += 1
                started = time.perf_counter()
                status, headers, data = await conn.post(
                    {"jsonrpc": "2.0", "id": rid, "method": "ping"}, sid
                )
                answer = parse_body(headers, data) if status == 200 else None
                if (
                    not isinstance(answer, dict)
                    or answer.get("id") != rid
                    or answer.get("result") != {}
                ):
                    alive.error(f"idle session {sid[:8]}: HTTP {status} {data[:100]!r}")
                    continue
                alive.answer(rid, time.perf_counter() - started)

        await asyncio.gather(*(pinger(c, idle[i :: len(conns)]) for i, c in enumerate(conns)))
        alive.ended = time.monotonic()
        alive.check(ping_ids)
        for conn in [*clients, *conns]:
            await conn.close()
        report["rss_kib_end"] = rss_kib(proc.pid)
        report["phases"] = [load.summary(), alive.summary()]
        report["errors"] = load.errors[:20] + alive.errors[:20]
        report["error_count"] = len(load.errors) + len(alive.errors)
    finally:
        report["exit_code"] = await stop(proc)
    return report


# ---------------------------------------------------------------------------------------------
# stdio phase


async def stdio_phase(args: argparse.Namespace, plugin_dir: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *runner_command(),
        "serve",
        "--plugin",
        "loadtest_plugin:plugin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(plugin_dir, MCP_RUNNER_MAX_IN_FLIGHT=str(args.inflight + 16)),
        limit=16 * 1024 * 1024,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    _BACKGROUND.add(asyncio.ensure_future(_drain(proc.stderr)))
    report: dict[str, Any] = {"server_pid": proc.pid}
    tally = Tally(f"stdio {args.inflight} in flight")
    sent_at: dict[int, float] = {}
    expect: dict[int, int] = {}
    ids = itertools.count(1)
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "load", "version": "1"},
            },
        }
        proc.stdin.write(json.dumps(init).encode() + b"\n")
        await proc.stdin.drain()
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        if "result" not in first:
            raise RuntimeError(f"initialize failed: {first}")
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        report["rss_kib_start"] = rss_kib(proc.pid)
        peak = [0]

        def send_one() -> None:
            rid = next(ids)
            tag = rid * 7
            expect[rid] = tag
            sent_at[rid] = time.perf_counter()
            tally.sent += 1
            message = {
                "jsonrpc": "2.0",
                "id": rid,
                "method": "tools/call",
                "params": {"name": "nap", "arguments": {"ms": args.nap_ms, "tag": tag}},
            }
            proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")  # type: ignore[union-attr]

        stop_at = time.monotonic() + args.seconds
        tally.started = time.monotonic()
        for _ in range(args.inflight):
            send_one()
        await proc.stdin.drain()
        outstanding = args.inflight
        while outstanding:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not line:
                tally.error("the server closed stdout")
                break
            answer = json.loads(line)
            rid = answer.get("id")
            if not isinstance(rid, int) or rid not in sent_at:
                tally.error(f"unexpected message: {line[:200]!r}")
                continue
            outstanding -= 1
            tally.answer(rid, time.perf_counter() - sent_at[rid])
            result = answer.get("result")
            if (
                result is None
                or result.get("isError")
                or result.get("structuredContent", {}).get("result") != expect[rid]
            ):
                tally.error(f"{rid}: {line[:200]!r}")
            if time.monotonic() < stop_at and tally.sent < MAX_REQUESTS:
                send_one()
                outstanding += 1
                if outstanding % 64 == 0:
                    await proc.stdin.drain()
            peak[0] = max(peak[0], outstanding)
        tally.ended = time.monotonic()
        tally.check(set(sent_at))
        report["rss_kib_after_load"] = rss_kib(proc.pid)
        report["peak_in_flight"] = max(peak[0], args.inflight)
        proc.stdin.close()
        report["exit_code"] = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            report["exit_code"] = await stop(proc)
    report["phases"] = [tally.summary()]
    report["errors"] = tally.errors[:20]
    report["error_count"] = len(tally.errors)
    return report


# ---------------------------------------------------------------------------------------------


def show(title: str, report: dict[str, Any]) -> None:
    print(f"\n== {title} (server pid {report.get('server_pid')}, exit {report.get('exit_code')})")
    for key in (
        "rss_kib_start",
        "rss_kib_after_idle_sessions",
        "rss_kib_after_load",
        "rss_kib_end",
    ):
        if report.get(key) is not None:
            print(f"   {key:<30} {report[key] / 1024:8.1f} MiB")
    if "peak_in_flight" in report:
        print(f"   {'peak in flight':<30} {report['peak_in_flight']:8d}")
    for phase in report.get("phases", []):
        print(
            f"   {phase['phase']:<30} {phase['requests']:8d} requests, {phase['answered_once']} answered once, "
            f"{phase['errors']} errors, {phase['req_per_s']:9.1f} req/s, p50 {phase['p50_ms']:.2f} ms, "
            f"p99 {phase['p99_ms']:.2f} ms, max {phase['max_ms']:.2f} ms ({phase['seconds']} s)"
        )
    for err in report.get("errors", []):
        print(f"   ! {err}")


async def main_async(args: argparse.Namespace) -> int:
    reports: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory(prefix="mcp-load-") as plugin_dir:
        Path(plugin_dir, "loadtest_plugin.py").write_text(PLUGIN_SOURCE)
        if args.phase in ("both", "http"):
            reports["http"] = await http_phase(args, plugin_dir)
            show(
                f"HTTP: {args.clients} clients x {args.seconds} s + {args.idle} idle sessions",
                reports["http"],
            )
        if args.phase in ("both", "stdio"):
            reports["stdio"] = await stdio_phase(args, plugin_dir)
            show(
                f"stdio: {args.inflight} requests in flight for {args.seconds} s", reports["stdio"]
            )
    errors = sum(r.get("error_count", 0) for k, r in reports.items() if k != "settings")
    print(f"\n{'OK' if not errors else 'FAILED'}: {errors} errors")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2))
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="duration of each phase (default 60; --quick: 10)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=None,
        help="concurrent HTTP clients (default 200; --quick: 50)",
    )
    parser.add_argument(
        "--idle",
        type=int,
        default=None,
        help="idle legacy HTTP sessions (default 1000; --quick: 200)",
    )
    parser.add_argument(
        "--inflight",
        type=int,
        default=None,
        help="stdio requests kept in flight (default 1000; --quick: 200)",
    )
    parser.add_argument(
        "--nap-ms",
        type=int,
        default=20,
        help="how long each stdio request sleeps in the tool (default 20)",
    )
    parser.add_argument("--phase", choices=["both", "http", "stdio"], default="both")
    parser.add_argument("--quick", action="store_true", help="a short run with smaller numbers")
    parser.add_argument("--json", default=None, help="also write the report to this file")
    args = parser.parse_args()
    quick = {"seconds": 10.0, "clients": 50, "idle": 200, "inflight": 200}
    full = {"seconds": 60.0, "clients": 200, "idle": 1000, "inflight": 1000}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if (
        args.seconds <= 0
        or args.seconds > 3600
        or args.clients < 1
        or args.idle < 0
        or args.inflight < 1
    ):
        parser.error("out of bounds: 0 < seconds <= 3600, clients >= 1, idle >= 0, inflight >= 1")
    watchdog = args.seconds * 2 * 3 + 180  # both phases, generously: then give up

    async def bounded() -> int:
        try:
            return await asyncio.wait_for(main_async(args), watchdog)
        except TimeoutError:
            print(f"FAILED: the run overran its {watchdog:.0f} s watchdog", file=sys.stderr)
            return 2

    sys.exit(asyncio.run(bounded()))


if __name__ == "__main__":
    main()
