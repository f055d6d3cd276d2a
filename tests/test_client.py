"""`mcp_runner.client.Client` against a Runner in this process (the in-process transport), in
both protocol eras; the `mcp_client` fixture of `mcp_runner.testing` provides the connection."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_runner.client import (
    CallToolResult,
    Client,
    ConnectionClosed,
    Interrupted,
    LogMessage,
    McpClientError,
    Progress,
    RequestInfo,
    RequestTimeout,
)
from mcp_runner.testing import make_runner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "proxy"))
import proxy_demo
from helpers import NAME_ANSWER, elicit, eventually, sample

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "modern"]
DEMO_TOOLS = {
    "echo",
    "add",
    "point",
    "fail",
    "count",
    "chatty",
    "slow",
    "cancelled",
    "ask_name",
    "ask_twice",
    "ask_model",
    "show_roots",
    "resumable",
    "grow",
    "pid",
    "crash",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("era", ERAS)
async def test_handshake_and_server_info(mcp_client: Any, era: str) -> None:
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        assert client.era == era
        assert client.protocol_version == ("2025-11-25" if era == "legacy" else "2026-07-28")
        assert client.server_info.name == "mcp-runner"
        assert "tools" in client.server_capabilities
        await client.ping()


@pytest.mark.parametrize("era", ERAS)
async def test_tools(mcp_client: Any, era: str) -> None:
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        tools = {t.name: t for t in await client.list_tools()}
        assert set(tools) == DEMO_TOOLS
        assert tools["add"].input_schema["required"] == ["a", "b"]
        assert tools["echo"].description == "Return the text unchanged."
        assert tools["point"].output_schema is not None
        result = await client.call_tool("add", {"a": 2, "b": 3})
        assert isinstance(result, CallToolResult)
        assert (result.text, result.structured_content, result.is_error) == (
            "5",
            {"result": 5},
            False,
        )
        point = await client.call_tool("point", {"x": 1, "y": 2})
        assert point.structured_content == {"x": 1, "y": 2}
        failed = await client.call_tool("fail", {"message": "nope"})
        assert failed.is_error and failed.text == "nope"
        with pytest.raises(McpClientError) as info:
            await client.call_tool("no_such_tool")
        assert info.value.code == -32602
        assert "no_such_tool" in info.value.message


@pytest.mark.parametrize("era", ERAS)
async def test_resources_prompts_completions(mcp_client: Any, era: str) -> None:
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        resources = await client.list_resources()
        assert [r.uri for r in resources] == ["demo://readme"]
        assert resources[0].mime_type == "text/plain"
        templates = await client.list_resource_templates()
        assert [t.uri_template for t in templates] == ["demo://items/{item_id}"]
        read = await client.read_resource("demo://readme")
        assert read.text == "Demo readme." and read.contents[0].mime_type == "text/plain"
        assert (await client.read_resource("demo://items/42")).text == '{"id":"42"}'
        prompts = await client.list_prompts()
        assert prompts[0].name == "greet"
        assert [(a.name, a.required) for a in prompts[0].arguments] == [
            ("name", True),
            ("style", False),
        ]
        got = await client.get_prompt("greet", {"name": "Ada", "style": "formal"})
        assert got.messages[0].role == "user"
        assert got.messages[0].content == {"type": "text", "text": "Good day, Ada."}
        completion = await client.complete(prompts[0], "name", "al")
        assert completion.values == ["alice", "albert"]
        styles = await client.complete({"type": "ref/prompt", "name": "greet"}, "style", "f")
        assert styles.values == ["formal"]


@pytest.mark.parametrize("era", ERAS)
async def test_pagination_is_automatic(mcp_client: Any, era: str) -> None:
    async with mcp_client(
        proxy_demo.plugin, era=era, settings={"server": {"page_size": 3}}
    ) as client:
        raw = await client.request("tools/list")
        assert len(raw["tools"]) == 3 and "nextCursor" in raw
        assert {t.name for t in await client.list_tools()} == DEMO_TOOLS


@pytest.mark.parametrize("era", ERAS)
async def test_progress_per_call(mcp_client: Any, era: str) -> None:
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        seen: list[Progress] = []
        result = await client.call_tool("count", {"steps": 3}, progress=seen.append)
        assert result.text == "counted 3"
        assert [(p.progress, p.total, p.message) for p in seen] == [
            (1, 3, "step 1"),
            (2, 3, "step 2"),
            (3, 3, "step 3"),
        ]
        quiet: list[Progress] = []
        await client.call_tool("count", {"steps": 2})  # no callback: no token, nothing routed
        assert quiet == []


@pytest.mark.parametrize("era", ERAS)
async def test_log_messages(mcp_client: Any, era: str) -> None:
    logs: list[LogMessage] = []
    async with mcp_client(proxy_demo.plugin, era=era, on_log=logs.append) as client:
        await client.set_logging_level("debug")
        await client.call_tool("chatty")
        assert [(m.level, m.data) for m in logs] == [
            ("debug", "debug line"),
            ("info", "info line"),
            ("warning", {"detail": "warning line"}),
        ]
        logs.clear()
        await client.set_logging_level("warning")
        await client.call_tool("chatty")
        assert [m.level for m in logs] == ["warning"]


@pytest.mark.parametrize("era", ERAS)
async def test_elicitation_sampling_roots_handlers(mcp_client: Any, era: str) -> None:
    infos: list[RequestInfo] = []

    async def elicit_with_info(params: dict[str, Any], info: RequestInfo) -> dict[str, Any]:
        infos.append(info)
        assert params["requestedSchema"]["required"] == ["name"]
        return NAME_ANSWER

    def roots(info: RequestInfo) -> list[Any]:
        return ["file:///work", {"uri": "file:///tmp", "name": "tmp"}]

    async with mcp_client(
        proxy_demo.plugin, era=era, elicitation=elicit_with_info, sampling=sample, roots=roots
    ) as client:
        assert (await client.call_tool("ask_name", tag="mine")).text == "accept:Ada"
        assert infos[0].method == "elicitation/create" and infos[0].tag == "mine"
        assert (await client.call_tool("ask_twice")).text == "Ada+Ada"
        assert (await client.call_tool("ask_model", {"question": "hi?"})).text == "test-model:hello"
        assert (await client.call_tool("show_roots")).text == '["file:///work", "file:///tmp"]'


@pytest.mark.parametrize("era", ERAS)
async def test_capabilities_are_declared_only_for_given_handlers(mcp_client: Any, era: str) -> None:
    async with mcp_client(proxy_demo.plugin, era=era, elicitation=elicit) as client:
        assert client._questions.capabilities() == {"elicitation": {}}
        with pytest.raises(McpClientError) as info:
            await client.call_tool("ask_model", {"question": "?"})
        assert info.value.code == (-32602 if era == "legacy" else -32021)


@pytest.mark.parametrize("era", ERAS)
async def test_list_changed_callback(mcp_client: Any, era: str) -> None:
    changed: list[str] = []
    async with mcp_client(proxy_demo.plugin, era=era, on_list_changed=changed.append) as client:
        if era == "modern":  # the listen subscription must be acknowledged first
            await eventually(
                lambda: client._listen_task is not None and len(client._requests.pending) == 1
            )
        await client.call_tool("grow", {"name": f"grown_{era}"})
        await eventually(lambda: "tools" in changed)
        assert f"grown_{era}" in {t.name for t in await client.list_tools()}


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_the_awaiting_task_cancels_the_request(mcp_client: Any, era: str) -> None:
    proxy_demo.CANCELLED.clear()
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        started: list[Progress] = []
        task = asyncio.create_task(
            client.call_tool("slow", {"seconds": 30}, progress=started.append)
        )
        await eventually(lambda: started)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: proxy_demo.CANCELLED)


@pytest.mark.parametrize("era", ERAS)
async def test_started_requests(mcp_client: Any, era: str) -> None:
    proxy_demo.CANCELLED.clear()
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        steps: list[Progress] = []
        done: list[Any] = []
        counting = await client.start(
            "tools/call", {"name": "count", "arguments": {"steps": 3}}, progress=steps.append
        )
        counting.add_done_callback(done.append)
        assert (await counting)["content"][0]["text"] == "counted 3"
        assert counting.done() and done == [counting] and len(steps) == 3
        assert counting.result()["content"][0]["text"] == "counted 3"
        assert not client._requests.pending and not client._requests.progress  # nothing left behind

        unknown = await client.start("tools/call", {"name": "nope", "arguments": {}})
        await eventually(unknown.done)
        with pytest.raises(McpClientError, match="nope"):
            unknown.result()

        started: list[Progress] = []
        sleeping = await client.start(
            "tools/call", {"name": "slow", "arguments": {"seconds": 30}}, progress=started.append
        )
        await eventually(lambda: started)
        assert not sleeping.done() and sleeping.cancel()
        await eventually(lambda: proxy_demo.CANCELLED)  # withdrawn at the server
        with pytest.raises(asyncio.CancelledError):
            sleeping.result()
        assert not sleeping.cancel()  # once

        napping = await client.start("tools/call", {"name": "slow", "arguments": {"seconds": 0.3}})
        waiter = asyncio.create_task(_await(napping))
        await asyncio.sleep(0.05)
        assert napping.interrupt() and not napping.done()
        with pytest.raises(Interrupted):
            await waiter
        assert (await napping)["content"][0]["text"] == "slept 0.3"  # the request went on
        assert not napping.interrupt()


async def _await(outstanding: Any) -> Any:
    return await outstanding


@pytest.mark.parametrize("era", ERAS)
async def test_timeout_raises_and_cancels(mcp_client: Any, era: str) -> None:
    proxy_demo.CANCELLED.clear()
    async with mcp_client(proxy_demo.plugin, era=era) as client:
        with pytest.raises(RequestTimeout) as info:
            await client.call_tool("slow", {"seconds": 30}, timeout=0.2)
        assert info.value.method == "tools/call"
        await eventually(lambda: proxy_demo.CANCELLED)
        assert (
            await client.call_tool("echo", {"text": "still here"}, timeout=5)
        ).text == "still here"


async def test_client_wide_timeout() -> None:
    runner = make_runner(proxy_demo.plugin)
    async with Client.inprocess(runner, timeout=0.2) as client:
        with pytest.raises(RequestTimeout):
            await client.call_tool("slow", {"seconds": 30})


async def test_closed_client_raises_connection_closed() -> None:
    runner = make_runner(proxy_demo.plugin)
    client = Client.inprocess(runner)
    async with client:
        pending = asyncio.create_task(client.call_tool("slow", {"seconds": 30}))
        await asyncio.sleep(0.05)
    with pytest.raises(ConnectionClosed):
        await pending
    assert client.closed
    assert isinstance(await client.wait_closed(), ConnectionClosed)
    with pytest.raises(ConnectionClosed):
        await client.call_tool("echo", {"text": "x"})


async def test_handlers_may_return_errors() -> None:
    async def refuse(params: dict[str, Any]) -> dict[str, Any]:
        raise McpClientError(-1, "user refused")

    async with Client.inprocess(make_runner(proxy_demo.plugin), elicitation=refuse) as client:
        with pytest.raises(McpClientError) as info:
            await client.call_tool("ask_name")
        assert "user refused" in info.value.message


def test_bad_options() -> None:
    runner = make_runner(proxy_demo.plugin)
    with pytest.raises(ValueError, match="era"):
        Client.inprocess(runner, era="2025-11-25")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="legacy handshake version"):
        Client.inprocess(runner, protocol_version="2026-07-28")


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
async def test_every_legacy_version(mcp_client: Any, version: str) -> None:
    async with mcp_client(proxy_demo.plugin, protocol_version=version) as client:
        assert client.protocol_version == version
        assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}


async def test_raw_request_and_meta(mcp_client: Any) -> None:
    async with mcp_client(proxy_demo.plugin, era="modern") as client:
        result = await client.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert result["resultType"] == "complete"
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-runner"
