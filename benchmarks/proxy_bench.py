"""What the proxy adds to a tool call: sequential round trips, direct and proxied.

    direct:   driver --stdio--> backend
    proxied:  driver --stdio--> mcp-runner (proxy) --stdio--> the same backend command

Backends (`--backends`): `mcp-runner` (the `bench` plugin of benchmarks/plugins: the fastest
server here, so the hardest case), and, from the peers' virtualenv (benchmarks/peers.py),
`sdk` (the official SDK's MCPServer) and `fastmcp` (FastMCP 4.x): the same `echo` tool in
each. The driver is a minimal JSON-lines client over the pipes (no client library), one
request at a time, so each sample is one full round trip; direct and proxied calls alternate,
so drift hits both alike. Each backend is measured in `--rounds` rounds; the verdict is the
median over rounds of (proxied p50 - direct p50) / direct p50. The target: the proxy adds no
more than the direct call's own latency (ratio <= 1), judged on the first placement measured
(`--placement`: one-core, all processes on one CPU; split, the driver on one CPU and the
servers on another; os, as the scheduler puts them; all three by default).

For scale, it also measures a bare process round trip: the driver and a child that echoes
each line back (no JSON-RPC, no MCP). A proxied call has two such hops more than a direct one.

    python benchmarks/proxy_bench.py                         # mcp-runner backend, legacy driver
    python benchmarks/proxy_bench.py --backends all          # + the SDK and FastMCP as backends
    python benchmarks/proxy_bench.py --era modern --backend-era modern --rounds 3

Exit status 0 when the target is met for every backend, 1 when not, 2 when a server failed
(`--quick`: a smoke run without the threshold).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"
SERVERS = HERE / "servers"
BACKENDS = ("mcp-runner", "sdk", "fastmcp")
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
ECHO_LINES = (
    "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n"
)


def plugin_args() -> list[str]:
    """`--plugin mcp_runner_bench`, unless the bench plugin is installed (found by entry point)."""
    from importlib import metadata

    if any(ep.name == "bench" for ep in metadata.entry_points(group="mcp_runner")):
        return []
    return ["--plugin", "mcp_runner_bench"]


def runner_command() -> str:
    script = Path(sys.executable).with_name("mcp-runner")
    return str(script) if script.exists() else shutil.which("mcp-runner") or "mcp-runner"


class Driver:
    """One server subprocess over stdio; `request()` is one request and its answer."""

    def __init__(self, proc: asyncio.subprocess.Process, era: str) -> None:
        self.proc = proc
        self.era = era
        self.ids = 0

    @classmethod
    async def start(
        cls, args: list[str], env: dict[str, str], cwd: Path, era: str | None
    ) -> Driver:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            limit=64 * 1024 * 1024,
        )
        driver = cls(proc, era or "none")
        if era == "legacy":
            await driver.request(
                "initialize",
                {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "proxy-bench", "version": "0"},
                },
            )
            await driver.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return driver

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        if self.era == "modern":
            params = {**params, "_meta": MODERN_META}
        await self.send({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server closed its stdout")
            message = json.loads(line)
            if message.get("id") == self.ids:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]

    async def tools(self) -> set[str]:
        return {t["name"] for t in (await self.request("tools/list", {}))["tools"]}

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def _cpu_ns(pid: int | None) -> float:
    """CPU time a process has used, in ns (Linux /proc/<pid>/schedstat); -1 elsewhere."""
    try:
        return float(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError, TypeError):
        return -1e18


def _child_pid(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def process_round_trip(calls: int, settle: Callable[[], None]) -> float:
    """p50 of a bare line echo through a child process, in microseconds."""
    driver = await Driver.start(
        [sys.executable, "-c", ECHO_LINES], dict(os.environ), Path.cwd(), None
    )
    settle()
    assert driver.proc.stdin is not None and driver.proc.stdout is not None
    line = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}\n'
    samples = []
    for i in range(calls + 200):
        started = time.perf_counter()
        driver.proc.stdin.write(line)
        await driver.proc.stdin.drain()
        json.loads(await driver.proc.stdout.readline())
        if i >= 200:
            samples.append((time.perf_counter() - started) * 1e6)
    await driver.close()
    return p50(samples)


def backend_command(name: str, peers_python: Path | None) -> list[str]:
    if name == "mcp-runner":
        return [runner_command(), "serve", *plugin_args()]
    assert peers_python is not None
    script = {"sdk": "sdk_server.py", "fastmcp": "fastmcp_server.py"}[name]
    return [str(peers_python), str(SERVERS / script), "--stack", "fast"]


async def measure_backend(
    name: str,
    command: list[str],
    args: argparse.Namespace,
    work: Path,
    settle: Callable[[], None],
) -> dict[str, Any]:
    """Start the direct server and the proxy (with its backend), `settle` (placement), measure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    backend_env = {"PYTHONPATH": str(PLUGINS), "MCP_RUNNER_PLUGINS": "bench"}
    if name != "mcp-runner":
        backend_env = {"PYTHONPATH": str(SERVERS)}
    front, backend = work / name / "front", work / name / "backend"
    front.mkdir(parents=True)
    backend.mkdir(parents=True)
    config = front / "mcp-runner.toml"
    config.write_text(
        "[server]\nenable = []\n\n"
        "[proxy.servers.bench]\n"
        f"command = {json.dumps(command[0])}\n"
        f"args = {json.dumps(command[1:])}\n"
        f"cwd = {json.dumps(str(backend))}\n"
        f'era = "{args.backend_era}"\n'
        "env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in backend_env.items()) + " }\n"
    )
    direct = await Driver.start(command, {**env, **backend_env}, backend, args.era)
    proxied = await Driver.start(
        [runner_command(), "serve", "--config", str(config)], env, front, args.era
    )
    try:
        if "echo" not in await direct.tools():
            raise RuntimeError(f"{name}: no echo tool")
        found = await proxied.tools()
        if "bench_echo" not in found:
            raise RuntimeError(f"{name}: the proxy did not mount the backend ({sorted(found)})")
        settle()
        pairs = {"direct": (direct, "echo"), "proxied": (proxied, "bench_echo")}
        arguments = {"text": "hello"}
        for driver, tool in pairs.values():
            for _ in range(args.warmup):
                await driver.request("tools/call", {"name": tool, "arguments": arguments})
        pids = {
            "direct": direct.proc.pid,
            "proxy": proxied.proc.pid,
            "backend": _child_pid(proxied.proc.pid),
        }
        before = {k: _cpu_ns(pid) for k, pid in pids.items()}
        rounds: list[dict[str, list[float]]] = []
        clock = time.perf_counter
        for _ in range(args.rounds):
            samples: dict[str, list[float]] = {"direct": [], "proxied": []}
            for _ in range(args.calls):
                for path, (driver, tool) in pairs.items():
                    started = clock()
                    result = await driver.request(
                        "tools/call", {"name": tool, "arguments": arguments}
                    )
                    samples[path].append((clock() - started) * 1e6)
                    if result["content"][0]["text"] != "hello":
                        raise RuntimeError(f"wrong answer from {name} {tool}: {result}")
            rounds.append(samples)
        total = args.rounds * args.calls
        cpu = {k: (_cpu_ns(pid) - before[k]) / 1000 / total for k, pid in pids.items()}
    finally:
        await direct.close()
        await proxied.close()
    ratios = [(p50(r["proxied"]) - p50(r["direct"])) / p50(r["direct"]) for r in rounds]
    every = {path: [x for r in rounds for x in r[path]] for path in ("direct", "proxied")}
    return {
        "backend": name,
        "direct_p50": statistics.median(p50(r["direct"]) for r in rounds),
        "proxied_p50": statistics.median(p50(r["proxied"]) for r in rounds),
        "direct_p90": pct(every["direct"], 0.9),
        "proxied_p90": pct(every["proxied"], 0.9),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "cpu_us": cpu if all(v >= 0 for v in cpu.values()) else None,
    }


