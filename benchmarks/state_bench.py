"""What the Redis state backend costs a call: one `mcp-runner serve --transport http` with
sessions in process, and one with the `redis` plugin (a real `redis-server` on loopback), side
by side, in both eras.

Each era's driver makes sequential `tools/call`s over one keep-alive HTTP connection (httpx, no
client library): a legacy session's calls (Mcp-Session-Id), and 2026-07-28 calls (stateless).
The two servers are measured in alternating rounds, so drift hits both alike; the figure is the
median over rounds of each one's calls per second. Targets (issue 13): with Redis, 2026-07-28
calls >= 0.9x in process (a stateless call never touches the store), legacy calls >= 0.5x.

    python benchmarks/state_bench.py                  # 5 rounds of 2000 calls per era
    python benchmarks/state_bench.py --quick          # a smoke run, no thresholds

Exit status 0 when both targets are met, 1 when not, 2 when a server could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "fixtures" / "http_plugins"
BANNER = re.compile(r'serving(?: |", "url": ")(http://[^\s"]+)')
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
TARGETS = {"2026-07-28": 0.9, "legacy": 0.5}
JSON = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(env_extra: dict[str, str], workdir: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env.update(PYTHONPATH=str(DEMO), PYTHONUNBUFFERED="1", **env_extra)
    command = [sys.executable, "-c", "from mcp_runner.cli import main; main()", "serve"]
    proc = subprocess.Popen(
        [*command, "--transport", "http", "--port", "0", "--plugin", "http_demo:plugin"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    for line in proc.stderr:
        match = BANNER.search(line)
        if match:
            return proc, match.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(2)


async def legacy_rate(url: str, calls: int) -> float:
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(
            url,
            headers=JSON,
            json={
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": LEGACY,
                    "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "0"},
                },
            },
        )
        headers = {
            **JSON,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": LEGACY,
        }
        await http.post(
            url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        started = time.perf_counter()
        for n in range(calls):
            answer = await http.post(
                url,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "id": n + 1,
                    "method": "tools/call",
                    "params": {"name": "add", "arguments": {"a": n, "b": 1}},
                },
            )
            assert answer.status_code == 200, answer.text
        elapsed = time.perf_counter() - started
        await http.delete(url, headers=headers)
        return calls / elapsed


async def modern_rate(url: str, calls: int) -> float:
    headers = {
        **JSON,
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "add",
    }
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    async with httpx.AsyncClient(timeout=30) as http:
        started = time.perf_counter()
        for n in range(calls):
            answer = await http.post(
                url,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "id": n + 1,
                    "method": "tools/call",
                    "params": {"name": "add", "arguments": {"a": n, "b": 1}, "_meta": meta},
                },
            )
            assert answer.status_code == 200, answer.text
        return calls / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 200 calls, no verdict")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls = 2, 200
    redis_server = shutil.which("redis-server")
    if redis_server is None or importlib.util.find_spec("mcp_runner_redis") is None:
        print(
            "redis-server and the redis plugin are needed "
            "(apt-get install redis-server; pip install ./plugins/redis)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="mcp-runner-state-bench-") as workdir:
        port = free_port()
        redis = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers = {}
        try:
            servers["in process"] = serve({"MCP_RUNNER_PLUGINS": "http_demo"}, workdir)
            servers["redis"] = serve(
                {
                    "MCP_RUNNER_PLUGINS": "http_demo,redis",
                    "MCP_RUNNER_PLUGINS__REDIS__URL": f"redis://127.0.0.1:{port}/0",
                },
                workdir,
            )
            rates: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for name, (_, url) in servers.items():
                    for era, measure in (("legacy", legacy_rate), ("2026-07-28", modern_rate)):
                        rate = asyncio.run(measure(url, args.calls))
                        rates.setdefault((name, era), []).append(rate)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
            redis.terminate()
            redis.wait(10)
    met = True
    print(f"{'era':<12}{'in process':>14}{'redis':>14}{'ratio':>9}{'target':>9}")
    for era, target in TARGETS.items():
        local = statistics.median(rates[("in process", era)])
        shared = statistics.median(rates[("redis", era)])
        ratio = shared / local
        met = met and ratio >= target
        print(f"{era:<12}{local:>10.0f}/s  {shared:>10.0f}/s  {ratio:>7.2f}x {target:>7.1f}x")
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
