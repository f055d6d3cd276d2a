"""Unit tests for the pieces with tricky logic: compiling functions into tools, results into
content, URI templates, the composed registry, settings, docstrings and the signed
`requestState` of input-required rounds."""

from __future__ import annotations

import asyncio
import base64
import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from mcp_runner import (
    Audio,
    Context,
    EmbeddedResource,
    Image,
    McpError,
    Plugin,
    ResourceLink,
    Runner,
    ToolResult,
    _docstrings,
)
from mcp_runner.components import (
    DefinitionError,
    Prompt,
    ResourceTemplate,
    Tool,
    compile_template,
    make_resource,
    to_content,
)
from mcp_runner.config import ConfigError, Settings, load_settings
from mcp_runner.protocol.state import StateSigner
from mcp_runner.registry import CompositionError, PluginRegistry, Registry, decode_cursor
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


# ---------------------------------------------------------------------------------------------
# URI templates


def match(template: str, uri: str) -> dict[str, Any] | None:
    resource = ResourceTemplate(uri=template, name="t")
    resource.pattern, resource.variables, resource.exploded = compile_template(template)
    return resource.match(uri)


def test_template_simple_expression() -> None:
    assert match("shop://item/{id}", "shop://item/42") == {"id": "42"}
    assert match("shop://item/{id}", "shop://item/caf%C3%A9") == {"id": "café"}  # decoded
    assert match("shop://item/{id}", "shop://item/a/b") is None  # one segment only
    assert match("shop://item/{id}", "shop://item/") is None
    assert match("shop://{kind}/{id}", "shop://book/7") == {"kind": "book", "id": "7"}
    assert match("shop://item/{id}.json", "shop://item/7.json") == {"id": "7"}  # literals escaped
    assert match("shop://item/{id}.json", "shop://item/7xjson") is None


def test_template_reserved_expansion_spans_slashes() -> None:
    assert match("file:///{+path}", "file:///srv/docs/a b.txt") == {"path": "srv/docs/a b.txt"}
    assert match("file:///{+path}", "file:///") is None
    assert match("repo://{owner}/{+path}", "repo://ada/src/x.py") == {
        "owner": "ada",
        "path": "src/x.py",
    }


def test_template_query_parameters_are_optional() -> None:
    template = "search://docs{?q,lang}"
    assert match(template, "search://docs?q=mcp&lang=en") == {"q": "mcp", "lang": "en"}
    assert match(template, "search://docs?q=a%20b") == {"q": "a b"}
    assert match(template, "search://docs?lang=en") == {"lang": "en"}
    assert match(template, "search://docs") == {}
    assert match(template, "search://docs?other=1") is None


def test_template_other_operators() -> None:
    assert match("api://v{.major}", "api://v.2") == {"major": "2"}
    assert match("api://root{/version}", "api://root/v1") == {"version": "v1"}
    assert match("doc://page{#section}", "doc://page#intro") == {"section": "intro"}


def test_template_exploded_query_values_are_lists() -> None:
    assert match("search://docs{?tags*}", "search://docs?tags=a,b") == {"tags": ["a", "b"]}
    assert match("t://x{+rest*}", "t://xa,b") == {"rest": ["a", "b"]}
    _, names, exploded = compile_template("t://{a}{?b*,c}")
    assert names == ("a", "b", "c") and exploded == {"b": ","}


def test_template_exploded_lists_match_rfc_6570_expansions() -> None:
    assert match("tags://{tags*}", "tags://a,b,c") == {"tags": ["a", "b", "c"]}
    assert match("path://x{/segments*}", "path://x/a/b") == {"segments": ["a", "b"]}


def test_template_variable_names_are_checked() -> None:
    with pytest.raises(DefinitionError, match="bad variable name"):
        compile_template("x://{not-a-name}")


# ---------------------------------------------------------------------------------------------
# The registry


def staged(
    plugin: str, *names: str, resources: tuple[str, ...] = (), prompts: tuple[str, ...] = ()
) -> PluginRegistry:
    stage = PluginRegistry(plugin)
    for name in names:
        stage.add_tool(lambda: "x", name=name)
    for uri in resources:
        if "{+path}" in uri:
            stage.add_resource(lambda path: path, uri, name=uri)
        else:
            stage.add_resource(lambda: "x", uri, name=uri)
    for name in prompts:
        stage.add_prompt(lambda: "x", name=name)
    return stage


