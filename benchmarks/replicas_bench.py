#!/usr/bin/env python3
"""Three replicas behind nginx against one process: HTTP throughput of `tools/call`, both eras.

Three topologies, all on 127.0.0.1, serving the bench plugin:

- ``one process``: one `mcp-runner serve --transport http`, sessions in process;
- ``one behind nginx``: the same process behind nginx (what the balancer alone costs);
- ``3 replicas + redis``: three `mcp-runner serve` with the ``redis`` plugin on one
  `redis-server`, behind nginx balancing each request round robin (no stickiness, keep-alive
  to the replicas), so a legacy session's calls land on every replica.

32 clients (``--clients``), each on its own keep-alive connection, call ``tools/call`` back to
back for T seconds (``--seconds``), in the 2026-07-28 era (no session) and in legacy sessions
(one per client). The topologies run side by side and are measured in interleaved rounds; the
best round of each is shown. The generator (`loadgen.py`, one Python process) shares the CPUs:
the CPU time of the servers (replicas, nginx, redis) and of the generator is reported, and
calls per server CPU second show what a call costs in each topology.

    python benchmarks/replicas_bench.py            # 3 rounds of 5 s per topology and era
    python benchmarks/replicas_bench.py --quick    # one round of 2 s

Needs ``redis-server`` and ``nginx`` (Debian ``redis-server``, ``nginx-light``) and the redis
plugin (``pip install ./plugins/redis``); exit status 2 without them. Traffic goes only to
127.0.0.1; every run is bounded in time, and every process started is stopped by its own
handle.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import BenchError, RunResult, cpu_seconds, http_load, stop_process

BANNER = re.compile(rb'serving(?: |", "url": ")http://127\.0\.0\.1:(\d+)/mcp')
WARMUP_SECONDS = 1.0
ERAS = {"2026-07-28": "modern", "legacy": "legacy"}
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream replicas {{
        {servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on 127.0.0.1:{port}")


def replica(cwd: str, redis_url: str | None) -> tuple[subprocess.Popen[bytes], int]:
    """One `mcp-runner serve --transport http` with the bench plugin (and the redis plugin on
    `redis_url`); its port, read from its banner."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["MCP_RUNNER_PLUGINS"] = "bench" if redis_url is None else "bench,redis"
    if redis_url is not None:
        env["MCP_RUNNER_PLUGINS__REDIS__URL"] = redis_url
    command = [sys.executable, "-c", "from mcp_runner.cli import main; main()"]
    proc = subprocess.Popen(
        [*command, "serve", "--transport", "http", "--port", "0"],
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
            proc.stderr.close()  # nothing reads it from now on: the server must never block
            return proc, int(found.group(1))
    stop_process(proc)
    raise BenchError("mcp-runner did not start")


def nginx(root: Path, ports: list[int]) -> tuple[subprocess.Popen[bytes], int]:
    """nginx balancing round robin over `ports`, from its own prefix directory `root`."""
    root.mkdir()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / sub).mkdir()
    port = free_port()
    servers = "\n        ".join(f"server 127.0.0.1:{p};" for p in ports)
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, servers=servers, port=port))
    proc = subprocess.Popen(
        [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(root), "-c", "nginx.conf"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return proc, port


class Topology:
    """Servers answering on one port, and every process whose CPU time is theirs."""

    def __init__(self, name: str, port: int, procs: list[subprocess.Popen[bytes]]) -> None:
        self.name = name
        self.port = port
        self.procs = procs

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def measure(self, era: str, clients: int, seconds: float) -> RunResult:
        asyncio.run(http_load(self.port, clients, era, 10**9, WARMUP_SECONDS, None))
        before = self.cpu()
        result = asyncio.run(http_load(self.port, clients, era, 10**9, seconds, None))
        result.server_cpu = self.cpu() - before
        result.other_cpu = max(0.0, result.other_cpu - result.server_cpu)
        return result


def report(
    results: dict[tuple[str, str], RunResult], clients: int, seconds: float, rounds: int
) -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"HTTP `tools/call`, {clients} keep-alive clients, {seconds:g} s per run, "
        f"{os.cpu_count()} CPUs, best of {rounds} interleaved rounds, load average after the "
        f"runs {load}",
        "",
        "| era | topology | calls/s | vs one process | p50 ms | p99 ms | server CPU s "
        "| calls per server CPU s | generator CPU s | other CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (era, name), r in results.items():
        base = results[(era, "one process")].rate
        lines.append(
            f"| {era} | {name} | {r.rate:,.0f} | {r.rate / base:.2f}x "
            f"| {r.percentile(0.5) * 1e3:.2f} | {r.percentile(0.99) * 1e3:.2f} "
            f"| {r.server_cpu:.1f} | {r.count / r.server_cpu if r.server_cpu else 0:,.0f} "
            f"| {r.loadgen_cpu:.1f} | {r.other_cpu:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--quick", action="store_true", help="one round of 2 s")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2.0
    redis_server = shutil.which("redis-server")
    has_nginx = shutil.which("nginx") is not None or os.access("/usr/sbin/nginx", os.X_OK)
    if (
        redis_server is None
        or not has_nginx
        or importlib.util.find_spec("mcp_runner_redis") is None
    ):
        print(
            "redis-server, nginx and the redis plugin are needed "
            "(apt-get install redis-server nginx-light; pip install ./plugins/redis)",
            file=sys.stderr,
        )
        return 2
    started: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="mcp-runner-replicas-bench-") as workdir:
        root = Path(workdir)
        try:
            redis_port = free_port()
            redis = subprocess.Popen(
                [
                    *(redis_server, "--port", str(redis_port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append(redis)
            wait_for_port(redis_port)
            single, single_port = replica(workdir, None)
            started.append(single)
            front, front_port = nginx(root / "single", [single_port])
            started.append(front)
            replicas = [replica(workdir, f"redis://127.0.0.1:{redis_port}/0") for _ in range(3)]
            started.extend(proc for proc, _ in replicas)
            balancer, balancer_port = nginx(root / "replicas", [port for _, port in replicas])
            started.append(balancer)
            topologies = [
                Topology("one process", single_port, [single]),
                Topology("one behind nginx", front_port, [single, front]),
                Topology(
                    "3 replicas + redis",
                    balancer_port,
                    [*(proc for proc, _ in replicas), balancer, redis],
                ),
            ]
            results: dict[tuple[str, str], RunResult] = {}
            for _ in range(args.rounds):  # interleaved: a busy moment does not favour one
                for era, mode in ERAS.items():
                    for topology in topologies:
                        run = topology.measure(mode, args.clients, args.seconds)
                        best = results.get((era, topology.name))
                        if best is None or run.rate > best.rate:
                            results[(era, topology.name)] = run
        except BenchError as exc:
            print(f"replicas_bench: {exc}", file=sys.stderr)
            return 2
        finally:
            for proc in reversed(started):
                stop_process(proc, grace=15)
    print(report(results, args.clients, args.seconds, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
