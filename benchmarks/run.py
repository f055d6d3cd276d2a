#!/usr/bin/env python3
"""mcp-runner side by side with FastMCP 4.x, the official MCP SDK 2.x and a bare loop.

    python benchmarks/run.py [--quick] [--only cold,stdio,http,list,memory] [--servers ...]

Run it with the interpreter that has mcp-runner installed: that interpreter serves
mcp-runner and runs the load generator. The peers run from their own virtualenv,
benchmarks/.venv-peers, created on first use (see peers.py). The report (markdown) goes
to stdout and benchmarks/results/latest.md, the raw samples to results/latest.json.
All servers are driven by the same load generator (loadgen.py) in the same run, and each
measurement is repeated, the servers taking turns, and reported as median (min-max).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_plugins  # noqa: E402
import loadgen  # noqa: E402
import peers  # noqa: E402
from loadgen import BenchError, NotSupported  # noqa: E402

SERVERS_DIR = HERE / "servers"
RESULTS_DIR = HERE / "results"
GROUPS = ("cold", "stdio", "http", "list", "memory")
ALL_SERVERS = ("mcp-runner", "fastmcp", "sdk", "bare")
RUNNER = "mcp-runner"
DASH, TIMES = "\u2013", "\u00d7"  # en dash and multiplication sign, for the report
MiB = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    reps: int  # repeats of every throughput/latency measurement
    cold_reps: int  # cold starts per case (after one discarded warm-up start)
    warmup: int  # calls before measuring, per server
    stdio_seq: int  # sequential calls per repeat
    stdio_pipe: int  # calls per repeat with WINDOW in flight
    http_seq: int
    http_conc: int  # calls per repeat shared by the HTTP clients
    deadline: float  # seconds: no load loop runs longer (then it reports what it did)
    list_calls: int  # tools/list calls per repeat
    list_shape: tuple[int, int]  # generated plugins x tools each for the tools/list case
    cold_plugins: int  # generated plugins for the second cold-start case
    memory_calls: tuple[int, int]
    memory_deadline: float
    sessions: int
    sessions_deadline: float
    settle: float  # seconds to wait before reading RSS


FULL = Profile(
    reps=3,
    cold_reps=5,
    warmup=300,
    stdio_seq=5_000,
    stdio_pipe=20_000,
    http_seq=3_000,
    http_conc=20_000,
    deadline=5.0,
    list_calls=30,
    list_shape=(10, 100),
    cold_plugins=20,
    memory_calls=(10_000, 100_000),
    memory_deadline=300.0,
    sessions=1_000,
    sessions_deadline=120.0,
    settle=1.0,
)
QUICK = Profile(
    reps=1,
    cold_reps=1,
    warmup=20,
    stdio_seq=100,
    stdio_pipe=300,
    http_seq=100,
    http_conc=300,
    deadline=2.0,
    list_calls=2,
    list_shape=(10, 100),
    cold_plugins=20,
    memory_calls=(200, 1_000),
    memory_deadline=20.0,
    sessions=20,
    sessions_deadline=10.0,
    settle=0.1,
)
WINDOW = 64  # stdio requests in flight
CLIENTS = 32  # concurrent HTTP clients


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    key: str
    group: str
    label: str
    unit: str
    better: str  # "higher" | "lower" | ""
    scale: float = 1.0  # sample * scale = shown value


ROWS = [
    Row("import", "cold", "import time (mcp_runner / fastmcp / mcp.server)", "ms", "lower", 1e3),
    Row("import_modules", "cold", "modules loaded by that import", "", "lower"),
    Row("cold_1", "cold", "spawn → initialize response, 1 plugin (2 tools)", "ms", "lower", 1e3),
    Row(
        "cold_n",
        "cold",
        "spawn → initialize response, +{n} plugins ({t} tools)",
        "ms",
        "lower",
        1e3,
    ),
    Row("stdio_seq", "stdio", "sequential tools/call", "calls/s", "higher"),
    Row("stdio_seq_p50", "stdio", "sequential round trip p50", "ms", "lower", 1e3),
    Row("stdio_pipe", "stdio", f"{WINDOW} requests in flight", "calls/s", "higher"),
    Row("http_seq", "http", "sequential tools/call, 1 session", "calls/s", "higher"),
    Row("http_legacy", "http", f"{CLIENTS} clients, legacy sessions", "calls/s", "higher"),
    Row("http_legacy_p50", "http", f"{CLIENTS} clients, legacy: latency p50", "ms", "lower", 1e3),
    Row("http_legacy_p99", "http", f"{CLIENTS} clients, legacy: latency p99", "ms", "lower", 1e3),
    Row("http_modern", "http", f"{CLIENTS} clients, 2026-07-28 stateless", "calls/s", "higher"),
    Row(
        "http_modern_p50", "http", f"{CLIENTS} clients, 2026-07-28: latency p50", "ms", "lower", 1e3
    ),
    Row(
        "http_modern_p99", "http", f"{CLIENTS} clients, 2026-07-28: latency p99", "ms", "lower", 1e3
    ),
    Row("list_start", "list", "spawn → initialize response with {t} tools", "ms", "lower", 1e3),
    Row("list_p50", "list", "tools/list ({t} tools, all pages), median", "ms", "lower", 1e3),
    Row("list_max", "list", "tools/list ({t} tools, all pages), slowest", "ms", "lower", 1e3),
    Row("list_size", "list", "tools/list answer size (all pages)", "KiB", "lower", 1 / 1024),
    Row("rss_start", "memory", "RSS after start (stdio, initialized)", "MiB", "lower", 1 / MiB),
    Row("rss_calls_1", "memory", "RSS after {c1} calls", "MiB", "lower", 1 / MiB),
    Row("rss_calls_2", "memory", "RSS after {c2} calls", "MiB", "lower", 1 / MiB),
    Row("rss_http_start", "memory", "RSS, HTTP server after start", "MiB", "lower", 1 / MiB),
    Row("rss_session", "memory", "RSS per idle HTTP session ({s} open)", "KiB", "lower", 1 / 1024),
    Row(
        "rss_returned",
        "memory",
        "RSS returned after DELETE of all sessions",
        "MiB",
        "higher",
        1 / MiB,
    ),
    Row("rss_returned_pct", "memory", "share of the sessions' RSS returned", "%", "higher", 100),
    Row(
        "rss_reopen",
        "memory",
        "RSS growth per session, {s} opened again after DELETE",
        "KiB",
        "lower",
        1 / 1024,
    ),
]
GROUP_TITLES = {
    "cold": "Cold start (stdio, spawn → first initialize response; warm file cache)",
    "stdio": "stdio (newline-delimited JSON-RPC)",
    "http": "Streamable HTTP (127.0.0.1, one uvicorn worker, keep-alive connections)",
    "list": "tools/list with 1,000 tools over 10 plugins (stdio)",
    "memory": "Memory (RSS of the server process)",
}


@dataclass
class Results:
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    na: dict[str, dict[str, str]] = field(default_factory=dict)  # row -> server -> "n/a" or "error"
    notes: list[str] = field(default_factory=list)
    meters: list[dict] = field(default_factory=list)  # loadgen/server CPU per load run
    errors: int = 0

    def add(self, row: str, server: str, value: float) -> None:
        self.samples.setdefault(row, {}).setdefault(server, []).append(value)

    def fail(
        self, rows: list[str], server: str, exc: BaseException, logs: Path | None = None
    ) -> None:
        if isinstance(exc, NotSupported):
            for row in rows:
                self.na.setdefault(row, {})[server] = "n/a"
            self.notes.append(f"n/a: {server}, {', '.join(rows)}: {exc}")
            return
        self.errors += 1
        for row in rows:
            self.na.setdefault(row, {})[server] = "error"
        detail = f"{type(exc).__name__}: {exc}"
        if logs is not None and logs.exists():
            tail = logs.read_text(errors="replace").strip().splitlines()[-6:]
            if tail:
                detail += "\n    server stderr (" + str(logs) + "):\n      " + "\n      ".join(tail)
        self.notes.append(f"error: {server}, {', '.join(rows)}: {detail}")
        print(f"[bench] ERROR {server} {rows}: {detail}", file=sys.stderr, flush=True)

    def meter(self, scenario: str, server: str, r: loadgen.RunResult) -> None:
        self.meters.append(
            {
                "scenario": scenario,
                "server": server,
                "count": r.count,
                "wall": r.wall,
                "rate": r.rate,
                "loadgen_cpu": r.loadgen_cpu,
                "server_cpu": r.server_cpu,
                "other_cpu": r.other_cpu,
                "hit_deadline": r.hit_deadline,
            }
        )


# --------------------------------------------------------------------------- servers


@dataclass
class ToolSet:
    """Extra generated tools: mcp-runner plugins in a directory, the same tools for the others."""

    directory: Path
    refs: list[str]
    loading: str  # "entry-points" | "args"
    spec: str  # PREFIX:PLUGINSxPER_PLUGIN, for the peer and bare servers
    tools: int


@dataclass
class ServerDef:
    name: str
    python: str
    script: str | None = None  # peers and bare; None for mcp-runner
    http_script: str | None = None  # when HTTP is served by another script (bare)
    runner_cmd: list[str] | None = None
    stack: str = "default"
    extra_http: list[str] = field(default_factory=list)

    def env(self, tools: ToolSet | None) -> dict[str, str]:
        # Servers start as installed software does: with bytecode caching (tox sets
        # PYTHONDONTWRITEBYTECODE, which would make every cold start compile its plugins).
        drop = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        if self.runner_cmd is not None:
            # Only the benchmark's plugins, whatever else is installed beside mcp-runner.
            names = ["bench"]
            if tools is not None:
                env["PYTHONPATH"] = str(tools.directory)
                names += [ref.split(":")[0].removeprefix("mcp_runner_") for ref in tools.refs]
            env["MCP_RUNNER_PLUGINS"] = ",".join(names)
        return env

    def argv(
        self, transport: str, port: int | None = None, tools: ToolSet | None = None
    ) -> tuple[list[str], dict]:
        if self.runner_cmd is not None:
            argv = [*self.runner_cmd, "serve"]
            if transport == "http":
                argv += ["--transport", "http", "--port", str(port)]
            if tools is not None and tools.loading == "args":
                for ref in tools.refs:
                    argv += ["--plugin", ref]
            return argv, self.env(tools)
        script = self.http_script if transport == "http" and self.http_script else self.script
        assert script is not None
        argv = [
            self.python,
            str(SERVERS_DIR / script),
            "--transport",
            transport,
            "--stack",
            self.stack,
        ]
        if transport == "http":
            argv += ["--port", str(port), *self.extra_http]
        if tools is not None:
            argv += ["--tools", tools.spec]
        return argv, self.env(tools)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(
        self, args: argparse.Namespace, profile: Profile, servers: list[ServerDef], work: Path
    ) -> None:
        self.args = args
        self.p = profile
        self.servers = servers
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.r = Results()
        self._toolsets: dict[str, ToolSet] = {}

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def logfile(self, server: str, scenario: str) -> Path:
        return self.logs / f"{server}-{scenario}.log"

    def toolset(self, prefix: str, plugins: int, per_plugin: int, loading: str) -> ToolSet:
        key = f"{prefix}:{plugins}x{per_plugin}:{loading}"
        if key not in self._toolsets:
            directory = self.work / f"plugins-{prefix}-{loading}"
            refs = gen_plugins.write_plugins(directory, prefix, plugins, per_plugin, loading)
            self._toolsets[key] = ToolSet(
                directory, refs, loading, f"{prefix}:{plugins}x{per_plugin}", plugins * per_plugin
            )
        return self._toolsets[key]

    async def guarded(
        self, rows: list[str], server: ServerDef, scenario: str, fn: Callable[[], Awaitable[None]]
    ) -> bool:
        if any(self.r.na.get(row, {}).get(server.name) for row in rows):
            return False  # it already failed on an earlier repeat
        try:
            await fn()
            return True
        except (
            BenchError,
            TimeoutError,
            OSError,
            EOFError,
            ValueError,
            KeyError,
            AssertionError,
        ) as exc:
            self.r.fail(rows, server.name, exc, self.logfile(server.name, scenario))
            return False

    # ----------------------------------------------------------------------- cold

    async def cold(self) -> None:
        p, r = self.p, self.r
        self.log("cold start: import times")
        imports = {RUNNER: "mcp_runner", "fastmcp": "fastmcp", "sdk": "mcp.server"}
        for rep in range(p.cold_reps + 1):
            for s in self.servers:
                if s.name not in imports:
                    continue

                async def one(s: ServerDef = s, rep: int = rep) -> None:
                    seconds, modules = loadgen.import_time(s.python, imports[s.name], s.env(None))
                    if rep:  # the first round warms the bytecode and file caches
                        r.add("import", s.name, seconds)
                        r.add("import_modules", s.name, modules)

                await self.guarded(["import", "import_modules"], s, "import", one)
        cases = [("cold_1", None), ("cold_n", self.toolset("c", p.cold_plugins, 2, "entry-points"))]
        for row, tools in cases:
            self.log(f"cold start: {row}")
            for rep in range(p.cold_reps + 1):
                for s in self.servers:

                    async def one(
                        s: ServerDef = s,
                        rep: int = rep,
                        row: str = row,
                        tools: ToolSet | None = tools,
                    ) -> None:
                        argv, env = s.argv("stdio", tools=tools)
                        seconds = loadgen.cold_start(
                            argv, env, SERVERS_DIR, self.logfile(s.name, row)
                        )
                        if rep:
                            r.add(row, s.name, seconds)

                    await self.guarded([row], s, row, one)
            if tools is not None:  # once: the extra plugins really load (their tools are listed)
                for s in self.servers:

                    async def verify(
                        s: ServerDef = s, tools: ToolSet = tools, row: str = row
                    ) -> None:
                        srv = await self.start_stdio(s, row, tools)
                        try:
                            await self.check_tools(srv, s, tools.tools + 2)
                        finally:
                            await srv.close()

                    await self.guarded([row], s, row, verify)

    # ----------------------------------------------------------------------- stdio

    async def start_stdio(
        self, s: ServerDef, scenario: str, tools: ToolSet | None = None
    ) -> loadgen.StdioServer:
        argv, env = s.argv("stdio", tools=tools)
        srv = await loadgen.StdioServer.start(
            argv, env, SERVERS_DIR, self.logfile(s.name, scenario)
        )
        try:
            await srv.initialize()
        except BaseException:
            await srv.close()
            raise
        return srv

    @staticmethod
    async def list_all(srv: loadgen.StdioServer) -> dict:
        """Every page of tools/list, following nextCursor: seconds, bytes, pages, names."""
        cursor: str | None = None
        out = {"seconds": 0.0, "size": 0, "pages": 0, "names": []}
        while True:
            msg, size, seconds = await srv.rpc_raw(
                lambda i, c=cursor: loadgen.tools_list_body(i, cursor=c)
            )
            result = msg.get("result")
            if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
                raise BenchError(f"tools/list failed: {str(msg)[:300]}")
            out["seconds"] += seconds
            out["size"] += size
            out["pages"] += 1
            out["names"] += [t.get("name") for t in result["tools"]]
            cursor = result.get("nextCursor")
            if not cursor:
                return out
            if out["pages"] >= 100:
                raise BenchError("tools/list pagination did not end within 100 pages")

    async def check_tools(self, srv: loadgen.StdioServer, s: ServerDef, expect: int) -> dict:
        info = await self.list_all(srv)
        names = info["names"]
        if not {"echo", "add"} <= set(names):
            raise BenchError(
                f"echo/add missing from tools/list ({len(names)} tools: {sorted(names)[:10]})"
            )
        if len(names) < expect:
            raise BenchError(
                f"tools/list has {len(names)} tools, expected {expect}: some plugins did not load"
            )
        if len(names) > expect:
            self.r.notes.append(f"{s.name}: tools/list has {len(names)} tools, expected {expect}")
        if info["pages"] > 1:
            note = (
                f"{s.name}: tools/list of {len(names):,} tools comes in {info['pages']} pages; "
                "timed and sized over all of them"
            )
            if note not in self.r.notes:
                self.r.notes.append(note)
        return info

    async def stdio(self) -> None:
        p, r = self.p, self.r
        self.log("stdio: starting servers")
        running: dict[str, loadgen.StdioServer] = {}
        try:
            for s in self.servers:

                async def start(s: ServerDef = s) -> None:
                    srv = await self.start_stdio(s, "stdio")
                    running[s.name] = srv
                    await self.check_tools(srv, s, 2)
                    await srv.sequential(p.warmup, p.deadline, record=False)
                    await srv.pipelined(p.warmup, WINDOW, p.deadline)

                await self.guarded(["stdio_seq", "stdio_seq_p50", "stdio_pipe"], s, "stdio", start)
            for rep in range(p.reps):
                self.log(f"stdio: sequential, repeat {rep + 1}/{p.reps}")
                for s in self.servers:
                    if s.name not in running:
                        continue

                    async def seq(s: ServerDef = s) -> None:
                        res = await running[s.name].sequential(p.stdio_seq, p.deadline)
                        r.add("stdio_seq", s.name, res.rate)
                        r.add("stdio_seq_p50", s.name, res.percentile(0.5))
                        r.meter("stdio_seq", s.name, res)

                    await self.guarded(["stdio_seq", "stdio_seq_p50"], s, "stdio", seq)
            for rep in range(p.reps):
                self.log(f"stdio: {WINDOW} in flight, repeat {rep + 1}/{p.reps}")
                for s in self.servers:
                    if s.name not in running:
                        continue

                    async def pipe(s: ServerDef = s) -> None:
                        res = await running[s.name].pipelined(p.stdio_pipe, WINDOW, p.deadline)
                        r.add("stdio_pipe", s.name, res.rate)
                        r.meter("stdio_pipe", s.name, res)

                    await self.guarded(["stdio_pipe"], s, "stdio", pipe)
        finally:
            for srv in running.values():
                await srv.close()

    # ----------------------------------------------------------------------- http

    async def start_http(
        self, s: ServerDef, scenario: str
    ) -> tuple[asyncio.subprocess.Process, int]:
        port = free_port()
        argv, env = s.argv("http", port=port)
        with open(self.logfile(s.name, scenario), "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=env,
                cwd=SERVERS_DIR,
            )
        loadgen.pin_server(proc.pid)
        try:
            await loadgen.wait_http_ready(port, proc)
        except BaseException:
            await loadgen.astop_process(proc)
            raise
        return proc, port

    async def http(self) -> None:
        p, r = self.p, self.r
        self.log("http: starting servers")
        targets = list(self.servers)
        raw = next((s for s in self.servers if s.name == "bare"), None)
        if raw is not None:  # the raw asyncio server: the load generator's own ceiling
            targets.append(
                ServerDef(
                    "bare-raw",
                    raw.python,
                    "bare_http.py",
                    stack=raw.stack,
                    extra_http=["--impl", "asyncio"],
                )
            )
        running: dict[
            str, tuple[asyncio.subprocess.Process, int, loadgen.HttpConn, loadgen.Session]
        ] = {}
        all_rows = [
            "http_seq",
            "http_legacy",
            "http_legacy_p50",
            "http_legacy_p99",
            "http_modern",
            "http_modern_p50",
            "http_modern_p99",
        ]
        try:
            for s in targets:

                async def start(s: ServerDef = s) -> None:
                    proc, port = await self.start_http(s, "http")
                    conn = await loadgen.HttpConn(port).connect()
                    session = await loadgen.open_session(conn)
                    running[s.name] = (proc, port, conn, session)
                    reqs = loadgen.Requests()
                    for i in range(p.warmup):
                        await loadgen.http_call(conn, session, reqs, i)

                await self.guarded(all_rows, s, "http", start)

            for rep in range(p.reps):
                self.log(f"http: sequential, repeat {rep + 1}/{p.reps}")
                for s in targets:
                    if s.name not in running:
                        continue

                    async def seq(s: ServerDef = s) -> None:
                        proc, _, conn, session = running[s.name]
                        reqs = loadgen.Requests()
                        res = loadgen.RunResult()
                        end = time.perf_counter() + p.deadline
                        with loadgen.Meter(proc.pid) as meter:
                            for i in range(p.http_seq):
                                if time.perf_counter() > end:
                                    res.hit_deadline = True
                                    break
                                await loadgen.http_call(conn, session, reqs, i)
                                res.count += 1
                        meter.fill(res)
                        r.add("http_seq", s.name, res.rate)
                        r.meter("http_seq", s.name, res)

                    await self.guarded(["http_seq"], s, "http", seq)

            for era in ("legacy", "modern"):
                rows = [f"http_{era}", f"http_{era}_p50", f"http_{era}_p99"]
                for rep in range(p.reps):
                    self.log(f"http: {CLIENTS} clients, {era}, repeat {rep + 1}/{p.reps}")
                    for s in targets:
                        if s.name not in running:
                            continue

                        async def load(
                            s: ServerDef = s, era: str = era, rows: list[str] = rows
                        ) -> None:
                            proc, port, _, _ = running[s.name]
                            res = await loadgen.http_load(
                                port, CLIENTS, era, p.http_conc, p.deadline, proc.pid
                            )
                            r.add(rows[0], s.name, res.rate)
                            r.add(rows[1], s.name, res.percentile(0.5))
                            r.add(rows[2], s.name, res.percentile(0.99))
                            r.meter(f"http_{era}", s.name, res)

                        await self.guarded(rows, s, "http", load)
        finally:
            for proc, _, conn, _ in running.values():
                conn.close()
                await loadgen.astop_process(proc)

    # ----------------------------------------------------------------------- tools/list

    async def tools_list(self) -> None:
        p, r = self.p, self.r
        plugins, per = self.p.list_shape
        rows = ["list_start", "list_p50", "list_max", "list_size"]
        running: dict[str, loadgen.StdioServer] = {}
        maxima: dict[str, float] = {}
        try:
            for s in self.servers:
                # mcp-runner loads these by --plugin mod:attr (or entry points); the others
                # register the same tools.
                tools = self.toolset("t", plugins, per, self.args.runner_plugin_loading)
                self.log(f"tools/list: starting {s.name} with {tools.tools + 2} tools")

                async def start(s: ServerDef = s, tools: ToolSet = tools) -> None:
                    t0 = time.perf_counter()
                    srv = await self.start_stdio(s, "list", tools)
                    r.add("list_start", s.name, time.perf_counter() - t0)
                    running[s.name] = srv
                    info = await self.check_tools(srv, s, tools.tools + 2)
                    r.add("list_size", s.name, info["size"])
                    await self.list_all(srv)

                await self.guarded(rows, s, "list", start)
            for rep in range(p.reps):
                self.log(f"tools/list: repeat {rep + 1}/{p.reps}")
                for s in self.servers:
                    if s.name not in running:
                        continue

                    async def calls(s: ServerDef = s) -> None:
                        lat = []
                        end = time.perf_counter() + max(p.deadline, 10.0)
                        for _ in range(p.list_calls):
                            if time.perf_counter() > end:
                                break
                            lat.append((await self.list_all(running[s.name]))["seconds"])
                        r.add("list_p50", s.name, statistics.median(lat))
                        maxima[s.name] = max(maxima.get(s.name, 0.0), max(lat))

                    await self.guarded(["list_p50", "list_max"], s, "list", calls)
            for name, worst in maxima.items():
                r.add("list_max", name, worst)
        finally:
            for srv in running.values():
                await srv.close()

    # ----------------------------------------------------------------------- memory

    async def memory(self) -> None:
        p, r = self.p, self.r
        c1, c2 = p.memory_calls
        for s in self.servers:
            self.log(f"memory: {s.name}, stdio, {c1:,} then {c2:,} calls")

            async def calls(s: ServerDef = s) -> None:
                srv = await self.start_stdio(s, "memory")
                try:
                    await asyncio.sleep(p.settle)
                    r.add("rss_start", s.name, loadgen.rss_bytes(srv.pid))
                    done = 0
                    end = time.perf_counter() + p.memory_deadline
                    for row, target in (("rss_calls_1", c1), ("rss_calls_2", c2)):
                        left = max(1.0, end - time.perf_counter())
                        res = await srv.pipelined(target - done, WINDOW, left)
                        done += res.count
                        if done < target:
                            r.notes.append(
                                f"{s.name}: memory run stopped at {done:,} calls "
                                f"(time limit), not {target:,}"
                            )
                        await asyncio.sleep(p.settle)
                        r.add(row, s.name, loadgen.rss_bytes(srv.pid))
                finally:
                    await srv.close()

            await self.guarded(["rss_start", "rss_calls_1", "rss_calls_2"], s, "memory", calls)

            self.log(f"memory: {s.name}, {p.sessions:,} idle HTTP sessions")

            async def sessions(s: ServerDef = s) -> None:
                proc, port = await self.start_http(s, "sessions")
                try:
                    conn = await loadgen.HttpConn(port).connect()
                    warm = await loadgen.open_session(conn)
                    reqs = loadgen.Requests()
                    for i in range(p.warmup):
                        await loadgen.http_call(conn, warm, reqs, i)
                    await loadgen.delete_session(conn, warm)
                    conn.close()
                    await asyncio.sleep(p.settle)
                    before = loadgen.rss_bytes(proc.pid)
                    r.add("rss_http_start", s.name, before)
                    opened = await loadgen.open_sessions(port, p.sessions, p.sessions_deadline)
                    await asyncio.sleep(p.settle)
                    peak = loadgen.rss_bytes(proc.pid)
                    if len(opened) < p.sessions:
                        r.notes.append(
                            f"{s.name}: only {len(opened):,} sessions opened in the time limit"
                        )
                    r.add("rss_session", s.name, (peak - before) / max(1, len(opened)))
                    statuses = await loadgen.delete_sessions(port, opened, p.sessions_deadline)
                    if set(statuses) - {200, 202, 204}:
                        r.notes.append(f"{s.name}: DELETE answered {statuses}")
                    await asyncio.sleep(p.settle)
                    after = loadgen.rss_bytes(proc.pid)
                    r.add("rss_returned", s.name, peak - after)
                    if peak > before:
                        r.add("rss_returned_pct", s.name, (peak - after) / (peak - before))
                    # Freed but kept by the allocator, or leaked? Reused memory does not grow again.
                    again = await loadgen.open_sessions(port, p.sessions, p.sessions_deadline)
                    await asyncio.sleep(p.settle)
                    r.add(
                        "rss_reopen",
                        s.name,
                        (loadgen.rss_bytes(proc.pid) - after) / max(1, len(again)),
                    )
                    await loadgen.delete_sessions(port, again, p.sessions_deadline)
                finally:
                    await loadgen.astop_process(proc)

            await self.guarded(
                ["rss_http_start", "rss_session", "rss_returned", "rss_returned_pct", "rss_reopen"],
                s,
                "sessions",
                sessions,
            )


# --------------------------------------------------------------------------- report


def fmt(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "—"
    if abs(value) < 0.005:
        value = 0.0
    if unit == "calls/s":
        return f"{value:,.0f}"
    if unit == "":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_clean(value: float, unit: str) -> str:
    text = fmt(value, unit)
    return text[1:] if text.startswith("-") and text.strip("-0.") == "" else text  # no "-0"


def cell(samples: list[float] | None, row: Row) -> str:
    if not samples:
        return "—"
    shown = [v * row.scale for v in samples]
    med = fmt_clean(statistics.median(shown), row.unit)
    if len(shown) == 1:
        return med
    low, high = fmt_clean(min(shown), row.unit), fmt_clean(max(shown), row.unit)
    return f"{med} ({low}{DASH}{high})"


def ratio(a: list[float] | None, b: list[float] | None) -> str:
    if not a or not b:
        return "—"
    ma, mb = statistics.median(a), statistics.median(b)
    if ma <= 0 or mb <= 0:  # a ratio of nothing (or of a negative) says nothing
        return "—"
    return f"{ma / mb:.2f}{TIMES}"


def render(bench: Bench, env_lines: list[str], groups: list[str], elapsed: float) -> str:
    r = bench.r
    names = [s.name for s in bench.servers]
    base = RUNNER if RUNNER in names else None
    others = [n for n in names if n != base]
    # With mcp-runner: mcp-runner/peer and mcp-runner/bare. Without it: each peer / bare.
    if base:
        ratio_cols = [(base, o) for o in others]
    else:
        ratio_cols = [(n, "bare") for n in others if n != "bare"] if "bare" in names else []
    p = bench.p
    subst = {
        "n": p.cold_plugins,
        "t": f"{p.list_shape[0] * p.list_shape[1] + 2:,}",
        "c1": f"{p.memory_calls[0]:,}",
        "c2": f"{p.memory_calls[1]:,}",
        "s": f"{p.sessions:,}",
    }
    out = [
        f"# mcp-runner benchmarks ({'quick' if p is QUICK else 'full'} run, "
        f"{dt.datetime.now():%Y-%m-%d %H:%M})",
        "",
    ]
    if busy(bench):
        out += [f"**{BUSY_WARNING}** (see Load generator below).", ""]
    out += [f"- {line}" for line in env_lines]
    out += [
        f"- each value: median (min{DASH}max) of {p.reps} repeats ({p.cold_reps} for cold starts), "
        "the servers taking turns; "
        f"ratios are of medians, {' and '.join(f'{a}/{b}' for a, b in ratio_cols) or 'none'}",
        f"- total run time {elapsed:.0f} s",
        "",
    ]
    for group in groups:
        out += [f"## {GROUP_TITLES[group]}", ""]
        head = ["metric", "unit", *names, *(f"{a}/{b}" for a, b in ratio_cols)]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for row in ROWS:
            if row.group != group:
                continue
            if row.key == "cold_n":
                label = (
                    row.label.format(n=p.cold_plugins, t=2 * p.cold_plugins + 2)
                    + "; the others: the same tools"
                )
            else:
                label = row.label.format(**subst)
            data = r.samples.get(row.key, {})
            marks = r.na.get(row.key, {})
            cells = [marks.get(n) or cell(data.get(n), row) for n in names]
            ratios = [
                ratio(data.get(a), data.get(b)) if not (marks.get(a) or marks.get(b)) else "—"
                for a, b in ratio_cols
            ]
            arrow = {"higher": " ↑", "lower": " ↓"}.get(row.better, "")
            out.append("| " + " | ".join([label + arrow, row.unit, *cells, *ratios]) + " |")
        out.append("")
    if "http" in groups or "stdio" in groups:
        out += ["## Load generator", ""]
        out += loadgen_lines(bench)
        out.append("")
    if r.notes:
        out += ["## Notes", ""]
        out += [f"- {n}" for n in r.notes]
        out.append("")
    out.append("↑ higher is better, ↓ lower is better. n/a: the server does not support it.")
    return "\n".join(out) + "\n"


def loadgen_lines(bench: Bench) -> list[str]:
    lines = []
    by: dict[tuple[str, str], list[dict]] = {}
    for m in bench.r.meters:
        by.setdefault((m["scenario"], m["server"]), []).append(m)

    def best(scenario: str, server: str) -> dict | None:
        runs = by.get((scenario, server))
        return max(runs, key=lambda m: m["rate"]) if runs else None

    for scenario, what in (
        ("stdio_pipe", f"stdio, {WINDOW} in flight"),
        ("http_legacy", f"HTTP, {CLIENTS} clients"),
    ):
        for server in ("bare-raw", "bare"):
            m = best(scenario, server)
            if m and m["loadgen_cpu"]:
                lines.append(
                    f"- ceiling, {what}: {m['rate']:,.0f} calls/s against {server} "
                    f"with the generator at {m['loadgen_cpu'] / m['wall']:.0%} of a core; "
                    "its own cost is "
                    f"{m['loadgen_cpu'] / max(1, m['count']) * 1e6:.0f} µs per call, "
                    f"i.e. ≈{m['count'] / m['loadgen_cpu']:,.0f} calls/s alone"
                )
                break
    worst = {}
    for m in bench.r.meters:
        if m["server"] in ("bare", "bare-raw") or not m["wall"]:
            continue
        frac = m["loadgen_cpu"] / m["wall"]
        key = m["server"]
        worst[key] = max(worst.get(key, 0.0), frac)
    if worst:
        lines.append(
            "- generator CPU while driving the frameworks (max over runs): "
            + ", ".join(f"{k} {v:.0%}" for k, v in worst.items())
            + " of one core; below ~70% it was not the bottleneck"
        )
    srv = {}
    for m in bench.r.meters:
        if m["wall"] and m["scenario"] in ("stdio_pipe", "http_legacy", "http_modern"):
            srv.setdefault(m["server"], []).append(m["server_cpu"] / m["wall"])
    if srv:
        lines.append(
            f"- server CPU under concurrent load ({WINDOW} in flight / {CLIENTS} clients; "
            "median over runs, one core = 100%): "
            + ", ".join(f"{k} {statistics.median(v):.0%}" for k, v in srv.items())
        )
    others = other_cpu_shares(bench)
    if others:
        lines.append(
            f"- other processes on the machine during the load runs: median "
            f"{statistics.median(others):.0%}, max {max(others):.0%} of a core"
            + (f" -- {BUSY_WARNING}" if busy(bench) else "")
        )
    return lines


def other_cpu_shares(bench: Bench) -> list[float]:
    """Other processes' CPU share per load run (runs under 0.5 s are too coarse for /proc)."""
    runs = [m for m in bench.r.meters if m["wall"] >= 0.5] or [
        m for m in bench.r.meters if m["wall"]
    ]
    return [m["other_cpu"] / m["wall"] for m in runs]


