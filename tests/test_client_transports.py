"""`mcp_runner.client.Client` against real `mcp-runner serve` processes: stdio and Streamable
HTTP, in the legacy era, the 2026-07-28 era and `auto`; and the transports' failure paths."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_runner.client import Client, ConnectionClosed, McpClientError, Progress

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "proxy"
sys.path.insert(0, str(FIXTURES))
from helpers import HttpServer, demo_env, elicit, eventually, mcp_runner, sample  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
ERAS = ["legacy", "modern", "auto"]
HANDLERS: dict[str, Any] = {"elicitation": elicit, "sampling": sample, "roots": ["file:///r"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    server = HttpServer("--plugin", "proxy_demo")
    yield server
    server.stop()


def stdio_client(era: str, **options: Any) -> Client:
    return Client.stdio(
        mcp_runner(),
        ["serve", "--plugin", "proxy_demo"],
        env=demo_env(),
        inherit_env=False,
        era=era,
        **options,
    )


def make_client(transport: str, era: str, http_server: HttpServer, **options: Any) -> Client:
    if transport == "stdio":
        return stdio_client(era, **options)
    assert http_server.url is not None
    return Client.http(http_server.url, era=era, **options)


async def exercise(client: Client) -> None:
    """What every transport and era must do alike."""
    expected = "2025-11-25" if client.requested_era == "legacy" else "2026-07-28"
    assert client.protocol_version == expected
    assert client.server_info.name == "mcp-runner"
    names = {t.name for t in await client.list_tools()}
    assert {"add", "count", "ask_name", "ask_model", "show_roots"} <= names
    result = await client.call_tool("add", {"a": 20, "b": 22})
    assert result.structured_content == {"result": 42}
    steps: list[Progress] = []
    assert (
        await client.call_tool("count", {"steps": 3}, progress=steps.append)
    ).text == "counted 3"
    assert [p.progress for p in steps] == [1, 2, 3]
    assert (await client.call_tool("ask_name")).text == "accept:Ada"
    assert (await client.call_tool("ask_twice")).text == "Ada+Ada"
    assert (await client.call_tool("ask_model", {"question": "?"})).text == "test-model:hello"
    assert (await client.call_tool("show_roots")).text == '["file:///r"]'
    assert (await client.read_resource("demo://items/7")).text == '{"id":"7"}'
    assert (await client.get_prompt("greet", {"name": "Bo"})).messages[0].content[
        "text"
    ] == "Hi Bo!"
    assert (await client.complete({"type": "ref/prompt", "name": "greet"}, "name", "b")).values == [
        "bob"
    ]
    logs: list[Any] = []
    client.on_log = logs.append
    await client.set_logging_level("info")
    await client.call_tool("chatty")
    assert [m.level for m in logs] == ["info", "warning"]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_round_trip(transport: str, era: str, http_server: HttpServer) -> None:
    async with make_client(transport, era, http_server, **HANDLERS) as client:
        await exercise(client)


@pytest.mark.parametrize("era", ["legacy", "modern"])
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_cancellation_reaches_the_server(
    transport: str, era: str, http_server: HttpServer
) -> None:
    async with make_client(transport, era, http_server) as client:
        before = (await client.call_tool("cancelled")).structured_content["result"]
        started: list[Progress] = []
        task = asyncio.create_task(
            client.call_tool("slow", {"seconds": 30}, progress=started.append)
        )
        await eventually(lambda: started)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def grew() -> bool:
            now = (await client.call_tool("cancelled")).structured_content["result"]
            return len(now) > len(before)

        await eventually(grew)


async def test_http_legacy_resumes_a_dropped_stream(http_server: HttpServer) -> None:
    logs: list[Any] = []
    assert http_server.url is not None
    async with Client.http(http_server.url, era="legacy", on_log=logs.append) as client:
        result = await client.call_tool("resumable", {"tag": "t1"})
        assert result.text == "resumed t1"
        assert [m.data for m in logs] == ["before t1", "after t1"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_list_changed(transport: str, era: str, http_server: HttpServer) -> None:
    """Legacy HTTP: the GET stream; 2026-07-28: a subscriptions/listen stream."""
    changed: list[str] = []
    async with make_client(transport, era, http_server, on_list_changed=changed.append) as client:
        await asyncio.sleep(0.3)  # the GET stream / listen subscription opens
        await client.call_tool("grow", {"name": f"grown_{transport}_{era}"})
        await eventually(lambda: "tools" in changed)


async def test_http_modern_headers(http_server: HttpServer) -> None:
    """Mcp-Name carries the URI (base64 sentinel when it is not plain ASCII); the server checks."""
    assert http_server.url is not None
    async with Client.http(http_server.url, era="modern") as client:
        assert (await client.read_resource("demo://items/ünï")).text == '{"id":"ünï"}'
        assert (await client.read_resource("demo://items/ x ")).contents[
            0
        ].uri == "demo://items/ x "


async def test_auto_falls_back_to_initialize_for_a_legacy_only_server() -> None:
    client = Client.stdio(
        sys.executable, [str(FIXTURES / "one_era_server.py"), "legacy"], era="auto"
    )
    async with client:
        assert client.era == "legacy" and client.protocol_version == "2025-06-18"
        assert client.server_info.name == "legacy-only"
        assert (await client.call_tool("echo", {"text": "hi"})).text == "legacy hi"
        await client.ping()


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_prefer_legacy_picks_initialize_where_both_are_spoken(
    transport: str, http_server: HttpServer
) -> None:
    async with make_client(transport, "auto", http_server, prefer="legacy") as client:
        assert client.era == "legacy" and client.protocol_version == "2025-11-25"
        assert (await client.call_tool("echo", {"text": "x"})).text == "x"


async def test_prefer_legacy_falls_back_to_discover_for_a_modern_only_server() -> None:
    server = [str(FIXTURES / "one_era_server.py"), "modern"]
    async with Client.stdio(sys.executable, server, era="auto", prefer="legacy") as client:
        assert client.era == "modern" and client.protocol_version == "2026-07-28"
        assert client.server_info.name == "modern-only"
        assert (await client.call_tool("echo", {"text": "hi"})).text == "modern hi"


async def test_modern_against_a_legacy_only_server_fails_clearly() -> None:
    with pytest.raises(McpClientError) as info:
        async with Client.stdio(
            sys.executable, [str(FIXTURES / "one_era_server.py"), "legacy"], era="modern"
        ):
            pass
    assert info.value.code == -32601


async def test_stdio_server_exit_closes_the_client() -> None:
    async with stdio_client("legacy") as client:
        with pytest.raises(ConnectionClosed):
            await client.call_tool("crash", {"code": 3})
        reason = await asyncio.wait_for(client.wait_closed(), 5)
        assert "exited with code 3" in str(reason)
        with pytest.raises(ConnectionClosed):
            await client.call_tool("echo", {"text": "x"})


async def test_stdio_command_not_found() -> None:
    with pytest.raises(ConnectionClosed, match="cannot start"):
        async with Client.stdio("/nonexistent/mcp-server"):
            pass


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_http_server_gone(era: str) -> None:
    server = HttpServer("--plugin", "proxy_demo")
    assert server.url is not None
    try:
        async with Client.http(server.url, era=era) as client:
            assert (await client.call_tool("echo", {"text": "up"})).text == "up"
            server.stop()
            with pytest.raises(ConnectionClosed):
                await client.call_tool("echo", {"text": "down"})
            assert client.closed
    finally:
        server.stop()


async def test_http_unreachable() -> None:
    with pytest.raises(ConnectionClosed, match="cannot reach"):
        async with Client.http("http://127.0.0.1:9/mcp", era="auto"):
            pass


async def test_http_status_errors_are_client_errors(http_server: HttpServer) -> None:
    assert http_server.url is not None
    with pytest.raises(McpClientError) as info:
        async with Client.http(http_server.url.replace("/mcp", "/nope"), era="legacy"):
            pass
    assert info.value.data == {"status": 404}


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_served_client_fixture(mcp_served_client: Any, transport: str) -> None:
    async with mcp_served_client(
        "proxy_demo",
        transport=transport,
        only=["demo"],
        pythonpath=[FIXTURES],
        era="auto",
        **HANDLERS,
    ) as client:
        await exercise(client)
