"""The OpenAPI bridge side by side with FastMCP's ``from_fastapi`` / ``from_openapi``.

Two measurements, each over stdio from a minimal JSON-lines driver (no client library):

- **start-up with a large spec**: spawn -> ``initialize`` answered -> the whole ``tools/list``
  answered, for the GitHub REST description (npm ``@octokit/openapi``, 1,000+ operations);
  mcp-runner reads it with ``[openapi.apis.github] spec = ...``, FastMCP with
  ``FastMCP.from_openapi(spec)``.
- **what a bridged call adds**: the seed's weather service (``GET /weather/{city}``), called
  directly with httpx and through each bridge, alternating, sequentially. ``app``: the FastAPI
  app in process (``app =`` / ``from_fastapi``; direct = httpx with ``ASGITransport`` in the
  driver). ``http``: the app served by uvicorn on 127.0.0.1 (``spec =`` its URL /
  ``from_openapi``; direct = httpx over HTTP). Added latency = bridged p50 - direct p50.
  The target: mcp-runner adds at most a third of what FastMCP adds.

Run with the interpreter that has mcp-runner, mcp-runner-openapi and fastapi installed::

    pip install . ./plugins/openapi fastapi && python benchmarks/openapi_bench.py
    python benchmarks/openapi_bench.py --quick            # a smoke run, no verdict

FastMCP 4.1.6 comes from ``benchmarks/.venv-peers`` (benchmarks/peers.py), where this script
adds fastapi when it is missing. Exit status: 0 when the target is met, 1 when not, 2 when a
server failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = ROOT / "plugins" / "openapi" / "tests" / "seed"
FIXTURES = ROOT / "plugins" / "openapi" / "tests" / "fixtures"
LEGACY = "2025-11-25"
ARGUMENTS = {"city": "Paris"}

FASTMCP_SERVER = """
import json, os, sys
os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")
import anyio
from fastmcp import FastMCP
mode, source = sys.argv[1], sys.argv[2]
if mode == "app":
    sys.path.insert(0, source)
    from openapi_seed import app
    mcp = FastMCP.from_fastapi(app)
else:
    import httpx2
    spec_path, base_url = source.split("|")
    with open(spec_path, "rb") as f:
        spec = json.load(f)
    mcp = FastMCP.from_openapi(spec, client=httpx2.AsyncClient(base_url=base_url, timeout=30))
anyio.run(lambda: mcp.run_stdio_async(show_banner=False, log_level="WARNING"))
"""


# -- the driver ------------------------------------------------------------------------------------


class Stdio:
    """A server over stdio, one JSON-RPC request at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0

    @classmethod
    async def spawn(cls, command: list[str], env: dict[str, str], cwd: str) -> Stdio:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            limit=64 * 1024 * 1024,
        )
        return cls(proc)

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
            if not line:
                raise RuntimeError(f"the server closed its output (exit {self.proc.returncode})")
            answer = json.loads(line)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer["result"])

    async def initialize(self) -> None:
        await self.request(
            "initialize",
            {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "openapi-bench", "version": "0"},
            },
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        await self.proc.stdin.drain()

    async def tools(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            found.extend(page["tools"])
            cursor = page.get("nextCursor")
            if not cursor:
                return found

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def runner_server(tmp: Path, config: str) -> tuple[list[str], dict[str, str]]:
    path = tmp / "mcp-runner.toml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["MCP_RUNNER_PLUGINS"] = "openapi"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SEED), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-c", "from mcp_runner.cli import main; main()"]
    return [*command, "serve", "--config", str(path)], env


