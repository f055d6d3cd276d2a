#!/usr/bin/env python3
"""HTTP throughput of ``mcp-runner serve --transport http --workers N`` for N = 1, 2, 4.

32 clients (``--clients``), each on its own keep-alive connection, call ``tools/call``
back to back for T seconds (``--seconds``) in the 2026-07-28 era: no session, so every worker
serves every client. The load runs on the same machine, so its cost counts against the
servers' share of the CPUs; two generators are run, side by side:

- ``loadgen``: `loadgen.py`'s (hand-written HTTP/1.1 on asyncio, one process; echo and add
  alternate, every answer is checked). It costs close to what a server spends per call, so on
  2 CPUs it caps what more workers can show.
- ``wrk`` (the Debian package ``wrk``, when installed; one thread): ``echo`` calls, answers
  counted by status only. It costs a fraction of that, so the servers get the CPUs.

The CPU time of the servers, of the generator and of every other process is reported, so a
loaded machine shows in the table; calls per server CPU second show what each call costs,
whatever share of the CPUs the servers got.

    python benchmarks/workers_bench.py                 # 1, 2 and 4 workers, 10 s, best of 3
    python benchmarks/workers_bench.py --quick         # 2 s per run, one round

Traffic goes only to 127.0.0.1; every run is bounded in time, and every server started is
stopped by its own handle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import (
    MODERN_META,
    BenchError,
    Meter,
    RunResult,
    http_load,
    stop_process,
)

BANNER = re.compile(rb'serving(?: |", "url": ")http://127\.0\.0\.1:(\d+)/mcp')
WARMUP_SECONDS = 1.0


def mcp_runner() -> list[str]:
    found = shutil.which("mcp-runner", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "mcp_runner"]


def start(workers: int, cwd: str) -> tuple[subprocess.Popen[bytes], int]:
    """A server with `workers` workers and the bench plugin; its port, read from its banner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["MCP_RUNNER_PLUGINS"] = "bench"
    proc = subprocess.Popen(
        [*mcp_runner(), "serve", "--transport", "http", "--port", "0", "--workers", str(workers)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        found = BANNER.search(line)
        if found:
            return proc, int(found.group(1))
    stop_process(proc)
    raise BenchError(f"mcp-runner --workers {workers} did not start")


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"
"""


def wrk_load(port: int, clients: int, seconds: float, pid: int, script: Path) -> RunResult:
    """`clients` connections of one wrk thread for `seconds`; non-2xx answers fail the run."""
    with Meter(pid) as meter:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{clients}",
                f"-d{seconds:g}s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/mcp",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    out = done.stdout
    if done.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise BenchError(f"wrk: {out[-800:]} {done.stderr[-400:]}")
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    result = meter.fill(RunResult(count=count))
    result.wall = seconds
    result.loadgen_cpu = 0.0  # a child process: counted by the machine total below
    for name in ("50%", "99%"):
        found = re.search(rf"{name}\s+([\d.]+)(us|ms|s)", out)
        if found:
            scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[found.group(2)]
            result.latencies.append(float(found.group(1)) * scale)
    return result


def measure(workers: int, clients: int, seconds: float, tool: str) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="mcp-runner-workers-bench-") as cwd:
        proc, port = start(workers, cwd)
        try:
            if tool == "wrk":
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "tools/call",
                        "params": {
                            "name": "echo",
                            "arguments": {"text": "hello"},
                            "_meta": MODERN_META,
                        },
                    }
                )
                script = Path(cwd) / "call.lua"
                script.write_text(WRK_SCRIPT % json.dumps(body))
                wrk_load(port, clients, WARMUP_SECONDS, proc.pid, script)
                return wrk_load(port, clients, seconds, proc.pid, script)
            asyncio.run(http_load(port, clients, "modern", 10**9, WARMUP_SECONDS, proc.pid))
            return asyncio.run(http_load(port, clients, "modern", 10**9, seconds, proc.pid))
        finally:
            stop_process(proc, grace=15)


def report(results: dict[tuple[str, int], RunResult], clients: int, seconds: float) -> str:
    lines = [
        f"HTTP, 2026-07-28 `tools/call`, {clients} keep-alive clients, {seconds:g} s per run, "
        f"{os.cpu_count()} CPUs, best of {ROUNDS} interleaved rounds, load average before the "
        f"runs {LOAD_BEFORE}",
        "",
        "| generator | workers | calls/s | vs 1 worker | p50 ms | p99 ms | server CPU s "
        "| calls per server CPU s | generator + other processes CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (tool, workers), r in results.items():
        base = results[(tool, min(w for t, w in results if t == tool))].rate
        p50, p99 = (
            (r.latencies[0], r.latencies[1])
            if tool == "wrk"
            else (r.percentile(0.5), r.percentile(0.99))
        )
        lines.append(
            f"| {tool} | {workers} | {r.rate:,.0f} | {r.rate / base:.2f}x | {p50 * 1e3:.2f} "
            f"| {p99 * 1e3:.2f} | {r.server_cpu:.1f} "
            f"| {r.count / r.server_cpu if r.server_cpu else 0:,.0f} "
            f"| {r.loadgen_cpu + r.other_cpu:.1f} |"
        )
    return "\n".join(lines)


LOAD_BEFORE = ""
ROUNDS = 1


def main() -> int:
    global LOAD_BEFORE, ROUNDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--generator", choices=("both", "loadgen", "wrk"), default="both")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--quick", action="store_true", help="2 s per run, one round")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    if args.quick:
        args.rounds = 1
    ROUNDS = args.rounds
    LOAD_BEFORE = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    tools = ["loadgen", *(["wrk"] if shutil.which("wrk") else [])]
    if args.generator != "both":
        tools = [args.generator]
    counts = [int(w) for w in args.workers.split(",")]
    results: dict[tuple[str, int], RunResult] = {}
    for _ in range(args.rounds):  # interleaved, so a busy moment does not favour one count
        for tool in tools:
            for workers in counts:
                run = measure(workers, args.clients, seconds, tool)
                best = results.get((tool, workers))
                if best is None or run.rate > best.rate:
                    results[(tool, workers)] = run
    print(report(results, args.clients, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