BUSY_WARNING = "WARNING: the machine was busy with other work; the numbers are low and noisy"


def busy(bench: Bench) -> bool:
    """Did other processes take more than 15% of a core, on median, during the load runs?"""
    others = other_cpu_shares(bench)
    return bool(others) and statistics.median(others) > 0.15


# --------------------------------------------------------------------------- setup


def runner_command() -> list[str] | None:
    script = Path(sys.executable).parent / "mcp-runner"
    if script.exists():
        return [str(script)]
    found = shutil.which("mcp-runner")
    return [found] if found else None


def runner_ready() -> tuple[bool, str]:
    out = subprocess.run(
        [sys.executable, "-c", "import mcp_runner"], capture_output=True, text=True
    )
    if out.returncode != 0:
        return False, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "import failed"
    if runner_command() is None:
        return False, "no mcp-runner console script beside the interpreter or on PATH"
    return True, ""


def ensure_bench_plugin() -> None:
    """Install benchmarks/plugins (entry point mcp_runner:bench) here if it is missing."""
    code = (
        "import importlib.metadata as m\n"
        "print(' '.join(e.name for e in m.entry_points(group='mcp_runner')))"
    )
    names = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    ).stdout.split()
    if "bench" in names:
        return
    print(
        "[bench] installing the benchmark plugin (benchmarks/plugins) into this interpreter",
        file=sys.stderr,
    )
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
    with (
        tempfile.TemporaryDirectory() as build
    ):  # build from a copy: no build/ or egg-info in the tree
        src = Path(build) / "plugins"
        shutil.copytree(
            HERE / "plugins",
            src,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
        if subprocess.run([*cmd, str(src)]).returncode != 0:  # isolated build first, then without
            subprocess.run([*cmd, "--no-build-isolation", str(src)], check=True)


def module_flags(python: str) -> str:
    code = (
        "import importlib.util as u, sys\n"
        "flags = [f'{m}=' + ('yes' if u.find_spec(m) else 'no') for m in ('uvloop', 'httptools')]\n"
        "print(' '.join(flags))"
    )
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def python_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def distribution_version(python: str, dist: str) -> str:
    code = (
        f"import importlib.metadata as m\n"
        f"try: print(m.version({dist!r}))\n"
        f"except Exception: print('-')"
    )
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke mode: tiny counts, one repeat, seconds"
    )
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma list of groups: {','.join(GROUPS)}"
    )
    parser.add_argument(
        "--servers", default=",".join(ALL_SERVERS), help=f"comma list: {','.join(ALL_SERVERS)}"
    )
    parser.add_argument("--reps", type=int, help="override the number of repeats")
    parser.add_argument(
        "--peers-venv", type=Path, default=peers.VENV, help="virtualenv for fastmcp + mcp"
    )
    parser.add_argument(
        "--stack",
        choices=["auto", "default", "fast"],
        default="auto",
        help="event loop + HTTP parser for peers and bare: default = asyncio + h11, "
        "fast = uvloop + httptools; auto = fast when mcp-runner's interpreter has both "
        "(so all servers share one stack)",
    )
    parser.add_argument(
        "--peers-sse",
        action="store_true",
        help="run the peers' HTTP in their default mode (POSTs answered as SSE streams) "
        "instead of plain JSON responses",
    )
    parser.add_argument(
        "--runner-plugin-loading",
        choices=["args", "entry-points"],
        default="args",
        help="how mcp-runner gets the 10 generated plugins of the tools/list case: "
        "--plugin mod:attr arguments, or entry points of distributions on PYTHONPATH "
        "(the 20-plugin cold start always uses entry points)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the load generator to CPU 0 and every server to CPU 1 "
        "(default: the OS schedules; "
        "see README: pinning changes stdio round trips a lot, in both directions)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.md")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' stderr logs")
    args = parser.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad = [g for g in args.only if g not in GROUPS] + [
        s for s in args.servers if s not in ALL_SERVERS
    ]
    if bad:
        parser.error(f"unknown: {', '.join(bad)}")
    return args


