"""OpenTelemetry traces (builtin/tracing.py): a span per request over stdio and HTTP, its
parent from ``_meta`` or the ``traceparent`` header, and the trace carried into proxied
backend calls over both transports. The servers trace to the SDK's in-memory exporter (the
``traced`` fixture plugin configures it, which turns tracing on by itself) and answer their
spans through a tool."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp_runner.client import Client

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES / "proxy"))

from helpers import HttpServer, mcp_runner  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def traced_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["PYTHONPATH"] = str(FIXTURES / "tracing")
    env["MCP_RUNNER_PLUGINS"] = "traced"
    return env


def stdio_client(*args: str, era: str) -> Client:
    return Client.stdio(
        mcp_runner(), ["serve", "--plugin", "traced", *args], env=traced_env(), era=era
    )


async def spans_of(client: Client, tool: str = "spans") -> dict[str, dict[str, Any]]:
    """The server's finished spans by name (the last of each name)."""
    return {span["name"]: span for span in json.loads((await client.call_tool(tool)).text)}


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_stdio_spans_and_parent_from_meta(era: str) -> None:
    async with stdio_client(era=era) as client:
        assert (
            await client.call_tool("echo", {"text": "hi"}, meta={"traceparent": TRACEPARENT})
        ).text == "hi"
        assert (await client.call_tool("fail")).is_error
        spans = await spans_of(client)
    echo = spans["tools/call echo"]
    assert echo["kind"] == "SERVER" and echo["status"] == "UNSET"
    assert (echo["trace_id"], echo["parent"]) == (TRACE_ID, PARENT_ID)
    attributes = echo["attributes"]
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["gen_ai.tool.name"] == "echo"
    assert attributes["mcp_runner.plugin"] == "traced"
    assert attributes["network.transport"] == "pipe"
    assert attributes["mcp.protocol.version"] == client.protocol_version
    assert attributes["jsonrpc.request.id"].isdigit()
    assert "mcp.session.id" not in attributes
    failed = spans["tools/call fail"]
    assert failed["parent"] is None and failed["trace_id"] != TRACE_ID
    assert failed["status"] == "ERROR" and failed["attributes"]["error.type"] == "tool_error"
    handshake = "initialize" if era == "legacy" else "server/discover"
    assert spans[handshake]["attributes"]["mcp.method.name"] == handshake


async def test_tracing_turned_off(tmp_path: Path) -> None:
    config = tmp_path / "mcp-runner.toml"
    config.write_text("[tracing]\nenabled = false\n")
    async with stdio_client("--config", str(config), era="modern") as client:
        await client.call_tool("echo", {"text": "hi"})
        assert await spans_of(client) == {}