def test_collision_names_both_plugins_and_the_fix() -> None:
    registry = Registry()
    registry.merge(staged("weather", "forecast", resources=("w://a",)))
    with pytest.raises(CompositionError) as err:
        registry.merge(staged("weather2", "forecast", "other", resources=("w://a",)))
    message = str(err.value)
    assert (
        "tool 'forecast' of plugin 'weather2' collides with the one of plugin 'weather'" in message
    )
    assert '[plugins.weather2] namespace = "weather2"' in message
    assert '[server] on_conflict = "prefix"' in message
    assert "resource 'w://a' of plugin 'weather2'" in message
    assert set(registry.tools) == {"forecast"}  # nothing of weather2, not even `other`
    assert registry.tools["forecast"].plugin == "weather"


def test_on_conflict_prefix_renames_the_later_plugin() -> None:
    registry = Registry(on_conflict="prefix")
    registry.merge(staged("weather", "forecast", prompts=("plan",)))
    registry.merge(staged("weather2", "forecast", "alerts", prompts=("plan",)))
    assert set(registry.tools) == {"forecast", "weather2_forecast", "alerts"}
    assert registry.tools["weather2_forecast"].name == "weather2_forecast"
    assert registry.tools["forecast"].plugin == "weather"
    assert set(registry.prompts) == {"plan", "weather2_plan"}
    with pytest.raises(CompositionError, match="resource 'w://a'"):  # URIs are never renamed
        registry.merge(staged("a", resources=("w://a",)))
        registry.merge(staged("b", resources=("w://a",)))


def test_namespace_prefixes_tools_and_prompts_not_uris() -> None:
    registry = Registry()
    registry.merge(
        staged("files", "read", resources=("files://roots", "file:///{+path}"), prompts=("ask",)),
        namespace="fs",
    )
    assert set(registry.tools) == {"fs_read"}
    assert set(registry.prompts) == {"fs_ask"}
    assert set(registry.resources) == {"files://roots"}
    assert set(registry.templates) == {"file:///{+path}"}
    with pytest.raises(CompositionError, match="is not 1-64 characters"):
        registry.merge(staged("long", "t" * 60), namespace="namespace")


def test_remove_plugin_and_change_listeners() -> None:
    registry = Registry()
    changes: list[str] = []
    unsubscribe = registry.subscribe(changes.append)
    registry.merge(staged("a", "one", resources=("a://r",)))
    registry.merge(staged("b", "two"))
    registry.remove_plugin("a")
    assert set(registry.tools) == {"two"} and not registry.resources
    assert changes.count("tools") == 3
    unsubscribe()
    registry.remove_plugin("b")
    assert changes.count("tools") == 3


def test_pagination_cursors() -> None:
    registry = Registry(page_size=2)
    registry.merge(staged("p", "t1", "t2", "t3", "t4", "t5"))
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        items, cursor = registry.page("tools", cursor)
        names += [item["name"] for item in items]
        pages += 1
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert names == ["t1", "t2", "t3", "t4", "t5"] and pages == 3

    single = Registry(page_size=10)
    single.merge(staged("p", "t1"))
    assert single.page("tools", None)[1] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "bogus",
        5,
        "",
        base64.urlsafe_b64encode(b"o:-1").decode(),
        base64.urlsafe_b64encode(b"x:1").decode(),
    ],
)
def test_invalid_cursor_is_invalid_params(cursor: Any) -> None:
    with pytest.raises(McpError) as err:
        decode_cursor(cursor)
    assert err.value.code == -32602 and "Invalid cursor" in err.value.message


def test_invalid_cursor_over_the_protocol() -> None:
    plugin = Plugin("p")

    @plugin.tool
    def one() -> str:
        return "1"

    runner = Runner(
        Settings(server={"page_size": 1}), plugins={"p": plugin}, entry_points=False
    ).start()
    answer = asyncio.run(runner.request("tools/list", {"cursor": "not-a-cursor"}))
    assert answer["error"]["code"] == -32602


class Mode(enum.Enum):
    CAR = "car"
    CART = "cart"
    TRAIN = "train"


def test_completions_follow_namespaces_and_offer_literal_and_enum_choices() -> None:
    plugin = Plugin("trips")

    @plugin.prompt
    def plan(
        city: str, mode: Mode = Mode.CAR, pace: Literal["slow", "steady", "fast"] = "slow"
    ) -> str:
        return city

    @plugin.completion("plan", "city")
    def cities(value: str) -> list[str]:
        return [c for c in ("Oslo", "Osaka", "Paris") if c.startswith(value)]

    settings = Settings(plugins={"trips": {"namespace": "t"}})
    runner = Runner(settings, plugins={"trips": plugin}, entry_points=False).start()

    def complete(argument: str, value: str) -> list[str]:
        params = {
            "ref": {"type": "ref/prompt", "name": "t_plan"},
            "argument": {"name": argument, "value": value},
        }
        return asyncio.run(runner.request("completion/complete", params))["result"]["completion"][
            "values"
        ]

    assert complete("city", "Os") == ["Oslo", "Osaka"]
    assert complete("mode", "car") == ["car", "cart"]
    assert complete("pace", "s") == ["slow", "steady"]


