"""End-to-end over stdio with the official MCP Python SDK client (mcp 2.3.0).

The server runs behind tests/fixtures/wiretap.py, so after each session every message the
server wrote is validated against the schema of its protocol version as well.

Choosing the handshake version: `Client(mode="legacy")` always offers the SDK's latest
handshake version (2025-11-25) and exposes no option to offer another. The lower-level
`ClientSession` can: `send_request(InitializeRequest(...))` with the version we want, then
`adopt(result)` and `notifications/initialized` - the same steps `ClientSession.initialize()`
takes, through its public methods. So the per-version tests use `ClientSession`, and
`Client` is tested in legacy mode (2025-11-25) and in its default `auto` mode, which
discovers the 2026-07-28 era.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, ClientSession, MCPError, stdio_client

pytestmark = pytest.mark.e2e

if TYPE_CHECKING:
    from conftest import SdkServer

LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSION = "2026-07-28"
ALL_TOOLS = {
    "echo",
    "add",
    "count_up",
    "slow",
    "chatty",
    "explode",
    "refuse",
    "noisy",
    "grow",
    "touch",
    "multiply",
    "shout",
}
INVALID_PARAMS = -32602
SESSION_TIMEOUT = 20.0  # a whole session; each step is far quicker


def run(fn: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(SESSION_TIMEOUT):
            await fn()

    anyio.run(bounded)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


@asynccontextmanager
async def legacy_session(
    server: SdkServer, version: str, **callbacks: Any
) -> AsyncIterator[ClientSession]:
    """A `ClientSession` over stdio whose handshake offers `version`."""
    async with (
        stdio_client(server.params) as (read, write),
        ClientSession(read, write, **callbacks) as session,
    ):
        result = await session.send_request(
            types.InitializeRequest(
                params=types.InitializeRequestParams(
                    protocol_version=version,
                    capabilities=types.ClientCapabilities(),
                    client_info=types.Implementation(name="mcp-runner-e2e-sdk", version="0.0.1"),
                )
            ),
            types.InitializeResult,
        )
        assert result.protocol_version == version
        assert result.server_info.name == "mcp-runner"
        session.adopt(result)
        await session.send_notification(types.InitializedNotification())
        assert session.protocol_version == version
        yield session


def assert_wire_valid(server: SdkServer, version: str) -> list[Any]:
    """Every server message on the wire is schema-valid; all of them in `version`."""
    checked = server.wire.validate()
    assert checked, "nothing recorded on the wire"
    assert {v for v, _ in checked} == {version}
    return [m for _, m in checked]


# ---------------------------------------------------------------------------------------------
# Legacy era: each handshake version through ClientSession


async def core_flows(session: Any) -> None:
    """Tools of both plugins, resources fixed and templated, prompts, completion."""
    tools = await session.list_tools()
    assert {t.name for t in tools.tools} == ALL_TOOLS

    echoed = await session.call_tool("echo", {"text": "from the sdk"})
    assert text_of(echoed) == "from the sdk"
    assert not echoed.is_error
    shouted = await session.call_tool("shout", {"text": "beta"})  # the other plugin
    assert text_of(shouted) == "BETA"
    added = await session.call_tool("add", {"a": 20, "b": 22})
    assert text_of(added) == "42"
    product = await session.call_tool("multiply", {"a": 3, "b": 0.5})
    assert text_of(product) == "1.5"

    resources = await session.list_resources()
    assert {str(r.uri) for r in resources.resources} == {"e2e://alpha/readme", "e2e://beta/config"}
    templates = await session.list_resource_templates()
    assert {t.uri_template for t in templates.resource_templates} == {
        "e2e://alpha/items/{item_id}",
        "e2e://beta/users/{user}/notes/{note}",
    }
    readme = await session.read_resource("e2e://alpha/readme")
    assert readme.contents[0].text == "Alpha readme: the first e2e test plugin."
    assert readme.contents[0].mime_type == "text/plain"
    item = await session.read_resource("e2e://alpha/items/2")
    assert json.loads(item.contents[0].text) == {"id": "2", "name": "two"}
    note = await session.read_resource("e2e://beta/users/grace/notes/7")
    assert note.contents[0].text == "note 7 of grace"

    prompts = await session.list_prompts()
    assert {p.name for p in prompts.prompts} == {"greet", "summarize"}
    greet = next(p for p in prompts.prompts if p.name == "greet")
    assert [(a.name, a.required) for a in greet.arguments or []] == [
        ("name", True),
        ("style", False),
    ]
    got = await session.get_prompt("greet", {"name": "Ada", "style": "formal"})
    assert [(m.role, m.content.text) for m in got.messages] == [
        ("user", "Good day, Ada."),
        ("assistant", "(formal greeting)"),
    ]
    summary = await session.get_prompt("summarize", {"topic": "stdio"})
    assert summary.messages[0].content.text == "Please summarize stdio."

    completion = await session.complete(
        types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": "al"}
    )
    assert completion.completion.values == ["alice", "albert"]


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_legacy_core_flows_in_each_version(
    sdk_stdio: Callable[..., SdkServer], version: str
) -> None:
    server = sdk_stdio()

    async def main() -> None:
        async with legacy_session(server, version) as session:
            await core_flows(session)

    run(main)
    messages = assert_wire_valid(server, version)
    assert messages[0]["result"]["protocolVersion"] == version


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_legacy_progress_and_errors_in_each_version(
    sdk_stdio: Callable[..., SdkServer], version: str
) -> None:
    server = sdk_stdio()
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def main() -> None:
        async with legacy_session(server, version) as session:
            result = await session.call_tool(
                "count_up", {"steps": 3}, progress_callback=on_progress
            )
            assert text_of(result) == "counted to 3"
            failed = await session.call_tool("explode", {"reason": "sdk"})
            assert failed.is_error
            assert "exploded: sdk" in text_of(failed)
            bad = await session.call_tool("add", {"a": "x", "b": 1})
            assert bad.is_error
            assert "a:" in text_of(bad)
            with pytest.raises(MCPError) as unknown:
                await session.call_tool("no_such_tool", {})
            assert unknown.value.code == INVALID_PARAMS
            assert text_of(await session.call_tool("echo", {"text": "still here"})) == "still here"

    run(main)
    assert seen == [(i, 3, f"step {i} of 3") for i in (1, 2, 3)]
    assert_wire_valid(server, version)


@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
def test_legacy_logging_callback_honours_the_level(sdk_stdio: Callable[..., SdkServer]) -> None:
    server = sdk_stdio()
    logged: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(params)

    async def main() -> None:
        async with legacy_session(server, "2025-11-25", logging_callback=on_log) as session:
            await session.set_logging_level("warning")
            await session.call_tool("chatty", {})
            await session.set_logging_level("debug")
            await session.call_tool("chatty", {})
            await session.send_ping()  # notifications are delivered in order, before this answer

    run(main)
    assert [p.level for p in logged] == ["warning", "error", "debug", "info", "warning", "error"]
    assert logged[0].data == {"detail": "warning from chatty"}
    assert logged[1].logger == "alpha.custom"
    assert_wire_valid(server, "2025-11-25")


async def cancel_slow_then_call_fast(session: Any) -> float:
    """Start `slow`, cancel it (anyio cancel scope) once it runs, then time a fast call."""
    started = anyio.Event()
    outcome: dict[str, Any] = {}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message == "started":
            started.set()

    async def slow_call(scope: anyio.CancelScope) -> None:
        with scope:
            outcome["result"] = await session.call_tool(
                "slow", {"seconds": 30}, progress_callback=on_progress
            )
        outcome["cancelled"] = scope.cancelled_caught

    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()
        tg.start_soon(slow_call, scope)
        with anyio.fail_after(5):
            await started.wait()
        scope.cancel()
    assert outcome == {"cancelled": True}
    began = time.monotonic()
    result = await session.call_tool("echo", {"text": "right away"})
    elapsed = time.monotonic() - began
    assert text_of(result) == "right away"
    # no late answer to the cancelled call disturbs the session
    assert text_of(await session.call_tool("echo", {"text": "again"})) == "again"
    return elapsed


def assert_cancelled_on_the_wire(server: SdkServer) -> None:
    """The client sent notifications/cancelled for the slow call; the server never answered it."""
    requests = {m["id"]: m for m in server.wire.client_messages() if "id" in m and "method" in m}
    slow_ids = [
        i
        for i, m in requests.items()
        if m["method"] == "tools/call" and m["params"]["name"] == "slow"
    ]
    assert len(slow_ids) == 1
    cancels = [
        m
        for m in server.wire.client_messages()
        if m.get("method") == "notifications/cancelled" and m["params"]["requestId"] == slow_ids[0]
    ]
    assert cancels, "the SDK sent no notifications/cancelled"
    answered = {m.get("id") for m in server.wire.server_messages() if "method" not in m}
    assert slow_ids[0] not in answered


@pytest.mark.parametrize("version", ["2024-11-05", "2025-11-25"])
def test_legacy_cancelled_call_then_next_call_answered_at_once(
    sdk_stdio: Callable[..., SdkServer], version: str
) -> None:
    server = sdk_stdio()
    elapsed: list[float] = []

    async def main() -> None:
        async with legacy_session(server, version) as session:
            elapsed.append(await cancel_slow_then_call_fast(session))

    run(main)
    assert elapsed[0] < 2
    assert_cancelled_on_the_wire(server)
    assert_wire_valid(server, version)


# ---------------------------------------------------------------------------------------------
# The high-level Client


def test_client_legacy_mode(sdk_stdio: Callable[..., SdkServer]) -> None:
    """`Client(mode="legacy")`: the handshake at the SDK's own version, 2025-11-25."""
    server = sdk_stdio()
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def main() -> None:
        async with Client(server.params, mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            assert client.server_info is not None and client.server_info.name == "mcp-runner"
            await core_flows(client)
            await client.call_tool("count_up", {"steps": 2}, progress_callback=on_progress)
            elapsed = await cancel_slow_then_call_fast(client)
            assert elapsed < 2

    run(main)
    assert seen == [1, 2]
    assert_cancelled_on_the_wire(server)
    assert_wire_valid(server, "2025-11-25")


@pytest.mark.parametrize("mode", ["auto", MODERN_VERSION])
def test_client_modern_mode_lists_and_calls_tools(
    sdk_stdio: Callable[..., SdkServer], mode: str
) -> None:
    """The default `auto` mode discovers the 2026-07-28 era; `mode="2026-07-28"` pins it."""
    server = sdk_stdio()

    async def main() -> None:
        async with Client(server.params, mode=mode) as client:
            assert client.protocol_version == MODERN_VERSION
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == ALL_TOOLS
            added = await client.call_tool("add", {"a": 2, "b": 3})
            assert text_of(added) == "5"
            assert added.structured_content == {"result": 5}
            assert text_of(await client.call_tool("shout", {"text": "modern"})) == "MODERN"
            failed = await client.call_tool("explode", {})
            assert failed.is_error

    run(main)
    methods = [m.get("method") for m in server.wire.client_messages()]
    assert "initialize" not in methods
    if mode == "auto":
        assert methods[0] == "server/discover"
    assert_wire_valid(server, MODERN_VERSION)


def test_client_modern_mode_resources_prompts_progress_cancel(
    sdk_stdio: Callable[..., SdkServer],
) -> None:
    server = sdk_stdio()
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async def main() -> None:
        async with Client(server.params) as client:
            assert client.protocol_version == MODERN_VERSION
            readme = await client.read_resource("e2e://alpha/readme")
            assert readme.contents[0].text.startswith("Alpha readme")
            item = await client.read_resource("e2e://alpha/items/1")
            assert json.loads(item.contents[0].text) == {"id": "1", "name": "one"}
            templates = await client.list_resource_templates()
            assert len(templates.resource_templates) == 2
            got = await client.get_prompt("summarize", {"topic": "eras"})
            assert got.messages[0].content.text == "Please summarize eras."
            await client.call_tool("count_up", {"steps": 2}, progress_callback=on_progress)
            elapsed = await cancel_slow_then_call_fast(client)
            assert elapsed < 2

    run(main)
    assert seen == [(1, 2, "step 1 of 2"), (2, 2, "step 2 of 2")]
    assert_cancelled_on_the_wire(server)
    assert_wire_valid(server, MODERN_VERSION)