PLACEMENTS = {
    "one-core": "all processes on one CPU (no cross-CPU wake-ups: the processing cost)",
    "split": "the driver on one CPU, every server on another (the driver's hops cross CPUs)",
    "os": "placed by the OS scheduler (cross-CPU wake-ups included, as they fall)",
}


def place(placement: str, cpus: set[int], started: bool = False) -> None:
    """Pin this process (and so the servers it starts after) for `placement`: one CPU for all;
    for "split" the servers' CPU until they are `started`, then the driver's own; or all."""
    if not hasattr(os, "sched_setaffinity"):
        return
    if placement == "one-core" or (placement == "split" and not started):
        os.sched_setaffinity(0, {max(cpus)})
    elif placement == "split":
        os.sched_setaffinity(0, {min(cpus)})
    else:
        os.sched_setaffinity(0, cpus)


async def main(args: argparse.Namespace) -> int:
    names = list(BACKENDS) if args.backends == "all" else args.backends.split(",")
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        print(f"proxy_bench: unknown backend(s) {unknown}; choose from {BACKENDS}", file=sys.stderr)
        return 2
    placements = list(PLACEMENTS) if args.placement == "all" else [args.placement]
    peers_python = None
    if any(n != "mcp-runner" for n in names):
        sys.path.insert(0, str(HERE))
        from peers import ensure_peers

        try:
            peers_python = ensure_peers(fast=True)
        except RuntimeError as exc:
            print(f"proxy_bench: {exc}", file=sys.stderr)
            return 2
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else {0}
    if len(cpus) < 2 and "split" in placements:
        placements.remove("split")  # needs two CPUs
    hops: dict[str, float] = {}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        try:
            for placement in placements:
                settle = functools.partial(place, placement, cpus, started=True)
                place(placement, cpus)
                hops[placement] = await process_round_trip(args.calls, settle)
                for name in names:
                    place(placement, cpus)
                    command = backend_command(name, peers_python)
                    try:
                        result = await measure_backend(
                            name, command, args, Path(tmp) / placement, settle
                        )
                    except (RuntimeError, OSError) as exc:
                        print(f"proxy_bench: {name}: {exc}", file=sys.stderr)
                        return 2
                    results.append({"placement": placement, **result})
        finally:
            place("os", cpus)
    print(
        f"\ntools/call round trips over stdio, microseconds: {args.rounds} rounds of "
        f"{args.calls} sequential calls per path (alternating), driver era {args.era}, "
        f"backend era {args.backend_era}; p50 is the median of the rounds' medians."
    )
    header = ("backend", "direct p50", "proxied p50", "added p50", "added/direct", "p90 d/p")
    for placement in placements:
        print(f"\n{placement}: {PLACEMENTS[placement]}")
        print(f"{header[0]:<12}" + "".join(f"{h:>14}" for h in header[1:]))
        for r in results:
            if r["placement"] != placement:
                continue
            added = r["proxied_p50"] - r["direct_p50"]
            print(
                f"{r['backend']:<12}{r['direct_p50']:>14.0f}{r['proxied_p50']:>14.0f}"
                f"{added:>14.0f}{r['ratio']:>14.2f}{r['direct_p90']:>8.0f}/{r['proxied_p90']:.0f}"
            )
        print(f"bare process round trip (a child echoes a line): {hops[placement]:.0f} us p50")
    print()
    for r in results:
        if r["cpu_us"]:
            c = r["cpu_us"]
            print(
                f"CPU per call, {r['backend']} ({r['placement']}): direct server "
                f"{c['direct']:.0f} us; proxy {c['proxy']:.0f} + backend {c['backend']:.0f} us; "
                "added/direct per round " + " ".join(f"{x:.2f}" for x in r["ratios"])
            )
    verdict = [r for r in results if r["placement"] == placements[0]]
    met = all(r["ratio"] <= 1.0 for r in verdict)
    print(
        f"\ntarget added/direct <= 1.00 for every backend ({placements[0]}): "
        f"{'met' if met else 'NOT met'}"
    )
    if args.json:
        print(json.dumps({"process_round_trip_p50": hops, "results": results, "met": met}))
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backends",
        default="mcp-runner",
        help=f"comma-separated, of {', '.join(BACKENDS)}; or 'all' (default: mcp-runner)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000, help="calls per round and path")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--era", choices=["legacy", "modern"], default="legacy", help="the driver's era"
    )
    parser.add_argument(
        "--backend-era",
        choices=["auto", "legacy", "modern"],
        default="auto",
        help="the proxy-to-backend era",
    )
    parser.add_argument(
        "--placement",
        choices=["all", *PLACEMENTS],
        default="all",
        help="where the processes run; the first one measured gives the verdict",
    )
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 round of 200 calls on one CPU, no threshold (exit 0 unless a "
        "server failed)",
    )
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.calls, options.warmup = 1, 200, 50
        options.placement = "one-core"
    status = asyncio.run(main(options))
    sys.exit(0 if options.quick and status == 1 else status)
