"""Operations over real HTTP: /healthz and /readyz, Prometheus metrics at /metrics (on the
HTTP port and on a listener of their own), and the access log with its correlation id."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import http_helpers as h
import httpx
import pytest
from mcp_runner.builtin import proxy
from mcp_runner.runner import Runner
from mcp_runner.testing import make_runner
from mcp_runner.transports.http import McpHttpApp, Router

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
PROXY_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "proxy"


def call_add(client: httpx.Client, url: str, **headers: str) -> httpx.Response:
    request = h.modern_request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
    all_headers = {**h.modern_headers("tools/call", request["params"]), **headers}
    return client.post(url, json=request, headers={k: v for k, v in all_headers.items() if v})


def base(url: str) -> str:
    return url.rsplit("/", 1)[0]


def test_health_endpoints_answer_on_the_http_port() -> None:
    with h.ServerProcess() as server, httpx.Client(timeout=10) as client:
        alive = client.get(base(server.url) + "/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        ready = client.get(base(server.url) + "/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert body["components"]["server"] == {"state": "ok", "draining": False}
        assert "http_demo" in body["components"]["plugins"]["loaded"]
        assert ready.headers["cache-control"] == "no-store"


def test_metrics_count_requests_and_refusals() -> None:
    env = {"MCP_RUNNER_METRICS__ENABLED": "true"}
    with h.ServerProcess(env) as server, httpx.Client(timeout=10) as client:
        assert call_add(client, server.url).status_code == 200
        refused = client.post(
            server.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream", "Mcp-Session-Id": "gone"},
        )
        assert refused.status_code == 404
        scraped = client.get(base(server.url) + "/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        text = scraped.text
        assert (
            'mcp_runner_requests_total{method="tools/call",outcome="ok",plugin="http_demo",'
            'tool="add"} 1.0' in text
        )
        assert 'mcp_runner_request_duration_seconds_count{method="tools/call"} 1.0' in text
        assert 'mcp_runner_http_refusals_total{status="404"} 1.0' in text
        assert 'mcp_runner_plugin_up{plugin="http_demo",status="ok"} 1.0' in text
        assert "mcp_runner_requests_in_flight 0.0" in text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_on_their_own_address_and_summed_across_processes(tmp_path: Any) -> None:
    """[metrics] address moves /metrics off the HTTP port; with PROMETHEUS_MULTIPROC_DIR two
    servers (workers) sharing the directory are counted together."""
    port = free_port()
    shared = {"MCP_RUNNER_METRICS__ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with (
        h.ServerProcess({**shared, "MCP_RUNNER_METRICS__ADDRESS": f"127.0.0.1:{port}"}) as one,
        h.ServerProcess(shared) as two,
        httpx.Client(timeout=10) as client,
    ):
        assert client.get(base(one.url) + "/metrics").status_code == 404
        for server in (one, two):
            assert call_add(client, server.url).status_code == 200
        text = client.get(f"http://127.0.0.1:{port}/metrics").text
        assert (
            'mcp_runner_requests_total{method="tools/call",outcome="ok",plugin="http_demo",'
            'tool="add"} 2.0' in text
        )


def test_access_log_lines_with_the_correlation_id() -> None:
    env = {"MCP_RUNNER_LOG_LEVEL": "info", "MCP_RUNNER_LOG_FORMAT": "json"}
    with h.ServerProcess(env) as server, httpx.Client(timeout=10) as client:
        answered = call_add(client, server.url, **{"X-Request-Id": "order-7"})
        assert answered.headers["x-request-id"] == "order-7"
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        refused = client.get(
            base(server.url) + "/nowhere",
            headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        )
        assert refused.status_code == 404 and refused.headers["x-request-id"] == trace
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in server.stderr_lines if '"event": "http"' in line]
            if len(lines) >= 2:
                break
            time.sleep(0.05)
        by_id = {line["correlation_id"]: line for line in lines}
        call = by_id["order-7"]
        assert (call["method"], call["path"], call["status"]) == ("POST", "/mcp", 200)
        assert call["bytes"] == len(answered.content) and call["client"] == "127.0.0.1"
        assert call["duration_ms"] >= 0
        assert (by_id[trace]["path"], by_id[trace]["status"]) == ("/nowhere", 404)


def test_json_logs_carry_uvicorn_s_own_lines_as_json() -> None:
    """In JSON mode uvicorn's warnings (a malformed request here) are JSON lines too."""
    env = {"MCP_RUNNER_LOG_LEVEL": "info", "MCP_RUNNER_LOG_FORMAT": "json"}
    with h.ServerProcess(env) as server, httpx.Client(timeout=10) as client:
        client.get(base(server.url) + "/healthz")  # the log set-up is applied by now
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            sock.recv(1024)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "Invalid HTTP" not in server.stderr:
            time.sleep(0.05)
        logged = [line for line in server.stderr_lines if "mcp-runner: serving" not in line]
        events = [json.loads(line) for line in logged if line.strip()]
        invalid = [e for e in events if "Invalid HTTP" in e["event"]]
        assert invalid and invalid[0]["logger"] == "uvicorn.error"
        assert invalid[0]["level"] == "warning"


