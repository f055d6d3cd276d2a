"""Compiling functions into components: input schemas from signatures, output schemas from
return annotations, and the docstring parser that describes parameters."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest
from mcp_runner import (
    Audio,
    Context,
    EmbeddedResource,
    Image,
    ResourceLink,
    ToolResult,
)
from mcp_runner.components import (
    DefinitionError,
    Tool,
    docstrings,
)
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------
# Function signatures -> input schema


class Forecast(BaseModel):
    city: str
    highs: list[float]


def forecast(
    city: Annotated[str, Field(description="City name")],
    ctx: Context,
    days: Annotated[int, Field(ge=1, le=14)] = 3,
    units: Literal["metric", "imperial"] = "metric",
    station: str | None = None,
) -> Forecast:
    """Forecast daily highs for a city.

    Uses the configured provider; this paragraph is not sent.

    Args:
        city: Ignored: the Field description wins.
        days: How many days,
            starting today.
        units: Unit system.
    """
    return Forecast(city=city, highs=[20.0] * days)


def test_input_schema_from_type_hints() -> None:
    tool = Tool.from_function(forecast)
    schema = tool.input_schema
    assert schema["type"] == "object"
    assert list(schema["properties"]) == ["city", "days", "units", "station"]  # no Context
    assert schema["required"] == ["city"]
    assert "title" not in schema

    props = schema["properties"]
    assert props["city"] == {"description": "City name", "type": "string"}
    assert props["days"]["description"] == "How many days, starting today."
    assert (props["days"]["minimum"], props["days"]["maximum"], props["days"]["default"]) == (
        1,
        14,
        3,
    )
    assert props["units"]["enum"] == ["metric", "imperial"]
    assert props["units"]["default"] == "metric"
    assert props["units"]["description"] == "Unit system."
    assert props["station"]["default"] is None
    assert all("title" not in p for p in props.values())

    assert tool.description == "Forecast daily highs for a city."
    assert tool.signature.context_param == "ctx"


def test_context_parameter_is_found_in_any_spelling() -> None:
    def optional(text: str, context: Context | None = None) -> str:
        return text

    def annotated(text: str, c: Annotated[Context, "x"]) -> str:
        return text

    assert Tool.from_function(optional).signature.context_param == "context"
    assert Tool.from_function(annotated).signature.context_param == "c"
    assert list(Tool.from_function(annotated).input_schema["properties"]) == ["text"]


def test_explicit_options_override_the_function() -> None:
    tool = Tool.from_function(
        forecast,
        name="weather.forecast",
        title="Forecast",
        description="Custom.",
        annotations={"readOnlyHint": True},
        meta={"example.org/v": 1},
    )
    wire = tool.wire()
    assert (wire["name"], wire["title"], wire["description"]) == (
        "weather.forecast",
        "Forecast",
        "Custom.",
    )
    assert wire["annotations"] == {"readOnlyHint": True}
    assert wire["_meta"] == {"example.org/v": 1}


@pytest.mark.parametrize("name", ["has space", "x" * 65, "ünïcode", "slash/name"])
def test_tool_names_are_checked(name: str) -> None:
    with pytest.raises(DefinitionError, match="1-64 characters"):
        Tool.from_function(forecast, name=name)


def test_unservable_signatures_are_refused() -> None:
    def star(*args: int) -> None: ...

    def kw(**kwargs: int) -> None: ...

    def positional(a: int, /) -> None: ...

    for fn in (star, kw, positional):
        with pytest.raises(DefinitionError):
            Tool.from_function(fn)


def test_arguments_are_validated_into_an_error_result() -> None:
    tool = Tool.from_function(forecast)
    answer = asyncio.run(tool.call({"city": "Oslo", "days": 30}, request=None))
    assert answer == {
        "content": [
            {
                "type": "text",
                "text": "Invalid arguments for tool 'forecast': days: Input should be less "
                "than or equal to 14 (got 30)",
            }
        ],
        "isError": True,
    }
    missing = asyncio.run(tool.call({}, request=None))
    assert (
        missing["content"][0]["text"]
        == "Invalid arguments for tool 'forecast': city: Field required"
    )


# ---------------------------------------------------------------------------------------------
# Output schemas


class Point(TypedDict):
    x: int
    y: int


@dataclass
class Box:
    width: int


def returns(annotation: Any) -> Tool:
    def fn() -> None: ...

    fn.__annotations__["return"] = annotation
    return Tool.from_function(fn)


@pytest.mark.parametrize(
    "annotation",
    [Forecast, Point, Box, pytest.param(dict[str, int], id="dict")],
)
def test_object_returns_are_the_output_schema(annotation: Any) -> None:
    tool = returns(annotation)
    assert tool.output_schema is not None and tool.output_schema["type"] == "object"
    assert "result" not in tool.output_schema.get("properties", {})
    assert tool.wrap_output is False


@pytest.mark.parametrize(
    ("annotation", "inner"),
    [
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    ],
)
def test_other_returns_are_wrapped_in_result(annotation: Any, inner: dict[str, Any]) -> None:
    tool = returns(annotation)
    assert tool.wrap_output is True
    assert tool.output_schema == {
        "type": "object",
        "properties": {"result": inner},
        "required": ["result"],
    }


def test_wrapped_schema_keeps_its_definitions() -> None:
    tool = returns(list[Forecast])
    assert tool.output_schema["properties"]["result"]["items"] == {"$ref": "#/$defs/Forecast"}
    assert "Forecast" in tool.output_schema["$defs"]


@pytest.mark.parametrize(
    "annotation",
    [
        str,
        bytes,
        Image,
        Audio,
        EmbeddedResource,
        ResourceLink,
        ToolResult,
        None,
        Any,
        list[Image],
        str | Image,
    ],
)
def test_content_returns_have_no_output_schema(annotation: Any) -> None:
    tool = returns(annotation)
    assert tool.output_schema is None and tool.output_adapter is None


def test_no_annotation_has_no_output_schema() -> None:
    def plain():  # type: ignore[no-untyped-def]
        return 1

    assert Tool.from_function(plain).output_schema is None


def test_structured_results() -> None:
    model = returns(Forecast).to_result(Forecast(city="Oslo", highs=[1.5]))
    assert model == {
        "content": [{"type": "text", "text": '{"city":"Oslo","highs":[1.5]}'}],
        "structuredContent": {"city": "Oslo", "highs": [1.5]},
    }
    from_dict = returns(Forecast).to_result({"city": "Oslo", "highs": [2]})  # validated, dumped
    assert from_dict["structuredContent"] == {"city": "Oslo", "highs": [2.0]}

    wrapped = returns(int).to_result(5)
    assert wrapped == {
        "content": [{"type": "text", "text": "5"}],
        "structuredContent": {"result": 5},
    }

    text = returns(Literal["a", "b"]).to_result("a")
    assert text["content"] == [{"type": "text", "text": "a"}]  # a string stays unquoted

    bad = returns(int).to_result("not a number")
    assert bad["isError"] is True
    assert "does not match its output schema" in bad["content"][0]["text"]


def test_explicit_output_schema_false_disables_structured_content() -> None:
    def fn() -> Forecast:
        return Forecast(city="x", highs=[])

    tool = Tool.from_function(fn, output_schema=False)
    assert tool.output_schema is None
    assert "structuredContent" not in tool.to_result(Forecast(city="x", highs=[]))


def test_explicit_output_schema_still_sends_structured_content() -> None:
    def fn() -> dict:  # type: ignore[type-arg]
        return {"x": 1}

    tool = Tool.from_function(
        fn, output_schema={"type": "object", "properties": {"x": {"type": "integer"}}}
    )
    assert tool.to_result({"x": 1}).get("structuredContent") == {"x": 1}


# ---------------------------------------------------------------------------------------------
# Docstrings


def test_docstring_google_style() -> None:
    summary, params = docstrings.parse(
        """Fetch a page.

        Longer explanation that is not part of the summary.

        Args:
            url (str): The address,
                absolute.
            *headers: Extra headers.
            **options: Anything else.
            timeout: Seconds.

        Returns:
            The body.
        """
    )
    assert summary == "Fetch a page."
    assert params == {
        "url": "The address, absolute.",
        "headers": "Extra headers.",
        "options": "Anything else.",
        "timeout": "Seconds.",
    }


def test_docstring_sphinx_style_and_multi_line_summary() -> None:
    summary, params = docstrings.parse(
        """Fetch a page
        over HTTP.
        :param url: The address.
        :param int timeout: Seconds.
        :returns: The body.
        """
    )
    assert summary == "Fetch a page over HTTP."
    assert params == {"url": "The address.", "timeout": "Seconds."}


@pytest.mark.parametrize("doc", [None, "", "   "])
def test_docstring_empty(doc: str | None) -> None:
    assert docstrings.parse(doc) == (None, {})


def test_docstring_section_only_and_other_sections_ignored() -> None:
    summary, params = docstrings.parse("Args:\n    a: first\n\nRaises:\n    ValueError: never\n")
    assert summary is None
    assert params == {"a": "first"}