@pytest.fixture(scope="module")
def traced_http(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = HttpServer(
        "--plugin", "traced", env=traced_env(), cwd=tmp_path_factory.mktemp("traced-http")
    )
    yield server
    server.stop()


async def test_http_spans_and_parent_from_header(traced_http: HttpServer) -> None:
    assert traced_http.url is not None
    async with Client.http(
        traced_http.url, headers={"traceparent": TRACEPARENT}, era="legacy"
    ) as client:
        await client.call_tool("echo", {"text": "hi"})
        spans = await spans_of(client)
        session_id = client.transport.session_id  # type: ignore[attr-defined]
    echo = spans["tools/call echo"]
    assert (echo["trace_id"], echo["parent"]) == (TRACE_ID, PARENT_ID)
    assert echo["attributes"]["network.transport"] == "tcp"
    assert echo["attributes"]["mcp.session.id"] == session_id


async def test_meta_wins_over_the_header(traced_http: HttpServer) -> None:
    assert traced_http.url is not None
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    async with Client.http(traced_http.url, headers={"traceparent": other}, era="modern") as client:
        await client.call_tool("echo", {"text": "x"}, meta={"traceparent": TRACEPARENT})
        echo = (await spans_of(client))["tools/call echo"]
    assert (echo["trace_id"], echo["parent"]) == (TRACE_ID, PARENT_ID)


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_trace_carried_into_proxied_calls(
    traced_http: HttpServer, tmp_path: Path, era: str
) -> None:
    """The front's span is the parent of each backend's span: in _meta over stdio, in _meta
    and the traceparent header over HTTP, whichever era each side speaks."""
    env = traced_env()
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        f"[proxy.servers.pipe]\ncommand = {json.dumps(mcp_runner())}\n"
        'args = ["serve", "--plugin", "traced"]\n'
        f'env = {{ PYTHONPATH = {json.dumps(env["PYTHONPATH"])}, MCP_RUNNER_PLUGINS = "traced" }}\n\n'
        f"[proxy.servers.web]\nurl = {json.dumps(traced_http.url)}\nera = {json.dumps(era)}\n"
    )
    async with stdio_client("--config", str(config), era=era) as client:
        await client.call_tool("pipe_echo", {"text": "a"})
        await client.call_tool("web_echo", {"text": "b"})
        front = await spans_of(client)
        pipe = await spans_of(client, "pipe_spans")
        carried = json.loads((await client.call_tool("web_carried_trace")).text)[-1]
        web = await spans_of(client, "web_spans")
    for name, backend in (("pipe_echo", pipe), ("web_echo", web)):
        ours, theirs = front[f"tools/call {name}"], backend["tools/call echo"]
        assert (theirs["trace_id"], theirs["parent"]) == (ours["trace_id"], ours["span_id"])
    ours = front["tools/call web_echo"]
    sent = f"00-{ours['trace_id']}-{ours['span_id']}-"
    assert carried["meta"] == carried["header"] and carried["meta"].startswith(sent)


async def test_api_alone_carries_the_incoming_trace(tmp_path: Path) -> None:
    """``enabled = true`` with the no-op provider (the API with no SDK): the front makes no
    span, and the trace a request brings goes on to the backend as it came."""
    env = traced_env()
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        "[tracing]\nenabled = true\n\n"
        f"[proxy.servers.pipe]\ncommand = {json.dumps(mcp_runner())}\n"
        'args = ["serve", "--plugin", "traced"]\n'
        f'env = {{ PYTHONPATH = {json.dumps(env["PYTHONPATH"])}, MCP_RUNNER_PLUGINS = "traced", '
        'TRACED_PROVIDER = "sdk" }\n'
    )
    env["TRACED_PROVIDER"] = "noop"
    args = ["serve", "--plugin", "traced", "--config", str(config)]
    async with Client.stdio(mcp_runner(), args, env=env, era="modern") as client:
        await client.call_tool("pipe_echo", {"text": "a"}, meta={"traceparent": TRACEPARENT})
        assert await spans_of(client) == {}
        echo = (await spans_of(client, "pipe_spans"))["tools/call echo"]
    assert (echo["trace_id"], echo["parent"]) == (TRACE_ID, PARENT_ID)


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A plain HTTP server on 127.0.0.1 that keeps what is POSTed to it (an OTLP/HTTP
    collector's side of the wire): its URL, and (path, content type, body) per POST."""
    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


async def test_enabled_exports_over_otlp(
    otlp_receiver: tuple[str, list[tuple[str, str, bytes]]], tmp_path: Path
) -> None:
    """``enabled = true`` with no provider configured: the SDK's, exporting over OTLP/HTTP to
    OTEL_EXPORTER_OTLP_ENDPOINT; what is still queued goes out when the server stops."""
    url, received = otlp_receiver
    config = tmp_path / "mcp-runner.toml"
    config.write_text("[tracing]\nenabled = true\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_RUNNER_", "OTEL_"))}
    env.update(
        PYTHONPATH=str(FIXTURES / "plugins"),
        MCP_RUNNER_PLUGINS="e2e_beta",
        OTEL_EXPORTER_OTLP_ENDPOINT=url,
    )
    args = ["serve", "--plugin", "e2e_beta", "--config", str(config)]
    async with Client.stdio(mcp_runner(), args, env=env, era="modern") as client:
        assert (await client.call_tool("shout", {"text": "hi"})).text == "HI"
    path, content_type, body = received[-1]
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"tools/call shout" in body and b"mcp-runner" in body