def test_readyz_reports_the_proxy_backends(tmp_path: Any) -> None:
    """The proxy's check: ok with every backend ready, degraded with one down (503 only with
    [health] ready_when_degraded = false); the metrics show each backend's state."""
    sys.path.insert(0, str(PROXY_FIXTURES))
    from helpers import demo_backend, eventually

    broken = {"command": sys.executable, "args": ["-c", "raise SystemExit(3)"]}
    restart = {"initial_delay": 5, "max_delay": 5}

    def runner_with(servers: dict[str, Any], **health: Any) -> Runner:
        return make_runner(
            settings={
                "proxy": {"servers": servers, "restart": restart},
                "health": health,
                "metrics": {"enabled": True},
            }
        )

    async def ready(runner: Runner) -> tuple[int, dict[str, Any], str]:
        router = Router(McpHttpApp(runner), "/mcp")
        transport = httpx.ASGITransport(app=router)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answer = await client.get("/readyz")
            scraped = await client.get("/metrics")
        return answer.status_code, answer.json(), scraped.text

    async def scenario() -> None:
        runner = runner_with({"demo": demo_backend(tmp_path)})
        async with runner.lifespan():
            await eventually(lambda: proxy.manager_of(runner).backends["demo"].state == "ready")
            status, body, scraped = await ready(runner)
            assert status == 200
            assert body["components"]["proxy"]["backends"] == {"demo": "ready"}
            assert body["components"]["proxy"]["state"] == "ok"
            assert (
                'mcp_runner_backend_up{backend="demo",plugin="proxy",state="ready"} 1.0' in scraped
            )

        for health, expected in (({}, 200), ({"ready_when_degraded": False}, 503)):
            runner = runner_with({"demo": demo_backend(tmp_path), "broken": broken}, **health)
            async with runner.lifespan():
                backends = proxy.manager_of(runner).backends
                await eventually(lambda b=backends: b["broken"].state in ("restarting", "failed"))
                status, body, scraped = await ready(runner)
                assert status == expected, body
                assert body["components"]["proxy"]["state"] == "degraded"
                assert body["components"]["proxy"]["down"] == ["broken"]
                assert 'mcp_runner_backend_up{backend="broken",plugin="proxy"' in scraped

    asyncio.run(scenario())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_metrics_and_access_log_of_an_sdk_session() -> None:
    """The official SDK's legacy session, seen by the metrics (its initialize, its tool call,
    the open session) and by the access log (each POST with its session id)."""
    from mcp import Client

    env = {
        "MCP_RUNNER_METRICS__ENABLED": "true",
        "MCP_RUNNER_LOG_LEVEL": "info",
        "MCP_RUNNER_LOG_FORMAT": "json",
    }
    with h.ServerProcess(env) as server, httpx.Client(timeout=10) as http:

        async def scenario() -> str:
            async with Client(server.url, mode="legacy") as client:  # type: ignore[arg-type]
                result = await client.call_tool("add", {"a": 2, "b": 3})
                assert not result.is_error
                return http.get(base(server.url) + "/metrics").text

        text = h.run(scenario())
        assert (
            'mcp_runner_requests_total{method="initialize",outcome="ok",plugin="",tool=""}' in text
        )
        assert (
            'mcp_runner_requests_total{method="tools/call",outcome="ok",plugin="http_demo",'
            'tool="add"} 1.0' in text
        )
        assert "mcp_runner_sessions_open 1.0" in text
        time.sleep(0.3)
        posts = [
            json.loads(line)
            for line in server.stderr_lines
            if '"event": "http"' in line and '"POST"' in line
        ]
        assert posts and all(post["status"] in (200, 202) for post in posts)
        assert posts[0]["session"] is not None  # initialize: the session its answer opened
        assert {post["session"] for post in posts} == {posts[0]["session"]}


