"""What the proxy adds to a tool call: sequential round trips, direct and proxied.

    direct:   client --stdio--> mcp-runner (bench plugin)
    proxied:  client --stdio--> mcp-runner (proxy) --stdio--> mcp-runner (bench plugin)

Both servers run the same `bench` plugin (benchmarks/plugins). The client is a minimal
JSON-lines driver over the pipes (no client library), one request at a time, so each
measurement is one full round trip; the added latency is proxied minus direct. The target:
the proxy adds no more than the direct call's own latency (proxied <= 2 x direct).

    python benchmarks/proxy_bench.py                       # 2,000 calls each, legacy front
    python benchmarks/proxy_bench.py --calls 500 --era modern --backend-era legacy

Exit status 0 when the target is met (on the median), 1 when not, 2 when a server failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


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
    """One server subprocess over stdio; `call()` is one request and its answer."""

    def __init__(self, proc: asyncio.subprocess.Process, era: str) -> None:
        self.proc = proc
        self.era = era
        self.ids = 0

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str], cwd: Path, era: str) -> Driver:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            limit=64 * 1024 * 1024,
        )
        driver = cls(proc, era)
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


async def measure(
    drivers: dict[str, tuple[Driver, str]], calls: int, warmup: int
) -> dict[str, list[float]]:
    """Alternate one call on each server, `calls` times: drift and noise hit both alike."""
    arguments = {"text": "hello"}
    for driver, tool in drivers.values():
        for _ in range(warmup):
            await driver.request("tools/call", {"name": tool, "arguments": arguments})
    samples: dict[str, list[float]] = {name: [] for name in drivers}
    clock = time.perf_counter
    for _ in range(calls):
        for name, (driver, tool) in drivers.items():
            started = clock()
            result = await driver.request("tools/call", {"name": tool, "arguments": arguments})
            samples[name].append((clock() - started) * 1e6)
            if result["content"][0]["text"] != "hello":
                raise RuntimeError(f"wrong answer from {tool}: {result}")
    return samples


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


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {"mean": statistics.fmean(samples), "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)}


async def main(args: argparse.Namespace) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    env["MCP_RUNNER_PLUGINS"] = "bench"
    command = runner_command()
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        work = Path(tmp)
        (work / "front").mkdir()
        (work / "backend").mkdir()
        config = work / "front" / "mcp-runner.toml"
        config.write_text(
            "[server]\nenable = []\n\n"
            "[proxy.servers.bench]\n"
            f"command = {json.dumps(command)}\n"
            f"args = {json.dumps(['serve', *plugin_args()])}\n"
            f"cwd = {json.dumps(str(work / 'backend'))}\n"
            f'era = "{args.backend_era}"\n'
            f'env = {{ PYTHONPATH = {json.dumps(str(PLUGINS))}, MCP_RUNNER_PLUGINS = "bench" }}\n'
        )
        front_env = {k: v for k, v in env.items() if k != "MCP_RUNNER_PLUGINS"}
        try:
            direct = await Driver.start(
                [command, "serve", *plugin_args()], env, work / "backend", args.era
            )
            proxied = await Driver.start(
                [command, "serve", "--config", str(config)], front_env, work / "front", args.era
            )
            assert "echo" in await direct.tools()
            found = await proxied.tools()
            if "bench_echo" not in found:
                raise RuntimeError(f"the proxy did not mount the backend (tools: {sorted(found)})")
            backend_pid = _child_pid(proxied.proc.pid)
            pids = {"direct": direct.proc.pid, "proxy": proxied.proc.pid, "backend": backend_pid}
            before = {name: _cpu_ns(pid) for name, pid in pids.items()}
            samples = await measure(
                {"direct": (direct, "echo"), "proxied": (proxied, "bench_echo")},
                args.calls,
                args.warmup,
            )
            cpu = {
                name: (_cpu_ns(pid) - before[name]) / 1000 / (args.calls + args.warmup)
                for name, pid in pids.items()
            }
            results = {name: summary(values) for name, values in samples.items()}
            await direct.close()
            await proxied.close()
        except (RuntimeError, OSError) as exc:
            print(f"proxy_bench: {exc}", file=sys.stderr)
            return 2
    d, p = results["direct"], results["proxied"]
    print()
    print(
        f"tools/call round trip over stdio, {args.calls} sequential calls each (alternating) after {args.warmup} warm-up "
        f"(front era {args.era}, backend era {args.backend_era}), microseconds:\n"
    )
    print(f"{'':<10}{'mean':>10}{'p50':>10}{'p90':>10}{'p99':>10}")
    for name, row in (("direct", d), ("proxied", p)):
        print(f"{name:<10}" + "".join(f"{row[k]:>10.0f}" for k in ("mean", "p50", "p90", "p99")))
    added = {k: p[k] - d[k] for k in d}
    print(f"{'added':<10}" + "".join(f"{added[k]:>10.0f}" for k in ("mean", "p50", "p90", "p99")))
    if all(v >= 0 for v in cpu.values()):
        print(
            f"\nCPU per call, us: direct server {cpu['direct']:.0f}; proxy {cpu['proxy']:.0f} + backend {cpu['backend']:.0f}"
        )
    ratio = added["p50"] / d["p50"]
    met = added["p50"] <= d["p50"]
    print(
        f"\nadded latency (p50) = {ratio:.2f} x the direct call's own; target <= 1.00: {'met' if met else 'NOT met'}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "direct": d,
                    "proxied": p,
                    "added": added,
                    "ratio_p50": ratio,
                    "met": met,
                    "cpu_us": cpu,
                }
            )
        )
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--era", choices=["legacy", "modern"], default="legacy", help="the front connection's era"
    )
    parser.add_argument(
        "--backend-era",
        choices=["auto", "legacy", "modern"],
        default="auto",
        help="the proxy-to-backend era",
    )
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    sys.exit(asyncio.run(main(parser.parse_args())))
