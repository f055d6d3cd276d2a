"""Streamable HTTP through the official MCP Python SDK client (`mcp` 2.3.x) as a real client.

Each test runs in both connection modes of `mcp.Client`:

- ``mode="legacy"``: the initialize handshake (Mcp-Session-Id, 2025-11-25);
- ``mode="auto"`` (the default): `server/discover` first, which must pick 2026-07-28.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import warnings
from typing import Any

import pytest

mcp = pytest.importorskip("mcp", reason="the official MCP Python SDK (mcp>=2.3) is not installed")
import http_helpers as h  # noqa: E402  (tests/fixtures, on sys.path by conftest)
from mcp import Client  # noqa: E402
from mcp import types as mt  # noqa: E402
from mcp.shared.subscriptions import ToolsListChanged  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*deprecated.*"),
]
MODES = ["legacy", "auto"]
EXPECTED_VERSION = {"legacy": h.LEGACY, "auto": h.MODERN}
READ_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def server() -> Any:
    with h.ServerProcess() as proc:
        yield proc


def client_for(url: str, mode: str, **kwargs: Any) -> Client:
    return Client(url, mode=mode, read_timeout_seconds=READ_TIMEOUT, **kwargs)  # type: ignore[arg-type]


def text_of(result: Any) -> str:
    assert not getattr(result, "is_error", False), result
    return "".join(block.text for block in result.content if isinstance(block, mt.TextContent))


# ----------------------------------------------------------------------------------------------
# Negotiation, tools, resources, prompts


@pytest.mark.parametrize("mode", MODES)
def test_connect_negotiates_the_expected_era(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            assert client.server_info is not None and client.server_info.name == "mcp-runner"
            caps = client.server_capabilities
            assert (
                caps.tools is not None and caps.resources is not None and caps.prompts is not None
            )

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_list_and_call_tools(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode) as client:
            tools = await client.list_tools()
            names = {tool.name for tool in tools.tools}
            assert {
                "add",
                "echo",
                "progress",
                "chatty",
                "ask_name",
                "ask_model",
                "show_roots",
            } <= names
            add = next(t for t in tools.tools if t.name == "add")
            assert add.input_schema["required"] == ["a", "b"]

            result = await client.call_tool("add", {"a": 2, "b": 3})
            assert text_of(result) == "5"
            assert result.structured_content == {"result": 5}
            assert text_of(await client.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"

            bad = await client.call_tool("add", {"a": "not a number", "b": 1})
            assert bad.is_error

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_unknown_tool_is_a_protocol_error(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode) as client:
            with pytest.raises(mcp.MCPError) as caught:
                await client.call_tool("no_such_tool", {})
            assert caught.value.error.code == -32602

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_resources_fixed_and_templated(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode) as client:
            listed = await client.list_resources()
            assert [str(r.uri) for r in listed.resources] == ["demo://readme"]
            templates = await client.list_resource_templates()
            assert [t.uri_template for t in templates.resource_templates] == [
                "demo://items/{item_id}"
            ]

            fixed = await client.read_resource("demo://readme")
            assert fixed.contents[0].text == "HTTP demo readme."
            assert fixed.contents[0].mime_type == "text/plain"
            item = await client.read_resource("demo://items/2")
            assert json.loads(item.contents[0].text) == {"id": "2", "name": "two"}
            assert item.contents[0].mime_type == "application/json"

            with pytest.raises(mcp.MCPError) as caught:
                await client.read_resource("demo://nothing-here")
            # -32002 up to 2025-11-25; -32602 (SEP-2164) on the 2026-07-28 wire
            assert caught.value.error.code == (-32002 if mode == "legacy" else -32602)

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_prompts(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode) as client:
            prompts = await client.list_prompts()
            greet = next(p for p in prompts.prompts if p.name == "greet")
            assert [(a.name, a.required) for a in greet.arguments or []] == [("name", True)]
            got = await client.get_prompt("greet", {"name": "Bob"})
            assert [m.role for m in got.messages] == ["user", "assistant"]
            assert got.messages[0].content.text == "Hello, Bob!"

    h.run(scenario())


# ----------------------------------------------------------------------------------------------
# Progress and logging


@pytest.mark.parametrize("mode", MODES)
def test_progress_callback_receives_notifications(server: Any, mode: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def scenario() -> None:
        async with client_for(server.url, mode) as client:
            result = await client.call_tool("progress", {"steps": 4}, progress_callback=on_progress)
            assert text_of(result) == "counted to 4"

    h.run(scenario())
    assert [p for p, _, _ in seen] == [1, 2, 3, 4]
    assert all(total == 4 for _, total, _ in seen)
    assert seen[0][2] == "step 1 of 4"


def test_logging_callback_legacy_after_set_level(server: Any) -> None:
    logs: list[mt.LoggingMessageNotificationParams] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def scenario() -> None:
        async with client_for(server.url, "legacy", logging_callback=on_log) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await client.set_logging_level("debug")
            assert text_of(await client.call_tool("chatty", {})) == "chatted"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await client.set_logging_level("error")
            assert text_of(await client.call_tool("chatty", {})) == "chatted"

    h.run(scenario())
    assert [(m.level, m.logger) for m in logs] == [
        ("debug", "http_demo"),
        ("info", "http_demo"),
        ("warning", "http_demo"),
        ("error", "demo.custom"),
        ("error", "demo.custom"),
    ]
    assert logs[2].data == {"detail": "warning from chatty"}


def test_logging_callback_modern_with_log_level(server: Any) -> None:
    logs: list[mt.LoggingMessageNotificationParams] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def scenario() -> None:
        async with client_for(
            server.url, "auto", logging_callback=on_log, log_level="info"
        ) as client:
            assert client.protocol_version == h.MODERN
            assert text_of(await client.call_tool("chatty", {})) == "chatted"

    h.run(scenario())
    assert [m.level for m in logs] == ["info", "warning", "error"]


def test_modern_sends_no_logs_without_log_level(server: Any) -> None:
    logs: list[Any] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def scenario() -> None:
        async with client_for(server.url, "auto", logging_callback=on_log) as client:
            assert text_of(await client.call_tool("chatty", {})) == "chatted"

    h.run(scenario())
    assert logs == []


# ----------------------------------------------------------------------------------------------
# Asking the client: elicitation, sampling, roots


async def _accept_name(ctx: Any, params: Any) -> mt.ElicitResult:
    assert params.message == "What is your name?"
    assert params.requested_schema["properties"]["name"]["type"] == "string"
    return mt.ElicitResult(action="accept", content={"name": "Ada"})


async def _decline(ctx: Any, params: Any) -> mt.ElicitResult:
    return mt.ElicitResult(action="decline")


async def _sample(ctx: Any, params: Any) -> mt.CreateMessageResult:
    question = params.messages[0].content.text
    assert params.max_tokens == 64
    return mt.CreateMessageResult(
        role="assistant",
        content=mt.TextContent(type="text", text=f"answer to {question}"),
        model="test-model",
    )


async def _roots(ctx: Any) -> mt.ListRootsResult:
    return mt.ListRootsResult(
        roots=[mt.Root(uri="file:///tmp/alpha", name="alpha"), mt.Root(uri="file:///tmp/beta")]
    )


@pytest.mark.parametrize("mode", MODES)
def test_elicitation_end_to_end(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode, elicitation_callback=_accept_name) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            assert text_of(await client.call_tool("ask_name", {})) == "accept:Ada"
        async with client_for(server.url, mode, elicitation_callback=_decline) as client:
            assert text_of(await client.call_tool("ask_name", {})) == "decline:"

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_sampling_end_to_end(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode, sampling_callback=_sample) as client:
            result = await client.call_tool("ask_model", {"question": "capital of France?"})
            assert text_of(result) == "test-model:answer to capital of France?"

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_roots_end_to_end(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode, list_roots_callback=_roots) as client:
            result = await client.call_tool("show_roots", {})
            assert json.loads(text_of(result)) == ["file:///tmp/alpha", "file:///tmp/beta"]

    h.run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_asking_without_the_capability_fails(server: Any, mode: str) -> None:
    async def scenario() -> None:
        async with client_for(server.url, mode) as client:  # no elicitation callback: no capability
            try:
                result = await client.call_tool("ask_name", {})
            except mcp.MCPError as exc:
                assert exc.error.code in (-32602, -32021)
            else:
                assert result.is_error

    h.run(scenario())


# ----------------------------------------------------------------------------------------------
# Change notifications and resumption


def test_legacy_get_stream_delivers_tools_list_changed(server: Any) -> None:
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, mt.ToolListChangedNotification):
            changed.set()

    async def scenario() -> None:
        async with client_for(server.url, "legacy", message_handler=on_message) as client:
            await asyncio.sleep(0.2)  # the SDK opens its GET stream after the handshake
            name = "sdk_" + uuid.uuid4().hex[:8]
            assert text_of(await client.call_tool("add_tool", {"name": name})) == f"added {name}"
            await asyncio.wait_for(changed.wait(), 5)
            tools = await client.list_tools()
            assert name in {t.name for t in tools.tools}
            assert text_of(await client.call_tool(name, {})) == f"dynamic {name}"

    h.run(scenario())


def test_modern_listen_delivers_tools_list_changed(server: Any) -> None:
    async def scenario() -> None:
        async with (
            client_for(server.url, "auto") as client,
            client_for(server.url, "auto") as other,
        ):
            assert client.protocol_version == h.MODERN
            async with client.listen(tools_list_changed=True) as subscription:
                assert subscription.honored.tools_list_changed is True
                name = "sdk_" + uuid.uuid4().hex[:8]
                assert text_of(await other.call_tool("add_tool", {"name": name})) == f"added {name}"
                event = await asyncio.wait_for(subscription.__anext__(), 5)
                assert isinstance(event, ToolsListChanged)
            tools = await client.list_tools(cache_mode="refresh")
            assert name in {t.name for t in tools.tools}

    h.run(scenario())


def test_legacy_client_resumes_a_closed_stream(server: Any) -> None:
    """The SDK reconnects with Last-Event-ID after the server drops the POST stream."""

    async def scenario() -> None:
        async with client_for(server.url, "legacy") as client:
            result = await client.call_tool("resumable", {"tag": "sdk", "delay": 0.0})
            assert text_of(result) == "resumed sdk"
            result = await client.call_tool("resumable", {"tag": "sdk-live", "delay": 1.5})
            assert text_of(result) == "resumed sdk-live"
            assert text_of(await client.call_tool("echo", {"text": "after"})) == "after"

    h.run(scenario())