def test_metrics_merge_components_that_share_a_name() -> None:
    """A tool replaced at run time by another of the same name is one series, its calls
    added up; with metrics off nothing is served at /metrics."""
    from mcp_runner.builtin.metrics import metrics_of

    async def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    runner = make_runner(settings={"metrics": {"enabled": True}})
    runner.add_tool(add, plugin="calc")
    asyncio.run(runner.call_tool("add", {"a": 1, "b": 2}))
    runner.registry.remove_tool("add")
    runner.add_tool(add, plugin="calc")
    asyncio.run(runner.call_tool("add", {"a": 1, "b": 2}))
    metrics = metrics_of(runner)
    assert metrics is not None
    text = metrics.exposition().decode()
    series = [line for line in text.splitlines() if line.startswith("mcp_runner_requests_total{")]
    assert series == [
        'mcp_runner_requests_total{method="tools/call",outcome="ok",plugin="calc",tool="add"} 2.0'
    ]
    assert metrics_of(make_runner()) is None


def test_invalid_operations_tables_fail_their_builtin_by_name() -> None:
    runner = make_runner(
        settings={"metrics": {"enabled": True, "address": "9464"}, "health": {"check_timeout": 0}}
    )
    metrics, health = runner.host.records["metrics"], runner.host.records["health"]
    assert (metrics.status, metrics.phase) == ("failed", "config")
    assert "[metrics]" in (metrics.error or "") and "host:port" in (metrics.error or "")
    assert health.status == "failed" and "[health]" in (health.error or "")


