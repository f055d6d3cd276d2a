"""The trace carried into the HTTP calls the server makes on its own, through the host's
`outgoing_http_client`: the introspection call that checks a request's token carries the
trace the request brought, and a bridged API's upstream call (the openapi plugin) is a child
of the request's span. A real upstream on 127.0.0.1 records each call's headers; the server
traces to the SDK's in-memory exporter (the ``traced`` fixture plugin)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_runner import outgoing_http_client
from mcp_runner.client import Client

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES / "proxy"))

from helpers import HttpServer  # noqa: E402

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
TOKEN = "opaque-token-for-the-trace-test"


class Upstream:
    """An authorization server's introspection endpoint and a tiny HTTP API with its OpenAPI
    description, on 127.0.0.1; `calls` holds (method, path, traceparent) of each request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.calls.append(("GET", self.path, self.headers.get("traceparent")))
                if self.path == "/openapi.json":
                    self.answer(upstream.description())
                elif self.path.startswith("/items/"):
                    self.answer({"id": self.path.rsplit("/", 1)[1]})
                else:
                    self.answer({"detail": "not found"}, 404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream.calls.append(("POST", self.path, self.headers.get("traceparent")))
                active = {"active": True, "sub": "alice", "exp": int(time.time()) + 300}
                self.answer(active)

            def answer(self, body: Any, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def description(self) -> dict[str, Any]:
        item = {
            "operationId": "get_item",
            "summary": "One item",
            "parameters": [
                {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "The item"}},
        }
        return {
            "openapi": "3.1.0",
            "info": {"title": "Items", "version": "1"},
            "servers": [{"url": self.url}],
            "paths": {"/items/{item_id}": {"get": item}},
        }

    def traceparents(self, method: str, prefix: str) -> list[str | None]:
        return [parent for m, path, parent in self.calls if m == method and path.startswith(prefix)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.e2e
@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_introspection_and_upstream_calls_carry_the_trace(
    upstream: Upstream, tmp_path: Path
) -> None:
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        "[auth.introspection]\n"
        f'endpoint = "{upstream.url}/introspect"\n'
        'client_id = "mcp"\nclient_secret = "introspection-secret"\n\n'
        f'[openapi.apis.items]\nspec = "{upstream.url}/openapi.json"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    env["PYTHONPATH"] = str(FIXTURES / "tracing")
    env["MCP_RUNNER_PLUGINS"] = "traced,openapi"
    server = HttpServer("--plugin", "traced", "--config", str(config), env=env, cwd=tmp_path)
    try:
        assert server.url is not None
        headers = {"authorization": f"Bearer {TOKEN}", "traceparent": TRACEPARENT}
        async with Client.http(server.url, headers=headers, era="modern") as client:
            tools = {tool.name for tool in await client.list_tools()}
            (get_item,) = [name for name in tools if name.endswith("get_item")]
            answered = await client.call_tool(get_item, {"item_id": "7"})
            assert not answered.is_error and '"7"' in answered.text, answered
            spans = {s["name"]: s for s in json.loads((await client.call_tool("spans")).text)}
    finally:
        server.stop()
    # The token was checked before any span of ours: the call carries the client's trace.
    assert upstream.traceparents("POST", "/introspect") == [TRACEPARENT]
    # The upstream call was made in the tool call's span: it is that span's child.
    call = spans[f"tools/call {get_item}"]
    assert call["trace_id"] == TRACE_ID
    sent = upstream.traceparents("GET", "/items/")
    assert sent == [f"00-{TRACE_ID}-{call['span_id']}-01"]
    # The description was fetched at start, in no trace.
    assert upstream.traceparents("GET", "/openapi.json") == [None]


@pytest.mark.anyio
async def test_outgoing_client_keeps_given_headers_and_hooks(upstream: Upstream) -> None:
    """Outside any trace nothing is added; a traceparent the caller sets is kept, and the
    caller's own request hooks run too."""
    from opentelemetry import context, propagate

    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with outgoing_http_client(event_hooks={"request": [hook]}) as client:
        await client.get(upstream.url + "/items/1")
        token = context.attach(propagate.extract({"traceparent": TRACEPARENT}))
        try:
            await client.get(upstream.url + "/items/2")
            own = f"00-{'1' * 32}-{'2' * 16}-01"
            await client.get(upstream.url + "/items/3", headers={"traceparent": own})
        finally:
            context.detach(token)
    assert upstream.traceparents("GET", "/items/") == [None, TRACEPARENT, own]
    assert seen == ["/items/1", "/items/2", "/items/3"]