# ---------------------------------------------------------------------------------------------
# Settings


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mcp-runner.toml"
    path.write_text(text)
    return path


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
[server]
name = "from-file"
log_level = "info"
page_size = 50

[http]
port = 9000
host = "0.0.0.0"

[plugins.files]
roots = ["/srv"]
max_results = 10
""",
    )
    env = {
        "MCP_RUNNER_LOG_LEVEL": "debug",  # a [server] field by its own name
        "MCP_RUNNER_HTTP__PORT": "9100",  # TABLE__KEY
        "MCP_RUNNER_PLUGINS__FILES__MAX_RESULTS": "20",  # one key of a plugin table
        "MCP_RUNNER_SERVER__INSTRUCTIONS": "Be brief.",
        "MCP_RUNNER_UNRELATED": "ignored",
        "OTHER_VARIABLE": "ignored",
    }
    settings = load_settings(path, env=env, overrides={"http.port": 9200, "http.path": None})
    assert settings.server.name == "from-file"
    assert settings.server.log_level == "debug"
    assert settings.server.page_size == 50
    assert settings.server.instructions == "Be brief."
    assert settings.http.port == 9200  # the command line wins over both
    assert settings.http.host == "0.0.0.0"
    assert settings.http.path == "/mcp"  # a None override changes nothing
    # Environment scalars stay strings; the plugin's settings model converts them.
    assert settings.plugins["files"] == {"roots": ["/srv"], "max_results": "20"}
    assert settings.source == str(path)


def test_the_working_directory_file_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).source is None
    write_config(tmp_path, '[server]\nname = "here"\n')
    assert load_settings(env={}).server.name == "here"
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_allow_and_deny_lists_from_the_environment() -> None:
    settings = load_settings(
        env={"MCP_RUNNER_PLUGINS": " files, sqlite ,", "MCP_RUNNER_DISABLE": "sqlite"}
    )
    assert settings.server.enable == ["files", "sqlite"]
    assert settings.server.disable == ["sqlite"]
    assert load_settings(env={"MCP_RUNNER_PLUGINS": ""}).server.enable == []
    assert load_settings(env={}).server.enable is None


def test_allow_and_deny_lists_choose_plugins() -> None:
    def plugins() -> dict[str, Any]:
        return {name: Plugin(name) for name in ("alpha", "beta", "gamma", "delta")}

    settings = Settings(
        server={"enable": ["alpha", "beta", "gamma"], "disable": ["beta", "errors"]},
        plugins={"gamma": {"enabled": False}},
    )
    runner = Runner(settings, plugins=plugins(), entry_points=False).start()
    status = {name: record.status for name, record in runner.host.records.items()}
    assert status["alpha"] == "ok"
    assert status["beta"] == "disabled"  # denied
    assert status["gamma"] == "disabled"  # enabled = false
    assert status["delta"] == "disabled"  # not allowed
    assert status["errors"] == "disabled"  # builtins can be denied
    assert status["transports"] == "ok"  # but are exempt from the allow list


def test_environment_values_are_json_when_they_can_be() -> None:
    settings = load_settings(
        env={
            "MCP_RUNNER_HTTP__ALLOWED_HOSTS": '["a.example", "b.example"]',
            "MCP_RUNNER_MASK_ERROR_DETAILS": "true",
            "MCP_RUNNER_TOOL_TIMEOUT": "2.5",
            "MCP_RUNNER_VERSION": '"1.0"',  # a string that looks like JSON must be quoted
            "MCP_RUNNER_HTTP__HOST": "0.0.0.0",  # not JSON: a plain string
        }
    )
    assert settings.http.allowed_hosts == ["a.example", "b.example"]
    assert settings.server.mask_error_details is True
    assert settings.server.tool_timeout == 2.5
    assert settings.server.version == "1.0"
    assert settings.http.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MCP_RUNNER_PAGE_SIZE": "0"}, "server.page_size"),
        ({"MCP_RUNNER_HTTP__PORT": "abc"}, "http.port"),
        ({"MCP_RUNNER_LOG_LEVEL": "loud"}, "server.log_level"),
        ({"MCP_RUNNER_SERVER__BOGUS": "1"}, "server.bogus"),
        ({"MCP_RUNNER_ON_CONFLICT": "merge"}, "server.on_conflict"),
    ],
)
def test_invalid_values_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert str(err.value).startswith(f"settings: {named}: ")


def test_invalid_file_values_name_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[http]\nport = 70000\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value) == f"{path}: http.port: Input should be less than or equal to 65535"
    broken = write_config(tmp_path, "[http\n")
    with pytest.raises(ConfigError, match=str(broken)):
        load_settings(broken, env={})


def test_plugin_tables_split_common_keys() -> None:
    settings = Settings(
        plugins={
            "files": {
                "namespace": "fs",
                "enabled": True,
                "scopes": ["r"],
                "timeout": 3,
                "roots": ["/"],
            }
        }
    )
    common = settings.plugin("files")
    assert (common.namespace, common.enabled, common.scopes, common.timeout) == (
        "fs",
        True,
        ["r"],
        3,
    )
    assert settings.plugin_options("files") == {"roots": ["/"]}
    assert settings.plugin("absent").enabled is True


# ---------------------------------------------------------------------------------------------
# Docstrings


def test_docstring_google_style() -> None:
    summary, params = _docstrings.parse(
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
    summary, params = _docstrings.parse(
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
    assert _docstrings.parse(doc) == (None, {})


def test_docstring_section_only_and_other_sections_ignored() -> None:
    summary, params = _docstrings.parse("Args:\n    a: first\n\nRaises:\n    ValueError: never\n")
    assert summary is None
    assert params == {"a": "first"}


# ---------------------------------------------------------------------------------------------
# Signed requestState


def test_request_state_round_trip_and_refusals() -> None:
    signer = StateSigner(b"k" * 32)
    token = signer.seal({"a": {"input_0": {"action": "accept"}}}, "tools/call|book|")
    body = signer.open(token, "tools/call|book|")
    assert body["a"] == {"input_0": {"action": "accept"}}

    def refused(value: Any, binding: str = "tools/call|book|", by: StateSigner = signer) -> str:
        with pytest.raises(McpError) as err:
            by.open(value, binding)
        assert err.value.code == -32602
        return err.value.message

    assert "another request" in refused(token, "tools/call|other|")
    assert "integrity" in refused(token, by=StateSigner(b"x" * 32))
    _, mac = token.split(".")
    forged = (
        base64.urlsafe_b64encode(
            json.dumps({"a": {}, "b": "tools/call|book|", "x": 2**40}).encode()
        )
        .decode()
        .rstrip("=")
    )
    assert "integrity" in refused(f"{forged}.{mac}")
    assert refused(12).startswith("Invalid requestState")
    assert refused("no-dot").startswith("Invalid requestState")

    expired = StateSigner(b"k" * 32)
    import mcp_runner.protocol.state as state_module

    old = state_module.STATE_TTL_SECONDS
    state_module.STATE_TTL_SECONDS = -1
    try:
        stale = expired.seal({}, "b")
    finally:
        state_module.STATE_TTL_SECONDS = old
    assert "expired" in refused(stale, "b", expired)


def test_input_required_round_reruns_the_tool_with_answers_and_state() -> None:
    plugin = Plugin("booking")
    runs: list[int] = []

    @plugin.tool
    async def book(city: str, ctx: Context) -> str:
        runs.append(1)
        ctx.state["rounds"] = ctx.state.get("rounds", 0) + 1
        people = await ctx.elicit(
            "How many?", {"type": "object", "properties": {"n": {"type": "integer"}}}, key="people"
        )
        return f"{city} for {people['content']['n']} after {ctx.state['rounds']} rounds"

    runner = Runner(Settings(), plugins={"booking": plugin}, entry_points=False).start()
    engine = runner.engine
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError(f"nothing is sent on this wire: {message}")

    def call(params: dict[str, Any], request_id: int) -> dict[str, Any]:
        session = engine.session("test")
        message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
        return asyncio.run(engine.handle(engine.receive(session, message, send)))

    first = call({"name": "book", "arguments": {"city": "Oslo"}, "_meta": meta}, 1)["result"]
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["people"]["method"] == "elicitation/create"

    retry = {
        "name": "book",
        "arguments": {"city": "Oslo"},
        "_meta": meta,
        "inputResponses": {"people": {"action": "accept", "content": {"n": 4}}},
        "requestState": first["requestState"],
    }
    done = call(retry, 2)["result"]
    assert done["resultType"] == "complete"
    assert done["content"][0]["text"] == "Oslo for 4 after 2 rounds"
    assert len(runs) == 2

    other = dict(retry, name="other")
    assert call(other, 3)["error"]["code"] == -32602  # unknown tool
    replayed = call(dict(retry, requestState=first["requestState"][:-2] + "xx"), 4)
    assert replayed["error"]["code"] == -32602
    no_capability = dict(retry, _meta={**meta, "io.modelcontextprotocol/clientCapabilities": {}})
    no_capability.pop("inputResponses")
    no_capability.pop("requestState")
    assert call(no_capability, 5)["error"]["code"] == -32021


def test_state_signer_keys_differ_per_instance() -> None:
    assert StateSigner().seal({}, "b").split(".")[1] != StateSigner().seal({}, "b").split(".")[1]
