"""`mcp_runner.client.Client` against small scripted HTTP servers (real sockets on 127.0.0.1)
that behave as the official conformance suite's client scenarios do: a server without
sessions, one that answers any method with ``{}``, one that refuses the first request's
version, one that lists tools with invalid ``x-mcp-header`` annotations, one that asks for
an elicitation with defaults."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mcp_runner.client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

LATEST = "2026-07-28"
# (method, body) -> (status, answer dict or None for an empty body)
Script = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any] | None]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ScriptedServer:
    """An HTTP server answering each POST with `script` and each GET with 404; it records
    (HTTP method, JSON-RPC method) of every request."""

    def __init__(self, script: Script) -> None:
        self.seen: list[tuple[str, str | None]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                seen.append(("GET", None))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_DELETE(self) -> None:
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append(("POST", body.get("method")))
                status, answer = script(body.get("method", ""), body)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                if answer is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mcp"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def result(body: dict[str, Any], value: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"jsonrpc": "2.0", "id": body.get("id"), "result": value}


def legacy_without_sessions(method: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A legacy server with no sessions that answers every unknown method with ``{}``."""
    if "id" not in body:
        return 202, None
    if method == "initialize":
        version = body["params"]["protocolVersion"]
        return result(
            body,
            {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "scripted", "version": "1"},
            },
        )
    if method == "tools/list":
        return result(body, {"tools": [{"name": "add", "inputSchema": {"type": "object"}}]})
    if method == "tools/call":
        return result(body, {"content": [{"type": "text", "text": "3"}]})
    return result(body, {})


async def test_a_404_on_the_get_stream_of_a_server_without_sessions_is_no_stream(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(legacy_without_sessions)
    async with Client.http(server.url, era="legacy") as client:
        for _ in range(100):  # the GET stream is opened in the background
            if ("GET", None) in server.seen:
                break
            await asyncio.sleep(0.01)
        assert ("GET", None) in server.seen
        assert (await client.call_tool("add", {"a": 1, "b": 2})).text == "3"
        assert not client.closed


async def test_auto_takes_an_empty_discover_answer_as_a_legacy_server(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(legacy_without_sessions)
    async with Client.http(server.url, era="auto") as client:
        assert client.era == "legacy" and client.protocol_version == "2025-11-25"
        assert [m for _, m in server.seen][:2] == ["server/discover", "initialize"]
        assert [t.name for t in await client.list_tools()] == ["add"]


def refuses_first_version(method: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A 2026-07-28 server that refuses the first request's version, naming 2026-07-28."""
    refuse = refuses_first_version.first  # type: ignore[attr-defined]
    refuses_first_version.first = False  # type: ignore[attr-defined]
    if refuse:
        return 400, {
            "jsonrpc": "2.0",
            "id": body.get("id"),
            "error": {
                "code": -32022,
                "message": "Unsupported protocol version",
                "data": {"supported": [LATEST], "requested": LATEST},
            },
        }
    if method == "server/discover":
        return result(
            body,
            {
                "supportedVersions": [LATEST],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "modern", "version": "1"},
            },
        )
    return result(body, {"tools": []})


async def test_discover_is_sent_again_when_refused_with_a_version_list_naming_ours(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    refuses_first_version.first = True  # type: ignore[attr-defined]
    server = serve(refuses_first_version)
    async with Client.http(server.url, era="auto") as client:
        assert client.era == "modern"
        assert [m for _, m in server.seen] == ["server/discover", "server/discover"]
        assert await client.list_tools() == []


def tool(name: str, **props: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "inputSchema": {"type": "object", "properties": props}}


HEADER_TOOLS = [
    tool(
        "valid",
        region={"type": "string", "x-mcp-header": "Region"},
        on={"type": "boolean", "x-mcp-header": "On"},
    ),
    tool("empty", v={"type": "string", "x-mcp-header": ""}),
    tool("number", v={"type": "number", "x-mcp-header": "Score"}),
    tool("object", v={"type": "object", "x-mcp-header": "Data"}),
    tool("space", v={"type": "string", "x-mcp-header": "My Region"}),
    tool("colon", v={"type": "string", "x-mcp-header": "Region:Primary"}),
    tool("accent", v={"type": "string", "x-mcp-header": "Région"}),
    tool(
        "twice",
        a={"type": "string", "x-mcp-header": "MyField"},
        b={"type": "string", "x-mcp-header": "myfield"},
    ),
]


def lists_header_tools(method: str, body: dict[str, Any]) -> tuple[int, Any]:
    if method == "server/discover":
        return result(
            body,
            {
                "supportedVersions": [LATEST],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "modern", "version": "1"},
            },
        )
    if method == "initialize":
        return result(
            body,
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "legacy", "version": "1"},
            },
        )
    if "id" not in body:
        return 202, None
    return result(body, {"tools": HEADER_TOOLS})


async def test_tools_with_invalid_header_annotations_are_left_out_on_2026_07_28(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(lists_header_tools)
    async with Client.http(server.url, era="modern") as client:
        assert [t.name for t in await client.list_tools()] == ["valid"]
        assert sorted(client.rejected_tools) == sorted(t["name"] for t in HEADER_TOOLS[1:])
        assert "not an HTTP header name" in client.rejected_tools["space"]
        assert "'number'" in client.rejected_tools["number"]
        assert "repeats" in client.rejected_tools["twice"]
    async with Client.http(server.url, era="legacy") as client:  # no such headers there
        assert len(await client.list_tools()) == len(HEADER_TOOLS)
        assert client.rejected_tools == {}


async def test_an_accepted_elicitation_gets_the_schema_defaults_the_handler_left_out(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "plain": {"type": "string"},
        },
    }

    def asks(method: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "server/discover":
            return result(
                body,
                {
                    "supportedVersions": [LATEST],
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "asks", "version": "1"},
                },
            )
        answers = body["params"].get("inputResponses")
        if answers is None:
            return result(
                body,
                {
                    "resultType": "input_required",
                    "inputRequests": {
                        "who": {
                            "method": "elicitation/create",
                            "params": {"message": "who?", "requestedSchema": schema},
                        }
                    },
                },
            )
        text = json.dumps(answers["who"], sort_keys=True)
        return result(body, {"content": [{"type": "text", "text": text}]})

    async def keep_my_name(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    server = serve(asks)
    async with Client.http(server.url, era="modern", elicitation=keep_my_name) as client:
        answer = json.loads((await client.call_tool("who", {})).text)
        assert answer == {"action": "accept", "content": {"name": "Ada", "age": 30}}
