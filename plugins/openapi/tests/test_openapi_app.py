"""The bridge in process: the seed's example and a real FastAPI app through ``app =``, every
generated schema valid JSON Schema 2020-12, calls, errors, limits and resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp_runner import McpError
from mcp_runner.components import TOOL_NAME
from openapi_helpers import SEED_MISSING, make_runner, seed_installed, serve_in
from store_app import API_KEY, PIXEL

SEED = """
[openapi.apis.weather]
app = "openapi_seed:app"
"""
STORE = """
[openapi.apis.store]
app = "store_app:app"
headers = { "X-Api-Key" = "${STORE_KEY}" }
"""


@pytest.fixture(autouse=True)
def seed_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "seed"))


def assert_valid_schemas(runner: Any) -> None:
    for tool in runner.registry.tools.values():
        assert TOOL_NAME.match(tool.name), tool.name
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object"
        if tool.output_schema is not None:
            Draft202012Validator.check_schema(tool.output_schema)
            assert tool.output_schema["type"] == "object"


def text(result: dict[str, Any]) -> str:
    return "\n".join(b["text"] for b in result["content"] if b["type"] == "text")


# -- the seed's example --------------------------------------------------------------------------


def test_the_seed_example_through_app(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, SEED)
    assert set(runner.registry.tools) == {"get_weather", "send_notification"}
    assert_valid_schemas(runner)
    weather = runner.registry.tools["get_weather"]
    assert weather.input_schema["required"] == ["city"]
    assert weather.description == "Get Weather\n\nCurrent weather for a city."
    assert weather.annotations is not None and weather.annotations["readOnlyHint"] is True
    notify = runner.registry.tools["send_notification"]
    assert set(notify.input_schema["properties"]) == {"recipient", "message"}

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            await runner.call_tool("get_weather", {"city": "Paris"}),
            await runner.call_tool("send_notification", {"recipient": "ops", "message": "hi"}),
        )

    weather_result, sent = serve_in(runner, scenario)
    assert weather_result["structuredContent"] == {
        "city": "Paris",
        "temperature_c": 21.5,
        "conditions": "sunny",
    }
    assert sent["structuredContent"] == {"status": "sent", "recipient": "ops"}
    assert "isError" not in sent


# -- a real FastAPI app in process ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Any:
    return make_runner(tmp_path, STORE, STORE_KEY=API_KEY)


def test_store_schemas_are_valid_and_carry_their_references(store: Any) -> None:
    assert_valid_schemas(store)
    create = store.registry.tools["create_item"]
    schema = create.input_schema
    assert set(schema["properties"]) == {
        "x-api-key",
        "name",
        "category",
        "price",
        "tags",
        "dimensions",
    }
    assert set(schema["required"]) == {"name", "category", "price"}
    assert schema["properties"]["category"] == {"$ref": "#/$defs/Category"}
    assert schema["$defs"]["Category"]["enum"] == ["tools", "books", "garden"]
    assert {"Tag", "Dimensions", "Category"} <= set(schema["$defs"])
    listing = store.registry.tools["list_items"]
    assert listing.output_schema is not None
    assert listing.output_schema["required"] == ["result"]  # an array, wrapped
    assert listing.input_schema["properties"]["limit"]["maximum"] == 100


def test_store_calls(store: Any) -> None:
    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["get"] = await store.call_tool("get_item", {"item_id": 1})
        out["missing"] = await store.call_tool("get_item", {"item_id": 99})
        out["created"] = await store.call_tool(
            "create_item",
            {
                "name": "spade",
                "category": "garden",
                "price": 9,
                "tags": [{"name": "steel"}],
                "dimensions": {"width": 1, "height": 2},
            },
        )
        out["list"] = await store.call_tool("list_items", {"tag": ["steel"], "limit": 5})
        out["by_category"] = await store.call_tool("list_items", {"category": "garden"})
        out["image"] = await store.call_tool("get_item_image", {"item_id": 1})
        out["report"] = await store.call_tool("get_report", {})
        out["moved"] = await store.call_tool("moved", {})
        out["away"] = await store.call_tool("away", {})
        out["boom"] = await store.call_tool("boom", {})
        out["broken"] = await store.call_tool("broken", {})
        out["deleted"] = await store.call_tool("delete_item", {"item_id": 2})
        return out

    out = serve_in(store, scenario)
    assert out["get"]["structuredContent"]["name"] == "hammer"
    assert out["missing"]["isError"] is True
    assert "HTTP 404" in text(out["missing"]) and "no item 99" in text(out["missing"])
    assert out["created"]["structuredContent"]["id"] == 2
    assert out["created"]["structuredContent"]["dimensions"] == {"width": 1.0, "height": 2.0}
    names = [i["name"] for i in out["list"]["structuredContent"]["result"]]
    assert names == ["hammer", "spade"]
    assert [i["name"] for i in out["by_category"]["structuredContent"]["result"]] == ["spade"]
    assert out["image"]["content"][0]["type"] == "image"
    assert out["image"]["content"][0]["mimeType"] == "image/png"
    import base64

    assert base64.b64decode(out["image"]["content"][0]["data"]) == PIXEL
    assert text(out["report"]) == "id,name\n1,hammer\n"
    assert '"name":"hammer"' in text(out["moved"])  # same host: followed
    assert out["away"]["isError"] is True and "another host" in text(out["away"])
    boom = text(out["boom"])
    assert out["boom"]["isError"] is True and "HTTP 500" in boom and "on fire" in boom
    assert len(boom) < 2300  # the body is shortened
    assert out["broken"]["isError"] is True and "does not match" in text(out["broken"])
    assert out["deleted"]["content"] == [{"type": "text", "text": "204 No Content"}]


def test_arguments_are_checked_before_any_request(store: Any) -> None:
    async def scenario() -> tuple[dict[str, Any], ...]:
        before = await store.call_tool("count_requests", {})
        bad = [
            await store.call_tool("create_item", {"name": "", "category": "food", "price": -1}),
            await store.call_tool("get_item", {"item_id": "one"}),
            await store.call_tool("list_items", {"limit": 1000}),
            await store.call_tool("get_item", {"item_id": 1, "unexpected": True}),
        ]
        after = await store.call_tool("count_requests", {})
        return before, *bad, after

    before, *bad, after = serve_in(store, scenario)
    assert before["structuredContent"] == after["structuredContent"]  # nothing reached the app
    assert all(b["isError"] for b in bad)
    problems = text(bad[0])
    assert "category: must be one of 'tools', 'books', 'garden'" in problems
    assert "price: must be at least 0" in problems and "name: shorter than 1" in problems
    assert "item_id: expected integer" in text(bad[1])
    assert "limit: must be at most 100" in text(bad[2])
    assert "unexpected: unexpected property" in text(bad[3])


def test_the_api_key_header_comes_from_config_and_environment(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, STORE, STORE_KEY="wrong")
    result = serve_in(
        runner,
        lambda: runner.call_tool("create_item", {"name": "x", "category": "books", "price": 1}),
    )
    assert result["isError"] is True and "HTTP 401" in text(result)


def test_a_missing_environment_variable_fails_the_plugin_by_name(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, STORE.replace("STORE_KEY", "NO_SUCH_VARIABLE_SET"))
    record = runner.host.records["openapi"]
    assert record.status == "failed"
    assert "NO_SUCH_VARIABLE_SET is not set" in (record.error or "")


# -- selection, names and resources ------------------------------------------------------------


def test_include_exclude_and_namespace(tmp_path: Path) -> None:
    config = (
        STORE
        + 'namespace = "shop"\ninclude = ["tag:public", "POST /items"]\nexclude = ["GET /*/image"]\n'
    )
    runner = make_runner(tmp_path, config, STORE_KEY=API_KEY)
    assert set(runner.registry.tools) == {
        "shop_get_item",
        "shop_list_items",
        "shop_create_item",
        "shop_get_report",
    }


def test_names_fit_64_characters_with_the_namespace_and_collisions_are_numbered(
    tmp_path: Path,
) -> None:
    long = "a" * 80
    config = STORE + (
        f'namespace = "{"n" * 20}"\n'
        f'names = {{ "get_item_items__item_id__get" = "{long}", '
        '"list_items_items_get" = "same", "get_report_report_get" = "same" }\n'
    )
    runner = make_runner(tmp_path, config, STORE_KEY=API_KEY)
    names = set(runner.registry.tools)
    assert all(len(n) <= 64 and TOOL_NAME.match(n) for n in names)
    prefix = "n" * 20 + "_"
    shortened = [n for n in names if n.startswith(prefix + "aaaa")]
    assert len(shortened) == 1 and len(shortened[0]) == 64
    assert {prefix + "same", prefix + "same_2"} <= names
    again = make_runner(tmp_path, config, STORE_KEY=API_KEY)
    assert set(again.registry.tools) == names  # deterministic
    status = runner.host.records["openapi"]
    assert status.status == "ok"


def test_resources_mode_serves_gets_as_resources_and_templates(tmp_path: Path) -> None:
    config = STORE + 'mode = "resources"\nroutes = [{ match = "GET /count", as = "tool" }]\n'
    runner = make_runner(tmp_path, config, STORE_KEY=API_KEY)
    assert "store://items/{item_id}" in runner.registry.templates
    assert "store://report" in runner.registry.resources
    assert "list_items" in runner.registry.tools  # has query arguments: stays a tool
    assert "count_requests" in runner.registry.tools  # the route map says so
    assert "get_item" not in runner.registry.tools

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        return (
            await runner.request("resources/read", {"uri": "store://items/1"}),
            await runner.request("resources/read", {"uri": "store://items/404"}),
            await runner.request("resources/read", {"uri": "store://report"}),
        )

    found, missing, report = serve_in(runner, scenario)
    contents = found["result"]["contents"][0]
    assert contents["mimeType"] == "application/json" and '"hammer"' in contents["text"]
    assert missing["error"]["code"] == -32002
    assert report["result"]["contents"][0]["text"] == "id,name\n1,hammer\n"


def test_an_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},'
        ' "servers": [{"url": "http://127.0.0.1:9"}],'
        ' "paths": {"/ping": {"get": {"operationId": "ping", "responses": {"200": {"description": "ok"}}}}}}'
    )
    runner = make_runner(tmp_path, f'[openapi.apis.down]\nspec = "{spec}"\ntimeout = 5\n')
    result = serve_in(runner, lambda: runner.call_tool("ping", {}))
    assert result["isError"] is True
    assert "cannot reach down for GET /ping: ConnectError" in text(result)


def test_status_reports_each_api(store: Any) -> None:
    from mcp_runner_openapi import plugin

    (entry,) = plugin.mcp_runner_status(store) or []
    assert entry["name"] == "store" and entry["state"] == "ok"
    assert entry["tools"] == len(store.registry.tools)


def test_an_unknown_tool_stays_a_protocol_error(store: Any) -> None:
    with pytest.raises(McpError):
        serve_in(store, lambda: store.call_tool("nope", {}))


@pytest.mark.skipif(not seed_installed(), reason=SEED_MISSING)
def test_the_seed_app_from_its_entry_point_in_process(tmp_path: Path) -> None:
    """The installed fixture distribution names its FastAPI app as an entry point; the
    openapi plugin (sorting after it) adapts it into a plugin of the same name."""
    from mcp_runner import Runner
    from mcp_runner.config import Settings

    settings = Settings(server={"enable": ["seed_weather", "openapi"]})
    runner = Runner(settings).start()
    record = runner.host.records["seed_weather"]
    assert (record.status, record.tools) == ("ok", 2), record.error
    assert record.described().distribution == "mcp-runner-openapi-seed"
    result = serve_in(runner, lambda: runner.call_tool("get_weather", {"city": "Rome"}))
    assert result["structuredContent"]["city"] == "Rome"


PASSTHROUGH = """
[openapi.apis.echo]
app = "echo_app:app"
auth = "passthrough"
audience = "https://echo.example.com"
"""


def test_passthrough_without_a_caller_token_makes_no_request(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, PASSTHROUGH)  # no auth: the caller has no principal
    result = serve_in(runner, lambda: runner.call_tool("received_authorization", {}))
    assert result["isError"] is True
    assert "takes the caller's bearer token" in result["content"][0]["text"]
    plain = make_runner(tmp_path, '[openapi.apis.echo]\napp = "echo_app:app"\n')
    answer = serve_in(plain, lambda: plain.call_tool("received_authorization", {}))
    assert answer["structuredContent"] == {"authorization": None}


def test_passthrough_and_a_configured_authorization_header_are_refused(tmp_path: Path) -> None:
    config = PASSTHROUGH + 'headers = { "Authorization" = "Bearer mine" }\n'
    runner = make_runner(tmp_path, config)
    record = runner.host.records["openapi"]
    assert record.status == "failed" and "remove Authorization from headers" in str(record.error)