def fastmcp_server(peers: Path, mode: str, source: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return [str(peers), "-c", FASTMCP_SERVER, mode, source], env


# -- start-up with the large spec ------------------------------------------------------------------


async def startup(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    started = time.perf_counter()
    server = await Stdio.spawn(command, env, cwd)
    try:
        await server.initialize()
        tools = await server.tools()
    finally:
        await server.close()
    return time.perf_counter() - started, len(tools)


# -- what a call adds --------------------------------------------------------------------------------


async def added_latency(
    server: Stdio, direct: Callable[[], Awaitable[Any]], calls: int
) -> tuple[float, float]:
    """(direct p50, bridged p50) in microseconds, calls alternating."""
    tools = await server.tools()
    name = next(t["name"] for t in tools if t["name"].startswith("get_weather"))
    params = {"name": name, "arguments": ARGUMENTS}
    for _ in range(20):  # warm-up: pools, caches, first-call compilation
        await direct()
        await server.request("tools/call", params)
    direct_us: list[float] = []
    bridged_us: list[float] = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await direct()
        t1 = time.perf_counter()
        result = await server.request("tools/call", params)
        t2 = time.perf_counter()
        if result.get("isError"):
            raise RuntimeError(f"bridged call failed: {result}")
        direct_us.append((t1 - t0) * 1e6)
        bridged_us.append((t2 - t1) * 1e6)
    return statistics.median(direct_us), statistics.median(bridged_us)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def uvicorn_app(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SEED)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "openapi_seed:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("uvicorn did not start")


async def scenario(mode: str, peers: Path, tmp: Path, calls: int, rounds: int) -> dict[str, Any]:
    import httpx

    uvicorn = None
    if mode == "app":
        sys.path.insert(0, str(SEED))
        from openapi_seed import app

        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")
        ours = runner_server(tmp, '[openapi.apis.weather]\napp = "openapi_seed:app"\n')
        theirs = fastmcp_server(peers, "app", str(SEED))
    else:
        port = free_port()
        uvicorn = await uvicorn_app(port)
        base = f"http://127.0.0.1:{port}"
        client = httpx.AsyncClient(base_url=base)
        spec = tmp / "weather.json"
        spec.write_text((await client.get("/openapi.json")).text)
        ours = runner_server(tmp, f'[openapi.apis.weather]\nspec = "{base}/openapi.json"\n')
        theirs = fastmcp_server(peers, "spec", f"{spec}|{base}")

    async def direct() -> Any:
        response = await client.get("/weather/Paris")
        return response.json()

    out: dict[str, list[tuple[float, float]]] = {"mcp-runner": [], "fastmcp": []}
    try:
        for _ in range(rounds):
            for label, (command, env) in (("mcp-runner", ours), ("fastmcp", theirs)):
                server = await Stdio.spawn(command, env, str(tmp))
                try:
                    await server.initialize()
                    out[label].append(await added_latency(server, direct, calls))
                finally:
                    await server.close()
    finally:
        await client.aclose()
        if uvicorn is not None:
            uvicorn.terminate()
            uvicorn.wait(10)
    summary: dict[str, Any] = {}
    for label, samples in out.items():
        direct_p50 = statistics.median(d for d, _ in samples)
        bridged_p50 = statistics.median(b for _, b in samples)
        added = statistics.median(b - d for d, b in samples)
        summary[label] = {"direct_us": direct_p50, "bridged_us": bridged_p50, "added_us": added}
    return summary


# -- main ----------------------------------------------------------------------------------------------


def github_spec() -> Path | None:
    sys.path.insert(0, str(FIXTURES))
    from openapi_helpers import github_spec as fetch

    path, why = fetch()
    if path is None:
        print(f"start-up: skipped ({why})", file=sys.stderr)
    return path


async def main_async(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(HERE))
    from peers import ensure_peers, has_modules

    peers = ensure_peers()
    if not has_modules(peers, ["fastapi"]):
        subprocess.run([str(peers), "-m", "pip", "install", "-q", "fastapi"], check=True)
    lines = ["# OpenAPI bridge: mcp-runner vs FastMCP 4.1.6", ""]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        spec = github_spec()
        if spec is not None:
            lines += [
                "## Start-up with the GitHub REST description (spawn -> initialize -> all of tools/list)",
                "",
                "| server | median s (min-max) | tools |",
                "|---|---|---|",
            ]
            document = json.loads(spec.read_bytes())
            base = document["servers"][0]["url"]
            ours = runner_server(
                tmp, f'[openapi.apis.github]\nspec = "{spec}"\nwarn_above = 5000\n'
            )
            theirs = fastmcp_server(peers, "spec", f"{spec}|{base}")
            for label, (command, env) in (("mcp-runner", ours), ("fastmcp", theirs)):
                times = []
                count = 0
                for _ in range(args.startup_runs):
                    elapsed, count = await startup(command, env, str(tmp))
                    times.append(elapsed)
                lines.append(
                    f"| {label} | {statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f}) | {count} |"
                )
            lines.append("")
        verdicts = []
        for mode in ("app", "http"):
            summary = await scenario(mode, peers, tmp, args.calls, args.rounds)
            ours_added = summary["mcp-runner"]["added_us"]
            theirs_added = summary["fastmcp"]["added_us"]
            ratio = ours_added / theirs_added if theirs_added > 0 else float("inf")
            verdicts.append(ratio <= 1 / 3)
            title = (
                "in process (app = / from_fastapi)"
                if mode == "app"
                else "over HTTP (spec = / from_openapi)"
            )
            lines += [
                f"## A bridged call, {title}: p50 of {args.calls} sequential calls, median of {args.rounds} rounds",
                "",
                "| server | direct httpx µs | bridged µs | added µs |",
                "|---|---|---|---|",
            ]
            for label, row in summary.items():
                lines.append(
                    f"| {label} | {row['direct_us']:.0f} | {row['bridged_us']:.0f} | {row['added_us']:.0f} |"
                )
            lines += ["", f"mcp-runner adds {ratio:.2f}x what FastMCP adds (target <= 0.33)", ""]
    print("\n".join(lines))
    return 0 if args.quick or all(verdicts) else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few calls, no verdict")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds, args.startup_runs = 50, 1, 1
    try:
        sys.exit(asyncio.run(main_async(args)))
    except RuntimeError as exc:
        print(f"openapi_bench: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