async def amain(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    profile = QUICK if args.quick else FULL
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            print("[bench] --pin needs two CPUs", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, {cpus[0]})
        loadgen.SERVER_CPUS = {cpus[1]}
    if args.reps:
        profile = Profile(**{**profile.__dict__, "reps": args.reps, "cold_reps": max(args.reps, 1)})

    if RUNNER in args.servers:
        ok, why = runner_ready()
        if not ok:
            print(
                f"[bench] mcp-runner is not usable from {sys.executable}: {why}\n"
                "        install it (pip install -e .) or leave it out: --servers fastmcp,sdk,bare",
                file=sys.stderr,
            )
            return 2
        ensure_bench_plugin()

    stack = args.stack
    if stack == "auto":
        stack = "fast" if peers.has_modules(sys.executable, peers.FAST_EXTRAS) else "default"

    peers_python = None
    if {"fastmcp", "sdk"} & set(args.servers) or not peers.has_modules(sys.executable, ["uvicorn"]):
        try:
            peers_python = str(peers.ensure_peers(args.peers_venv, fast=stack == "fast"))
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"[bench] could not set up the peers: {exc}", file=sys.stderr)
            return 2
    needs = ["uvicorn"] + (peers.FAST_EXTRAS if stack == "fast" else [])
    bare_python = sys.executable if peers.has_modules(sys.executable, needs) else peers_python
    assert bare_python is not None

    servers = []
    for name in ALL_SERVERS:
        if name not in args.servers:
            continue
        if name == RUNNER:
            servers.append(ServerDef(RUNNER, sys.executable, runner_cmd=runner_command()))
        elif name == "bare":
            servers.append(
                ServerDef("bare", bare_python, "bare_stdio.py", "bare_http.py", stack=stack)
            )
        else:
            extra = ["--sse"] if args.peers_sse else []
            assert peers_python is not None
            servers.append(
                ServerDef(name, peers_python, f"{name}_server.py", stack=stack, extra_http=extra)
            )
    env_lines = [
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}",
        f"mcp-runner interpreter: {sys.executable} (Python {platform.python_version()}; "
        f"mcp-runner {distribution_version(sys.executable, 'mcp-runner')}; "
        f"{module_flags(sys.executable)})",
    ]
    if peers_python:
        env_lines.append(
            f"peers: fastmcp {distribution_version(peers_python, 'fastmcp')}, "
            f"mcp {distribution_version(peers_python, 'mcp')} "
            f"(Python {python_version(peers_python)}, {peers_python}); HTTP answers: "
            + (
                "SSE streams (their default)"
                if args.peers_sse
                else "plain JSON (json_response=True, their fastest)"
            )
        )
    env_lines.append(
        f"stack for peers and bare: {'uvloop + httptools' if stack == 'fast' else 'asyncio + h11'} "
        f"(mcp-runner chooses its own); bare runs on {bare_python}"
    )
    env_lines.append(
        "CPU placement: "
        + ("generator pinned to one CPU, servers to another" if args.pin else "left to the OS")
    )
    env_lines.append(
        "bare: stdio = blocking read/answer/write loop; HTTP = raw ASGI callable on uvicorn "
        "(bare-raw, used for the generator's ceiling = hand-written asyncio HTTP/1.1, no uvicorn)"
    )

    b0 = loadgen.machine_busy_seconds()
    await asyncio.sleep(1.0)
    env_lines.append(
        f"CPU used by other processes just before the run: "
        f"{loadgen.machine_busy_seconds() - b0:.0%} of a core (load average "
        f"{Path('/proc/loadavg').read_text().split()[0]})"
    )
    if args.quick:
        env_lines.insert(0, "QUICK run: tiny counts for a smoke test; the numbers mean little")
    work = Path(tempfile.mkdtemp(prefix="mcp-runner-bench-"))
    bench = Bench(args, profile, servers, work)
    groups = [g for g in GROUPS if g in args.only]
    try:
        for group in groups:
            runner = {
                "cold": bench.cold,
                "stdio": bench.stdio,
                "http": bench.http,
                "list": bench.tools_list,
                "memory": bench.memory,
            }[group]
            try:
                await runner()
            except Exception as exc:  # a bug here must not lose the other groups' numbers
                bench.r.errors += 1
                bench.r.notes.append(f"error: group {group} aborted: {exc!r}")
                traceback.print_exc()
    finally:
        report = render(bench, env_lines, groups, time.perf_counter() - started)
        sys.stdout.write(report)
        sys.stdout.flush()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        raw = {
            "samples": bench.r.samples,
            "na": bench.r.na,
            "notes": bench.r.notes,
            "meters": bench.r.meters,
            "profile": profile.__dict__,
            "environment": env_lines,
        }
        args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
        if args.keep_logs:
            print(f"[bench] server logs kept in {work / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if bench.r.errors else 0


def main() -> None:
    sys.exit(asyncio.run(amain(parse_args())))


if __name__ == "__main__":
    main()
