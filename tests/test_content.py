"""Turning what a function returns into MCP content, and prompt and resource definitions."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Annotated, Any

import pytest
from mcp_runner import (
    Audio,
    EmbeddedResource,
    Image,
    McpError,
    ResourceLink,
    ToolResult,
)
from mcp_runner.components import (
    DefinitionError,
    Prompt,
    ResourceTemplate,
    Tool,
    make_resource,
    to_content,
)
from pydantic import BaseModel, Field

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Forecast(BaseModel):
    city: str
    highs: list[float]


def returns(annotation: Any) -> Tool:
    def fn() -> None: ...

    fn.__annotations__["return"] = annotation
    return Tool.from_function(fn)


# ---------------------------------------------------------------------------------------------
# Results -> content


def test_content_conversion_of_single_values(tmp_path: Path) -> None:
    assert to_content("hi") == [{"type": "text", "text": "hi"}]
    assert to_content(None) == []
    assert to_content(PNG) == [{"type": "image", "data": b64(PNG), "mimeType": "image/png"}]
    assert to_content(b"ID3\x00") == [
        {"type": "audio", "data": b64(b"ID3\x00"), "mimeType": "audio/mpeg"}
    ]
    assert to_content(b"\x00\x01") == [
        {
            "type": "resource",
            "resource": {
                "uri": "data:",
                "mimeType": "application/octet-stream",
                "blob": b64(b"\x00\x01"),
            },
        }
    ]
    assert to_content({"a": 1}) == [{"type": "text", "text": '{"a":1}'}]
    assert to_content(Forecast(city="Oslo", highs=[])) == [
        {"type": "text", "text": '{"city":"Oslo","highs":[]}'}
    ]
    assert to_content(42) == [{"type": "text", "text": "42"}]
    block = {"type": "text", "text": "as is"}
    assert to_content(block) == [block]

    assert to_content(Image(GIF)) == [{"type": "image", "data": b64(GIF), "mimeType": "image/gif"}]
    path = tmp_path / "chart.png"
    path.write_bytes(b"not really a png")
    assert to_content(Image(path))[0]["mimeType"] == "image/png"  # from the name
    assert to_content(Audio(b"x", mime_type="audio/ogg"))[0] == {
        "type": "audio",
        "data": b64(b"x"),
        "mimeType": "audio/ogg",
    }
    assert to_content(EmbeddedResource("mem://a", text="body", mime_type="text/markdown")) == [
        {
            "type": "resource",
            "resource": {"uri": "mem://a", "mimeType": "text/markdown", "text": "body"},
        }
    ]
    assert to_content(ResourceLink("mem://a", "a", description="A")) == [
        {"type": "resource_link", "uri": "mem://a", "name": "a", "description": "A"}
    ]


def test_tool_result_gives_full_control() -> None:
    tool = returns(None)
    result = tool.to_result(
        ToolResult(content=["a", PNG], structured_content={"n": 1}, is_error=True, meta={"m": 1})
    )
    assert result == {
        "content": [
            {"type": "text", "text": "a"},
            {"type": "image", "data": b64(PNG), "mimeType": "image/png"},
        ],
        "structuredContent": {"n": 1},
        "isError": True,
        "_meta": {"m": 1},
    }


def test_list_of_mixed_values_becomes_one_block_each() -> None:
    blocks = to_content(["caption", PNG, {"k": 1}, Image(GIF), {"type": "text", "text": "raw"}])
    assert blocks == [
        {"type": "text", "text": "caption"},
        {"type": "image", "data": b64(PNG), "mimeType": "image/png"},
        {"type": "text", "text": '{"k":1}'},
        {"type": "image", "data": b64(GIF), "mimeType": "image/gif"},
        {"type": "text", "text": "raw"},
    ]
    assert to_content([1, 2]) == [{"type": "text", "text": "[1,2]"}]


# ---------------------------------------------------------------------------------------------
# Prompts and resources


def test_prompt_arguments_and_messages() -> None:
    from mcp_runner import Message

    def plan(city: str, days: Annotated[int, Field(description="Trip length")] = 3) -> list[Any]:
        """Plan a trip.

        :param city: where to go
        """
        return [f"Plan {days} days in {city}", Message("Checking the forecast.", role="assistant")]

    prompt = Prompt.from_function(plan)
    assert prompt.wire() == {
        "name": "plan",
        "description": "Plan a trip.",
        "arguments": [
            {"name": "city", "description": "where to go", "required": True},
            {"name": "days", "description": "Trip length", "required": False},
        ],
    }
    got = asyncio.run(prompt.get({"city": "Oslo", "days": "2"}, request=None))
    assert got["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Plan 2 days in Oslo"}},
        {"role": "assistant", "content": {"type": "text", "text": "Checking the forecast."}},
    ]
    with pytest.raises(McpError) as err:
        asyncio.run(prompt.get({}, request=None))
    assert err.value.code == -32602 and "city: Field required" in err.value.message


def test_resource_definitions_are_checked() -> None:
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    with pytest.raises(DefinitionError, match="a fixed URI takes no arguments"):
        make_resource(item, "shop://item")
    with pytest.raises(DefinitionError, match="parameters not in the template: item_id"):
        make_resource(item, "shop://item/{id}")
    template = make_resource(item, "shop://item/{item_id}")
    assert isinstance(template, ResourceTemplate)
    assert template.wire() == {
        "uriTemplate": "shop://item/{item_id}",
        "name": "item",
        "description": "",
    }
    contents = asyncio.run(
        template.read("shop://item/7", template.match("shop://item/7"), request=None)
    )
    assert contents == [
        {"uri": "shop://item/7", "mimeType": "application/json", "text": '{"id":7}'}
    ]
    with pytest.raises(McpError) as err:
        asyncio.run(template.read("shop://item/x", {"item_id": "x"}, request=None))
    assert err.value.code == -32602 and err.value.data == {"uri": "shop://item/x"}
