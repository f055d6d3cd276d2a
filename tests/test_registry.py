"""The composed registry: collisions, namespaces, removal, pagination and completions."""

from __future__ import annotations

import asyncio
import base64
import enum
from typing import Any, Literal

import pytest
from mcp_runner import (
    McpError,
    Plugin,
    Runner,
)
from mcp_runner.config import Settings
from mcp_runner.registry import CompositionError, PluginRegistry, Registry, decode_cursor

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


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