def gauge(text: str, name: str) -> float:
    """The value of an unlabelled metric in a Prometheus exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


def test_metrics_gauge_open_sse_streams_and_requests_in_flight() -> None:
    """A session's GET stream and a tools/call answered as a stream (waiting on an elicitation)
    are two open SSE streams and one request in flight; once the tool is answered and the GET
    stream is closed, both gauges are back to zero."""
    env = {"MCP_RUNNER_METRICS__ENABLED": "true"}

    async def scenario(server: h.ServerProcess) -> None:
        metrics_url = base(server.url) + "/metrics"
        async with httpx.AsyncClient(timeout=10) as client:

            async def scrape() -> str:
                return (await client.get(metrics_url)).text

            opened = await client.post(
                server.url,
                json=h.initialize_request(capabilities={"elicitation": {}}),
                headers=h.legacy_headers(),
            )
            session = opened.headers["mcp-session-id"]
            headers = h.legacy_headers(session)
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await client.post(server.url, json=initialized, headers=headers)
            assert gauge(await scrape(), "mcp_runner_sse_streams_open") == 0
            async with client.stream("GET", server.url, headers=headers) as standalone:
                standalone_events = h.AsyncSse(standalone)  # kept: dropping it ends the stream
                await standalone_events.next()  # the priming event: the stream is open
                assert gauge(await scrape(), "mcp_runner_sse_streams_open") == 1
                call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
                call["params"] = {"name": "ask_name", "arguments": {}}
                async with client.stream("POST", server.url, json=call, headers=headers) as asked:
                    events = h.AsyncSse(asked)
                    _, question = await events.next_message()
                    assert question["method"] == "elicitation/create"
                    text = await scrape()
                    assert gauge(text, "mcp_runner_sse_streams_open") == 2
                    assert gauge(text, "mcp_runner_requests_in_flight") == 1
                    answer = {"jsonrpc": "2.0", "id": question["id"]}
                    answer["result"] = {"action": "decline"}
                    await client.post(server.url, json=answer, headers=headers)
                    _, result = await events.next_message()
                    assert result["id"] == 7
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                text = await scrape()
                if gauge(text, "mcp_runner_sse_streams_open") == 0:
                    break
                await asyncio.sleep(0.05)
            assert gauge(text, "mcp_runner_sse_streams_open") == 0
            assert gauge(text, "mcp_runner_requests_in_flight") == 0

    with h.ServerProcess(env) as server:
        h.run(scenario(server))


def test_metrics_outcomes_each_their_series() -> None:
    """ok, tool_error (an isError result) and error (a JSON-RPC error: an unknown tool) are
    series of their own; the method's histogram counts them all, none is left in flight."""
    from mcp_runner import McpError, ToolError
    from mcp_runner.builtin.metrics import metrics_of

    async def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    async def refuse() -> str:
        """Fail as a tool."""
        raise ToolError("no")

    runner = make_runner(settings={"metrics": {"enabled": True}})
    runner.add_tool(add, plugin="calc")
    runner.add_tool(refuse, plugin="calc")

    async def calls() -> None:
        for _ in range(2):
            await runner.call_tool("add", {"a": 1, "b": 2})
        assert (await runner.call_tool("refuse", {})).get("isError")
        with pytest.raises(McpError):
            await runner.call_tool("nowhere", {})

    asyncio.run(calls())
    metrics = metrics_of(runner)
    assert metrics is not None
    text = metrics.exposition().decode()
    series = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mcp_runner_requests_total{")
    }
    assert series == {
        'mcp_runner_requests_total{method="tools/call",outcome="ok",plugin="calc",tool="add"}': 2,
        'mcp_runner_requests_total{method="tools/call",outcome="tool_error",plugin="calc",'
        'tool="refuse"}': 1,
        'mcp_runner_requests_total{method="tools/call",outcome="error",plugin="",tool=""}': 1,
    }
    assert 'mcp_runner_request_duration_seconds_count{method="tools/call"} 4.0' in text
    assert "mcp_runner_requests_in_flight 0.0" in text


def test_multiprocess_metrics_gauge_open_sse_streams(tmp_path: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, each worker writes its open SSE streams as its requests
    end: an open GET stream shows once another request has ended, and is gone after it."""
    env = {"MCP_RUNNER_METRICS__ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    async def scenario(server: h.ServerProcess) -> None:
        metrics_url = base(server.url) + "/metrics"
        async with httpx.AsyncClient(timeout=10) as client:
            opened = await client.post(
                server.url, json=h.initialize_request(), headers=h.legacy_headers()
            )
            headers = h.legacy_headers(opened.headers["mcp-session-id"])
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await client.post(server.url, json=initialized, headers=headers)
            async with client.stream("GET", server.url, headers=headers) as standalone:
                events = h.AsyncSse(standalone)  # kept: dropping it ends the stream
                await events.next()
                ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
                await client.post(server.url, json=ping, headers=headers)
                text = (await client.get(metrics_url)).text
                assert gauge(text, "mcp_runner_sse_streams_open") == 1
            deadline = time.monotonic() + 5
            while True:
                await client.post(server.url, json=ping, headers=headers)
                text = (await client.get(metrics_url)).text
                if gauge(text, "mcp_runner_sse_streams_open") == 0:
                    break
                assert time.monotonic() < deadline, "the closed stream is still counted"
                await asyncio.sleep(0.05)

    with h.ServerProcess(env) as server:
        h.run(scenario(server))
