"""The cost of metrics and traces beside the same server without either, in one run.

    python benchmarks/operations_bench.py            # ~6 minutes on 2 cores
    python benchmarks/operations_bench.py --quick

The configurations: ``off``; ``metrics`` (``[metrics] enabled``); ``tracing``
(``[tracing] enabled`` with ``opentelemetry-api`` and no SDK behind it: the no-op tracer
provider is set, as the SDK is installed here); ``both``; and, served only, ``sdk``: a span
per request into the SDK with an in-memory exporter (a simple span processor, each span
exported as it ends). ``off`` and ``metrics`` set ``[tracing] enabled = false``.

Three measurements, each alternating the configurations round by round so that drift on a
shared machine hits all alike:

- ``engine``: CPU time per ``tools/call`` through the one request path in this process
  (`Runner.connect`, no transport): the cost the middleware adds, steady even when other work
  shares the cores;
- ``asgi``: the same for a 2026-07-28 ``tools/call`` POSTed to the HTTP transport's router
  in this process (no sockets, no HTTP parsing): the middlewares plus the HTTP observer;
- ``stdio in process``: the same through the stdio transport's `StdioServer` in this process,
  64 requests pipelined (a task each, as served), answers written nowhere;
- ``stdio`` and ``http``: ``mcp-runner serve`` in a subprocess (started afresh each round)
  under load from `loadgen` (stdio pipelined, HTTP 16 connections of 2026-07-28 calls; the
  access log stays off, as at the default log level): the best rate, the median over rounds
  of each round's rate against ``off``'s in the same round, and the server's CPU per request
  (the least, and the median). ``--transports stdio`` runs the stdio rounds only.

The ``bench`` plugin (benchmarks/plugins) serves the tools.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import loadgen
from mcp_runner.protocol.session import DirectOutlet


async def _drop(message: dict[str, Any]) -> None:
    return None


NOWHERE = DirectOutlet(_drop)

TRACING_OFF = {"MCP_RUNNER_TRACING__ENABLED": "false"}
METRICS_ON = {"MCP_RUNNER_METRICS__ENABLED": "true"}
CONFIGS = {
    "off": TRACING_OFF,
    "metrics": {**METRICS_ON, **TRACING_OFF},
    "tracing": {"MCP_RUNNER_TRACING__ENABLED": "true", "BENCH_TRACER_PROVIDER": "noop"},
    "both": {**METRICS_ON, "MCP_RUNNER_TRACING__ENABLED": "true", "BENCH_TRACER_PROVIDER": "noop"},
    "sdk": {"BENCH_TRACER_PROVIDER": "sdk"},
}
IN_PROCESS = {  # (metrics, tracing): the in-process rounds share one no-op tracer provider
    "off": (False, False),
    "metrics": (True, False),
    "tracing": (False, True),
    "both": (True, True),
}
SERVER = """
import os
provider = os.environ.pop("BENCH_TRACER_PROVIDER", None)
if provider:
    from opentelemetry import trace
    if provider == "noop":
        trace.set_tracer_provider(trace.NoOpTracerProvider())
    else:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        sdk = TracerProvider()
        sdk.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(sdk)
from mcp_runner.cli import main
main()
"""


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env.update({"MCP_RUNNER_PLUGINS": "bench", **extra})
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", SERVER, "serve", *args]


async def stdio_round(extra: dict[str, str], total: int, work: Path) -> loadgen.RunResult:
    server = await loadgen.StdioServer.start(command(), server_env(extra), work, work / "stdio.log")
    try:
        await server.initialize()
        return await server.pipelined(total, window=64, deadline=60)
    finally:
        await server.close()


async def http_round(extra: dict[str, str], total: int, work: Path) -> loadgen.RunResult:
    import socket

    with socket.socket() as sock:
        sock.bind((loadgen.HOST, 0))
        port = sock.getsockname()[1]
    with open(work / "http.log", "ab") as err:
        proc = await asyncio.create_subprocess_exec(
            *command("--transport", "http", "--port", str(port)),
            env=server_env(extra),
            cwd=work,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )
    try:
        await loadgen.wait_http_ready(port, proc)
        return await loadgen.http_load(port, 16, "modern", total, 60, proc.pid)
    finally:
        await loadgen.astop_process(proc)


def settings_of(metrics: bool, tracing: bool) -> Any:
    from mcp_runner.config import Settings

    return Settings.model_validate(
        {"metrics": {"enabled": metrics}, "tracing": {"enabled": tracing}}
    )


async def engine_round(metrics: bool, tracing: bool, total: int) -> float:
    """CPU seconds per tools/call through `Runner.connect`'s request path."""
    from mcp_runner.runner import Runner

    settings = settings_of(metrics, tracing)
    runner = Runner(settings, extra=["mcp_runner_bench:plugin"], entry_points=False).start()
    answers: list[Any] = []
    connection = runner.connect("inprocess", answers.append)  # type: ignore[arg-type]
    connection.session.version, connection.session.initialized = "2025-11-25", True
    call = {"name": "add", "arguments": {"a": 1, "b": 2}}
    started = time.process_time()
    for i in range(total):
        message = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": call}
        request = connection.receive(message, NOWHERE)
        answer = connection.admit(request) or await connection.run(request)
        assert "result" in answer, answer
    return (time.process_time() - started) / total


