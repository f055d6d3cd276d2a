"""`Tool.from_schema` and `Resource.from_handler`: a tool from a JSON Schema and an async
handler, a resource or template from an async handler, staged and served like any other; and
the examples of docs/writing-plugins.md, run as written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from mcp_runner import Context, McpError, Runner, ToolError, ToolResult, hookimpl
from mcp_runner.components import DefinitionError, Resource, ResourceTemplate, Tool
from mcp_runner.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "writing-plugins.md"
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize(
    "heading", ["**A tool from a JSON Schema.**", "**A resource from a handler.**"]
)
def test_the_documented_examples_run_as_written(heading: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None and "from_" in block.group(1)
    exec(compile(block.group(1), str(DOCS), "exec"), {"__name__": "docs_example"})


class Served:
    """A plugin of hooks staging from_schema tools; records what its handlers saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], str, Any]] = []

    async def echo(self, arguments: dict[str, Any], ctx: Context) -> Any:
        self.seen.append((arguments, ctx.plugin, ctx.principal))
        if arguments.get("q") == "fail":
            raise ToolError("told to fail")
        if arguments.get("q") == "full":
            return ToolResult([{"type": "text", "text": "all mine"}], {"n": 1}, is_error=True)
        return {"echo": arguments}

    @hookimpl
    def mcp_runner_register(self, registry: Any) -> None:
        registry.install(
            Tool.from_schema(
                "echo",
                SCHEMA,
                self.echo,
                title="Echo",
                description="Say it back.",
                annotations={"readOnlyHint": True},
                output_schema={"type": "object"},
                meta={"source": "table"},
            )
        )
        registry.install(Tool.from_schema("plain", SCHEMA, self.echo))


def served() -> tuple[Runner, Served]:
    plugin = Served()
    settings = Settings(plugins={"served": {"namespace": "ns"}})
    return Runner(settings, plugins={"served": plugin}, entry_points=False).start(), plugin


def test_it_is_listed_with_its_schema_and_options_under_the_namespace() -> None:
    runner, _ = served()
    tools = {t["name"]: t for t in run(runner.request("tools/list"))["result"]["tools"]}
    assert tools["ns_echo"] == {
        "name": "ns_echo",
        "title": "Echo",
        "description": "Say it back.",
        "inputSchema": SCHEMA,
        "outputSchema": {"type": "object"},
        "annotations": {"readOnlyHint": True},
        "_meta": {"source": "table"},
    }
    assert tools["ns_plain"] == {"name": "ns_plain", "description": "", "inputSchema": SCHEMA}


def test_the_handler_gets_the_arguments_as_sent_and_the_context() -> None:
    runner, plugin = served()
    result = run(runner.call_tool("ns_echo", {"q": "x", "extra": 1}))
    assert result["structuredContent"] == {"echo": {"q": "x", "extra": 1}}
    assert plugin.seen == [({"q": "x", "extra": 1}, "served", None)]
    assert run(runner.call_tool("ns_plain", {"q": "x"}))["content"] == [
        {"type": "text", "text": '{"echo":{"q":"x"}}'}
    ]


def test_tool_errors_and_tool_results_become_the_result() -> None:
    runner, _ = served()
    failed = run(runner.call_tool("ns_echo", {"q": "fail"}))
    assert failed == {"content": [{"type": "text", "text": "told to fail"}], "isError": True}
    full = run(runner.call_tool("ns_echo", {"q": "full"}))
    assert full == {
        "content": [{"type": "text", "text": "all mine"}],
        "structuredContent": {"n": 1},
        "isError": True,
    }


def test_it_can_be_served_at_run_time() -> None:
    runner, plugin = served()
    tool = Tool.from_schema("late", SCHEMA, plugin.echo)
    tool.plugin = "served"
    runner.registry.install(tool)
    assert run(runner.call_tool("late", {"q": "y"}))["content"][0]["text"] == '{"echo":{"q":"y"}}'


def test_a_name_that_cannot_be_served_is_refused() -> None:
    with pytest.raises(DefinitionError, match="1-64 characters"):
        Tool.from_schema("no spaces", SCHEMA, Served().echo)
    with pytest.raises(DefinitionError):
        Tool.from_schema("x" * 65, SCHEMA, Served().echo)


class Readable:
    """A plugin of hooks staging from_handler resources; records what its handler saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], str]] = []

    async def read(self, uri: str, arguments: dict[str, Any], ctx: Context) -> Any:
        self.seen.append((uri, arguments, ctx.plugin))
        if arguments.get("id") == "missing":
            raise McpError(-32002, "no such note", {"uri": uri})
        return {"id": arguments.get("id"), "uri": uri}

    @hookimpl
    def mcp_runner_register(self, registry: Any) -> None:
        registry.install(
            Resource.from_handler(
                "notes://index", self.read, name="index", description="All notes.", size=2
            )
        )
        registry.install(
            Resource.from_handler(
                "notes://{id}", self.read, name="note", title="A note", mime_type="application/json"
            )
        )


def test_resources_and_templates_from_a_handler_are_listed_and_read() -> None:
    plugin = Readable()
    runner = Runner(Settings(), plugins={"notes": plugin}, entry_points=False).start()
    fixed = runner.registry.resources["notes://index"]
    template = runner.registry.templates["notes://{id}"]
    assert not isinstance(fixed, ResourceTemplate) and isinstance(template, ResourceTemplate)
    listed = run(runner.request("resources/list"))["result"]["resources"]
    assert {
        "uri": "notes://index",
        "name": "index",
        "description": "All notes.",
        "size": 2,
    } in listed
    templates = run(runner.request("resources/templates/list"))["result"]["resourceTemplates"]
    assert templates == [
        {
            "uriTemplate": "notes://{id}",
            "name": "note",
            "title": "A note",
            "description": "",
            "mimeType": "application/json",
        }
    ]
    read = run(runner.request("resources/read", {"uri": "notes://7"}))["result"]["contents"]
    assert read == [
        {"uri": "notes://7", "mimeType": "application/json", "text": '{"id":"7","uri":"notes://7"}'}
    ]
    run(runner.request("resources/read", {"uri": "notes://index"}))
    assert plugin.seen == [("notes://7", {"id": "7"}, "notes"), ("notes://index", {}, "notes")]
    missing = run(runner.request("resources/read", {"uri": "notes://missing"}))
    assert missing["error"]["code"] == -32002 and missing["error"]["message"] == "no such note"
    completion = run(
        runner.request(
            "completion/complete",
            {
                "ref": {"type": "ref/resource", "uri": "notes://{id}"},
                "argument": {"name": "id", "value": ""},
            },
        )
    )
    assert completion["result"]["completion"]["values"] == []