async def stdio_inprocess_round(
    metrics: bool, tracing: bool, total: int, window: int = 64
) -> float:
    """CPU seconds per tools/call through `StdioServer` in this process, `window` pipelined."""
    from mcp_runner.runner import Runner
    from mcp_runner.transports.stdio import StdioServer

    settings = settings_of(metrics, tracing)
    runner = Runner(settings, extra=["mcp_runner_bench:plugin"], entry_points=False).start()
    written = 0

    def write(_: bytes) -> None:
        nonlocal written
        written += 1

    server = StdioServer(runner, write, max_message=1 << 20, max_in_flight=1024)
    opening = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": loadgen.CLIENT_INFO,
    }
    server.feed(
        json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": opening}).encode()
        + b"\n"
    )
    server.feed(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    call = {"name": "add", "arguments": {"a": 1, "b": 2}}
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": call}).encode()
        + b"\n"
        for i in range(1, total + 1)
    ]
    started = time.process_time()
    for first in range(0, total, window):
        server.feed(b"".join(lines[first : first + window]))
        while written < min(first + window, total) + 1:
            await asyncio.sleep(0)
    return (time.process_time() - started) / total


async def asgi_round(metrics: bool, tracing: bool, total: int) -> float:
    """CPU seconds per 2026-07-28 tools/call POSTed to the HTTP router, in process."""
    from mcp_runner.runner import Runner
    from mcp_runner.transports.http import McpHttpApp, Router

    settings = settings_of(metrics, tracing)
    runner = Runner(settings, extra=["mcp_runner_bench:plugin"], entry_points=False).start()
    router = Router(McpHttpApp(runner), "/mcp")
    params = {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": loadgen.MODERN_META}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", loadgen.MODERN_VERSION.encode()),
        (b"mcp-method", b"tools/call"),
        (b"mcp-name", b"add"),
        (b"content-length", str(len(body)).encode()),
    ]
    message = {"type": "http.request", "body": body.encode(), "more_body": False}
    sent: list[Any] = []

    async def receive() -> Any:
        return message

    async def send(event: Any) -> None:
        sent.append(event)

    started = time.process_time()
    for _ in range(total):
        sent.clear()
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "query_string": b"",
        }
        await router(scope, receive, send)
        assert sent[0]["status"] == 200, sent
    return (time.process_time() - started) / total


async def main(args: argparse.Namespace) -> None:
    from opentelemetry import trace

    trace.set_tracer_provider(trace.NoOpTracerProvider())  # the API, and no SDK behind it
    work = Path(tempfile.mkdtemp(prefix="mcp-runner-ops-bench-"))
    print(
        "| in process | engine: CPU per request (µs) | asgi: CPU per request (µs)"
        " | stdio in process: CPU per request (µs) |"
    )
    print("|---|---|---|---|")
    engine = dict.fromkeys(IN_PROCESS, float("inf"))
    asgi, piped = dict(engine), dict(engine)
    for _ in range(args.reps * 5):
        for name, (metrics, tracing) in IN_PROCESS.items():
            engine[name] = min(engine[name], await engine_round(metrics, tracing, args.engine))
            asgi[name] = min(asgi[name], await asgi_round(metrics, tracing, args.engine // 4))
            piped[name] = min(
                piped[name], await stdio_inprocess_round(metrics, tracing, args.engine)
            )
    for name in IN_PROCESS:
        print(
            f"| {name} | {engine[name] * 1e6:.2f} | {asgi[name] * 1e6:.2f}"
            f" | {piped[name] * 1e6:.2f} |"
        )
    for name in list(IN_PROCESS)[1:]:
        print(
            f"\n{name}/off CPU per request: engine {engine['off'] / engine[name]:.3f},"
            f" asgi {asgi['off'] / asgi[name]:.3f}, stdio {piped['off'] / piped[name]:.3f}"
        )
    rounds = {"stdio": stdio_round, "http": http_round}
    totals = {"stdio": args.stdio, "http": args.http}
    print(
        "\n| transport | configuration | best rate (req/s) | server CPU per request (µs):"
        " least | median |"
    )
    print("|---|---|---|---|---|")
    ratios = []
    for transport in args.transports:
        run = rounds[transport]
        rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
        cpus: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(args.reps):
            for name, extra in CONFIGS.items():
                result = await run(extra, totals[transport], work)
                rates[name].append(result.rate)
                cpus[name].append(result.server_cpu / result.count * 1e6)
        for name in CONFIGS:
            print(
                f"| {transport} | {name} | {max(rates[name]):,.0f} | {min(cpus[name]):.1f}"
                f" | {statistics.median(cpus[name]):.1f} |"
            )
        for name in list(CONFIGS)[1:]:
            in_round = [on / off for on, off in zip(rates[name], rates["off"], strict=True)]
            ratios.append(
                (
                    transport,
                    name,
                    max(rates[name]) / max(rates["off"]),
                    statistics.median(in_round),
                    statistics.median(cpus["off"]) / statistics.median(cpus[name]),
                )
            )
    print()
    for transport, name, best_ratio, round_ratio, cpu_ratio in ratios:
        print(
            f"{transport}: {name}/off throughput {best_ratio:.3f} (best),"
            f" {round_ratio:.3f} (median of rounds), CPU per request {cpu_ratio:.3f} (median)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--stdio", type=int, default=20_000, help="stdio requests per round")
    parser.add_argument("--http", type=int, default=20_000, help="HTTP requests per round")
    parser.add_argument("--engine", type=int, default=20_000, help="in-process calls per round")
    parser.add_argument(
        "--transports",
        type=lambda text: text.split(","),
        default=["stdio", "http"],
        help="served transports to measure, comma-separated (default: stdio,http)",
    )
    parser.add_argument("--quick", action="store_true", help="one small round of each")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.reps, parsed.stdio, parsed.http, parsed.engine = 1, 2_000, 1_000, 2_000
    asyncio.run(main(parsed))
