"""End-to-end over stdio with raw JSON-RPC lines: `mcp-runner serve` as a real subprocess.

Every message the server writes in these tests is parsed and validated against the JSON
Schema of the session's protocol version by `RawClient` (see conftest.py) before a test
looks at it; a non-JSON line on stdout fails the test.
"""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING, Any

import pytest

pytestmark = pytest.mark.e2e

if TYPE_CHECKING:
    from conftest import RawClient  # the fixtures' client (tests/conftest.py)

LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_LEGACY = "2025-11-25"
MODERN_VERSION = "2026-07-28"
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND_LEGACY = -32002

ALPHA_TOOLS = {
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
}
BETA_TOOLS = {"multiply", "shout"}
ALL_TOOLS = ALPHA_TOOLS | BETA_TOOLS
FIXED_RESOURCES = {"e2e://alpha/readme", "e2e://beta/config"}
TEMPLATES = {"e2e://alpha/items/{item_id}", "e2e://beta/users/{user}/notes/{note}"}
PROMPTS = {"greet", "summarize"}


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block["text"] for block in result["content"] if block["type"] == "text")


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" in answer, f"expected an error, got {answer}"
    return answer["error"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# Lifecycle and versions


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_initialize_in_each_legacy_version(server: RawClient, version: str) -> None:
    result = server.initialize(version)
    assert result["protocolVersion"] == version
    assert server.version == version
    assert result["serverInfo"]["name"] == "mcp-runner"
    assert isinstance(result["serverInfo"]["version"], str)
    caps = result["capabilities"]
    assert {"tools", "resources", "prompts", "logging"} <= caps.keys()
    assert server.call("ping") == {}


def test_initialize_unknown_version_is_answered_with_latest(server: RawClient) -> None:
    result = server.initialize("1999-01-01")
    assert result["protocolVersion"] == LATEST_LEGACY
    assert server.call("tools/list")["tools"]


def test_initialize_with_the_modern_version_falls_back_to_the_latest_handshake_version(
    server: RawClient,
) -> None:
    # 2026-07-28 has no handshake: an initialize asking for it negotiates the latest legacy one
    assert server.initialize(MODERN_VERSION)["protocolVersion"] == LATEST_LEGACY


def test_initialize_without_protocol_version_is_invalid_params(server: RawClient) -> None:
    answer = server.request(
        "initialize", {"capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}
    )
    assert error_of(answer)["code"] == INVALID_PARAMS
    assert "protocolVersion" in error_of(answer)["message"]


def test_ping_before_initialize(server: RawClient) -> None:
    assert server.call("ping") == {}


def test_request_before_initialize_is_refused_then_served_after(server: RawClient) -> None:
    answer = server.request("tools/list")
    assert error_of(answer)["code"] == INVALID_PARAMS
    assert "initialize" in error_of(answer)["message"]
    server.initialize()
    assert {t["name"] for t in server.call("tools/list")["tools"]} == ALL_TOOLS


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_core_flows_are_schema_valid_in_each_version(server: RawClient, version: str) -> None:
    """One tour of every method, each answer validated against `version`'s schema."""
    server.initialize(version)
    assert {t["name"] for t in server.call("tools/list")["tools"]} == ALL_TOOLS
    assert server.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})["content"]
    assert server.call("tools/call", {"name": "explode", "arguments": {}})["isError"] is True
    assert server.call("resources/list")["resources"]
    assert server.call("resources/templates/list")["resourceTemplates"]
    assert server.call("resources/read", {"uri": "e2e://alpha/readme"})["contents"]
    assert server.call("resources/read", {"uri": "e2e://alpha/items/1"})["contents"]
    assert server.call("prompts/list")["prompts"]
    assert server.call("prompts/get", {"name": "greet", "arguments": {"name": "Ada"}})["messages"]
    ref = {"type": "ref/prompt", "name": "greet"}
    assert server.call(
        "completion/complete", {"ref": ref, "argument": {"name": "style", "value": ""}}
    )
    assert server.call("logging/setLevel", {"level": "debug"}) == {}
    server.call("tools/call", {"name": "chatty", "arguments": {}, "_meta": {"progressToken": 1}})
    assert len(server.take_notifications("notifications/message")) == 4
    server.call(
        "tools/call",
        {"name": "count_up", "arguments": {"steps": 2}, "_meta": {"progressToken": "t"}},
    )
    assert len(server.take_notifications("notifications/progress")) == 2
    assert error_of(server.request("tools/call", {"name": "nope"}))["code"] == INVALID_PARAMS
    assert error_of(server.request("no/such/method"))["code"] == METHOD_NOT_FOUND


def test_stdin_eof_exits_zero_promptly(session: RawClient) -> None:
    started = time.monotonic()
    session.close_stdin()
    assert session.drain() == []
    assert session.wait_exit(timeout=5) == 0
    assert time.monotonic() - started < 3


# ---------------------------------------------------------------------------------------------
# Tools


def test_tools_list_spans_both_plugins(shared_session: RawClient) -> None:
    tools = {t["name"]: t for t in shared_session.call("tools/list")["tools"]}
    assert set(tools) == ALL_TOOLS
    assert "nextCursor" not in shared_session.received[-1]["result"]
    echo = tools["echo"]
    assert echo["description"] == "Return the text unchanged."
    assert echo["inputSchema"]["type"] == "object"
    assert echo["inputSchema"]["required"] == ["text"]
    assert echo["inputSchema"]["properties"]["text"] == {
        "type": "string",
        "description": "the text to echo",
    }
    assert tools["add"]["outputSchema"]["properties"]["result"] == {"type": "integer"}
    assert tools["slow"]["inputSchema"]["properties"]["seconds"]["default"] == 30.0
    assert "required" not in tools["slow"]["inputSchema"]
    assert tools["multiply"]["inputSchema"]["properties"]["a"] == {"type": "number"}


def test_tools_call_across_both_plugins(shared_session: RawClient) -> None:
    echoed = shared_session.call("tools/call", {"name": "echo", "arguments": {"text": "héllo ✓"}})
    assert echoed["content"] == [{"type": "text", "text": "héllo ✓"}]
    assert not echoed.get("isError")

    added = shared_session.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 40}})
    assert added["structuredContent"] == {"result": 42}
    assert text_of(added) == "42"

    product = shared_session.call(
        "tools/call", {"name": "multiply", "arguments": {"a": 1.5, "b": 4}}
    )
    assert product["structuredContent"] == {"result": 6.0}

    shouted = shared_session.call("tools/call", {"name": "shout", "arguments": {"text": "quiet"}})
    assert text_of(shouted) == "QUIET"


def test_tools_call_without_arguments_member(shared_session: RawClient) -> None:
    assert text_of(shared_session.call("tools/call", {"name": "chatty"})) == "chatted"


def test_concurrent_calls_are_answered_as_they_finish(shared_session: RawClient) -> None:
    slow_id = shared_session.start("tools/call", {"name": "slow", "arguments": {"seconds": 0.4}})
    fast_id = shared_session.start("tools/call", {"name": "echo", "arguments": {"text": "first"}})
    assert text_of(shared_session.wait_response(fast_id)["result"]) == "first"
    assert slow_id not in {m.get("id") for m in shared_session.received}  # still running
    assert text_of(shared_session.wait_response(slow_id)["result"]) == "slept 0.4"


def test_unknown_tool_is_invalid_params(shared_session: RawClient) -> None:
    err = error_of(shared_session.request("tools/call", {"name": "no_such_tool", "arguments": {}}))
    assert err["code"] == INVALID_PARAMS
    assert "no_such_tool" in err["message"]


@pytest.mark.parametrize(
    ("arguments", "field", "problem"),
    [
        ({"a": "x", "b": 1}, "a", "valid integer"),
        ({"a": 1}, "b", "Field required"),
        ({"a": [1], "b": 2}, "a", "valid integer"),
    ],
)
def test_bad_arguments_are_an_error_result_naming_the_field(
    shared_session: RawClient, arguments: dict[str, Any], field: str, problem: str
) -> None:
    result = shared_session.call("tools/call", {"name": "add", "arguments": arguments})
    assert result["isError"] is True
    message = text_of(result)
    assert f"{field}:" in message
    assert problem in message
    assert "'add'" in message
    assert "structuredContent" not in result


def test_a_tool_that_raises_is_an_error_result_and_the_server_lives_on(
    shared_session: RawClient,
) -> None:
    result = shared_session.call("tools/call", {"name": "explode", "arguments": {"reason": "boom"}})
    assert result["isError"] is True
    message = text_of(result)
    assert "exploded: boom" in message
    assert "RuntimeError" in message
    assert "error id" in message
    assert (
        text_of(shared_session.call("tools/call", {"name": "echo", "arguments": {"text": "alive"}}))
        == "alive"
    )
    shared_session.wait_stderr("exploded: boom")  # the traceback went to the log, on stderr


def test_a_tool_error_is_an_error_result_with_exactly_its_message(
    shared_session: RawClient,
) -> None:
    result = shared_session.call("tools/call", {"name": "refuse", "arguments": {}})
    assert result == {"content": [{"type": "text", "text": "refused on purpose"}], "isError": True}


def test_a_tool_that_prints_leaves_stdout_clean_and_eof_exits_zero(session: RawClient) -> None:
    result = session.call("tools/call", {"name": "noisy", "arguments": {"text": "ok"}})
    assert text_of(result) == "quiet ok"
    # the next answer is still a clean JSON line (RawClient fails on anything that is not)
    assert (
        text_of(session.call("tools/call", {"name": "echo", "arguments": {"text": "after"}}))
        == "after"
    )
    started = time.monotonic()
    session.close_stdin()
    assert session.drain() == []
    assert session.wait_exit(timeout=5) == 0
    assert time.monotonic() - started < 3
    for noise in ("print() noise ok", "sys.stdout noise", "fd-1 noise", "child process noise"):
        assert noise in session.stderr


def test_printing_at_import_or_in_a_lifespan_leaves_stdout_clean(
    run_cli: Any, mcp_schemas: Any
) -> None:
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    result = run_cli(
        "serve", "--plugin", "e2e_noisy_startup", allow=("e2e_noisy_startup",), input=ping + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert "noise while importing" in result.stderr + result.stdout
    lines = result.stdout.splitlines()
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            pytest.fail(f"stdout line is not JSON: {line!r}")
        mcp_schemas.validate(message, LATEST_LEGACY, "ping")
    assert [json.loads(line)["id"] for line in lines] == [1]
    for noise in ("importing", "lifespan starts", "lifespan stops"):
        assert f"noise while {'the ' if 'lifespan' in noise else ''}{noise}" in result.stderr


def test_tool_added_at_run_time_notifies_list_changed(session: RawClient) -> None:
    grown = session.call("tools/call", {"name": "grow", "arguments": {"name": "sprout"}})
    assert text_of(grown) == "added sprout"
    session.call("ping")  # the notification is sent by a task: it is out before this answer
    [changed] = session.take_notifications("notifications/tools/list_changed")
    assert "params" not in changed or changed["params"] in ({}, None)
    assert session.take_notifications() == []  # nothing else (no resources/prompts list_changed)
    names = {t["name"] for t in session.call("tools/list")["tools"]}
    assert names == ALL_TOOLS | {"sprout"}
    sprout = session.call("tools/call", {"name": "sprout", "arguments": {}})
    assert text_of(sprout) == "grown sprout"


# ---------------------------------------------------------------------------------------------
# Progress and logging


@pytest.mark.parametrize("token", ["progress-abc", 7])
def test_progress_notifications_for_a_progress_token(session: RawClient, token: Any) -> None:
    result = session.call(
        "tools/call",
        {"name": "count_up", "arguments": {"steps": 3}, "_meta": {"progressToken": token}},
    )
    assert text_of(result) == "counted to 3"
    progress = session.take_notifications("notifications/progress")
    assert [n["params"] for n in progress] == [
        {"progressToken": token, "progress": i, "total": 3, "message": f"step {i} of 3"}
        for i in (1, 2, 3)
    ]
    # all of them arrived before the response
    last_progress = max(
        i for i, m in enumerate(session.received) if m.get("method") == "notifications/progress"
    )
    response = next(i for i, m in enumerate(session.received) if m.get("result") is result)
    assert last_progress < response


def test_no_progress_without_a_token(session: RawClient) -> None:
    session.call("tools/call", {"name": "count_up", "arguments": {"steps": 3}})
    assert session.take_notifications("notifications/progress") == []


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("debug", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("warning", ["warning", "error"]),
        ("error", ["error"]),
        ("emergency", []),
    ],
)
def test_logging_set_level_filters_log_notifications(
    session: RawClient, level: str, expected: list[str]
) -> None:
    assert session.call("logging/setLevel", {"level": level}) == {}
    assert text_of(session.call("tools/call", {"name": "chatty", "arguments": {}})) == "chatted"
    messages = session.take_notifications("notifications/message")
    assert [m["params"]["level"] for m in messages] == expected
    by_level = {m["params"]["level"]: m["params"] for m in messages}
    if "warning" in by_level:
        assert by_level["warning"] == {
            "level": "warning",
            "logger": "e2e_alpha",
            "data": {"detail": "warning from chatty"},
        }
    if "error" in by_level:
        assert by_level["error"]["logger"] == "alpha.custom"
        assert by_level["error"]["data"] == "error from chatty"


def test_logging_level_can_be_changed_again(session: RawClient) -> None:
    session.call("logging/setLevel", {"level": "error"})
    session.call("tools/call", {"name": "chatty", "arguments": {}})
    assert len(session.take_notifications("notifications/message")) == 1
    session.call("logging/setLevel", {"level": "debug"})
    session.call("tools/call", {"name": "chatty", "arguments": {}})
    assert len(session.take_notifications("notifications/message")) == 4


def test_logging_set_level_rejects_an_unknown_level(session: RawClient) -> None:
    err = error_of(session.request("logging/setLevel", {"level": "loud"}))
    assert err["code"] == INVALID_PARAMS
    assert "loud" in err["message"]


# ---------------------------------------------------------------------------------------------
# Resources, prompts, completion


def test_resources_list_and_templates_list(shared_session: RawClient) -> None:
    resources = {r["uri"]: r for r in shared_session.call("resources/list")["resources"]}
    assert set(resources) == FIXED_RESOURCES
    assert resources["e2e://alpha/readme"]["mimeType"] == "text/plain"
    assert resources["e2e://alpha/readme"]["name"] == "readme"
    assert resources["e2e://beta/config"]["mimeType"] == "application/json"
    templates = {
        t["uriTemplate"]: t
        for t in shared_session.call("resources/templates/list")["resourceTemplates"]
    }
    assert set(templates) == TEMPLATES
    assert templates["e2e://alpha/items/{item_id}"]["name"] == "item"
    assert templates["e2e://alpha/items/{item_id}"]["mimeType"] == "application/json"


def test_resources_read_fixed(shared_session: RawClient) -> None:
    readme = shared_session.call("resources/read", {"uri": "e2e://alpha/readme"})
    assert readme["contents"] == [
        {
            "uri": "e2e://alpha/readme",
            "mimeType": "text/plain",
            "text": "Alpha readme: the first e2e test plugin.",
        }
    ]
    config = shared_session.call("resources/read", {"uri": "e2e://beta/config"})["contents"][0]
    assert config["mimeType"] == "application/json"
    assert json.loads(config["text"]) == {"mode": "beta", "level": 2}


def test_resources_read_templated(shared_session: RawClient) -> None:
    item = shared_session.call("resources/read", {"uri": "e2e://alpha/items/2"})["contents"]
    assert len(item) == 1
    assert item[0]["uri"] == "e2e://alpha/items/2"
    assert json.loads(item[0]["text"]) == {"id": "2", "name": "two"}
    note = shared_session.call("resources/read", {"uri": "e2e://beta/users/ada/notes/n%201"})[
        "contents"
    ][0]
    assert note["text"] == "note n 1 of ada"
    assert note["uri"] == "e2e://beta/users/ada/notes/n%201"


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_resources_read_unknown_uri_in_legacy_versions(server: RawClient, version: str) -> None:
    server.initialize(version)
    err = error_of(server.request("resources/read", {"uri": "e2e://nowhere/at/all"}))
    # -32002 in every handshake version; -32602 (SEP-2164) only from 2026-07-28 on
    assert err["code"] == RESOURCE_NOT_FOUND_LEGACY
    assert "e2e://nowhere/at/all" in err["message"]
    assert err["data"] == {"uri": "e2e://nowhere/at/all"}


def test_resource_whose_function_raises_is_an_internal_error(shared_session: RawClient) -> None:
    err = error_of(shared_session.request("resources/read", {"uri": "e2e://alpha/items/99"}))
    assert err["code"] == INTERNAL_ERROR
    assert "no item 99" in err["message"]
    assert isinstance(err["data"]["errorId"], str)
    assert shared_session.call("resources/read", {"uri": "e2e://alpha/items/1"})["contents"]


def test_resource_subscription_gets_updated_notifications(session: RawClient) -> None:
    assert session.call("resources/subscribe", {"uri": "e2e://alpha/readme"}) == {}
    session.call("tools/call", {"name": "touch", "arguments": {"uri": "e2e://alpha/readme"}})
    session.call(
        "tools/call", {"name": "touch", "arguments": {"uri": "e2e://beta/config"}}
    )  # not subscribed
    session.call("ping")
    updated = session.take_notifications("notifications/resources/updated")
    assert [n["params"] for n in updated] == [{"uri": "e2e://alpha/readme"}]
    assert session.call("resources/unsubscribe", {"uri": "e2e://alpha/readme"}) == {}
    session.call("tools/call", {"name": "touch", "arguments": {"uri": "e2e://alpha/readme"}})
    session.call("ping")
    assert session.take_notifications("notifications/resources/updated") == []


def test_prompts_list(shared_session: RawClient) -> None:
    prompts = {p["name"]: p for p in shared_session.call("prompts/list")["prompts"]}
    assert set(prompts) == PROMPTS
    assert prompts["greet"]["description"] == "Greet someone."
    assert prompts["greet"]["arguments"] == [
        {"name": "name", "description": "who to greet", "required": True},
        {"name": "style", "description": "formal or casual", "required": False},
    ]
    assert prompts["summarize"]["arguments"] == [
        {"name": "topic", "description": "what to summarize", "required": True}
    ]


def test_prompts_get_with_arguments(shared_session: RawClient) -> None:
    greet = shared_session.call(
        "prompts/get", {"name": "greet", "arguments": {"name": "Ada", "style": "formal"}}
    )
    assert greet["description"] == "Greet someone."
    assert greet["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Good day, Ada."}},
        {"role": "assistant", "content": {"type": "text", "text": "(formal greeting)"}},
    ]
    summary = shared_session.call(
        "prompts/get", {"name": "summarize", "arguments": {"topic": "MCP"}}
    )
    assert summary["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Please summarize MCP."}}
    ]


def test_prompts_get_errors(shared_session: RawClient) -> None:
    missing = error_of(shared_session.request("prompts/get", {"name": "greet", "arguments": {}}))
    assert missing["code"] == INVALID_PARAMS
    assert "name" in missing["message"]
    bad_choice = error_of(
        shared_session.request(
            "prompts/get", {"name": "greet", "arguments": {"name": "x", "style": "rude"}}
        )
    )
    assert bad_choice["code"] == INVALID_PARAMS
    assert "style" in bad_choice["message"]
    unknown = error_of(shared_session.request("prompts/get", {"name": "no_prompt"}))
    assert unknown["code"] == INVALID_PARAMS
    assert "no_prompt" in unknown["message"]


@pytest.mark.parametrize(
    ("argument", "value", "values"),
    [
        ("style", "f", ["formal"]),
        ("style", "", ["formal", "casual"]),
        ("name", "al", ["alice", "albert"]),
        ("name", "z", []),
    ],
)
def test_completion_complete(
    shared_session: RawClient, argument: str, value: str, values: list[str]
) -> None:
    result = shared_session.call(
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "greet"},
            "argument": {"name": argument, "value": value},
        },
    )
    assert result["completion"] == {"values": values, "total": len(values), "hasMore": False}


def test_completion_for_an_unknown_ref_is_empty(shared_session: RawClient) -> None:
    result = shared_session.call(
        "completion/complete",
        {
            "ref": {"type": "ref/resource", "uri": "e2e://nope/{x}"},
            "argument": {"name": "x", "value": ""},
        },
    )
    assert result["completion"]["values"] == []


# ---------------------------------------------------------------------------------------------
# Pagination


@pytest.mark.parametrize(
    ("method", "field", "key", "expected"),
    [
        ("tools/list", "tools", "name", ALL_TOOLS),
        ("prompts/list", "prompts", "name", PROMPTS),
        ("resources/list", "resources", "uri", FIXED_RESOURCES),
        ("resources/templates/list", "resourceTemplates", "uriTemplate", TEMPLATES),
    ],
)
def test_pagination_walks_next_cursor(
    spawn_server: Any, method: str, field: str, key: str, expected: set[str]
) -> None:
    client = spawn_server(env={"MCP_RUNNER_PAGE_SIZE": "1"})
    client.initialize()
    seen: list[str] = []
    cursor = None
    for _ in range(len(expected) + 1):
        result = client.call(method, {"cursor": cursor} if cursor is not None else {})
        assert len(result[field]) == 1
        seen.append(result[field][0][key])
        cursor = result.get("nextCursor")
        if cursor is None:
            break
    assert cursor is None, "nextCursor never ended"
    assert len(seen) == len(expected)
    assert set(seen) == expected


@pytest.mark.parametrize(
    "method", ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]
)
def test_invalid_cursor_is_invalid_params(spawn_server: Any, method: str) -> None:
    client = spawn_server(env={"MCP_RUNNER_PAGE_SIZE": "1"})
    client.initialize()
    # garbage, empty, not base64 of "o:<offset>", base64 of "o:x", not a string
    for cursor in ["not-a-cursor", "", "b:1", "bzp4", 12, {"o": 1}]:
        err = error_of(client.request(method, {"cursor": cursor}))
        assert err["code"] == INVALID_PARAMS, cursor
        assert "cursor" in err["message"].lower()
    assert client.call(method)["nextCursor"]


# ---------------------------------------------------------------------------------------------
# Cancellation and shutdown


def test_cancelled_request_gets_no_response_and_others_are_answered_at_once(
    session: RawClient,
) -> None:
    slow_id = session.start("tools/call", {"name": "slow", "arguments": {"seconds": 30}})
    session.notify("notifications/cancelled", {"requestId": slow_id, "reason": "changed my mind"})
    started = time.monotonic()
    fast = session.call("tools/call", {"name": "echo", "arguments": {"text": "fast"}})
    assert text_of(fast) == "fast"
    assert time.monotonic() - started < 2
    session.expect_silence(0.3)
    session.close_stdin()
    rest = session.drain(timeout=5)
    assert all(m.get("id") != slow_id for m in rest), rest
    assert slow_id not in {m.get("id") for m in session.received if isinstance(m, dict)}
    assert session.wait_exit(timeout=5) == 0


def test_cancelling_an_unknown_request_is_ignored(shared_session: RawClient) -> None:
    shared_session.notify("notifications/cancelled", {"requestId": 424242})
    shared_session.notify("notifications/cancelled", {})
    assert shared_session.call("ping") == {}


def test_duplicate_id_while_in_flight_is_invalid_request(session: RawClient) -> None:
    session.start("tools/call", {"name": "slow", "arguments": {"seconds": 30}}, id="dup")
    err = error_of(session.request("ping", id="dup"))
    assert err["code"] == INVALID_REQUEST
    assert "in flight" in err["message"]
    session.notify("notifications/cancelled", {"requestId": "dup"})
    assert session.call("ping") == {}
    session.expect_silence(0.2)  # the cancelled call is never answered


def test_eof_with_a_request_in_flight_answers_it_after_the_grace(spawn_server: Any) -> None:
    client = spawn_server(env={"MCP_RUNNER_SHUTDOWN_GRACE": "0.3"})
    client.initialize()
    slow_id = client.start("tools/call", {"name": "slow", "arguments": {"seconds": 30}})
    client.call("ping")
    started = time.monotonic()
    client.close_stdin()
    answer = client.wait_response(slow_id, timeout=5)
    assert error_of(answer)["code"] == INTERNAL_ERROR
    assert "shutting down" in error_of(answer)["message"]
    assert client.drain() == []
    assert client.wait_exit(timeout=5) == 0
    assert time.monotonic() - started < 3


def test_eof_waits_for_a_short_request_to_finish(session: RawClient) -> None:
    slow_id = session.start("tools/call", {"name": "slow", "arguments": {"seconds": 0.3}})
    session.call("ping")
    session.close_stdin()
    assert text_of(session.wait_response(slow_id)["result"]) == "slept 0.3"
    assert session.wait_exit(timeout=5) == 0


def test_framing_pipelined_split_and_crlf(shared_session: RawClient) -> None:
    def line(request_id: str, text: str) -> bytes:
        params = {"name": "echo", "arguments": {"text": text}}
        message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
        shared_session.track(message)
        return json.dumps(message, ensure_ascii=False).encode()

    # two messages in one write, one of them CRLF-terminated
    shared_session.send_raw(line("p1", "one") + b"\r\n" + line("p2", "two") + b"\n")
    # one message in three writes
    split = line("p3", "three") + b"\n"
    for part in (split[:7], split[7:30], split[30:]):
        shared_session.send_raw(part)
    for request_id, text in (("p1", "one"), ("p2", "two"), ("p3", "three")):
        assert text_of(shared_session.wait_response(request_id)["result"]) == text


def test_newlines_and_unicode_separators_stay_inside_one_line(shared_session: RawClient) -> None:
    text = "line1\nline2\r\n\u2028\u2029\x00 é ✓ 🎉"
    result = shared_session.call("tools/call", {"name": "echo", "arguments": {"text": text}})
    assert text_of(result) == text  # RawClient read it as one JSON line


def test_max_in_flight_answers_server_busy(spawn_server: Any) -> None:
    client = spawn_server(env={"MCP_RUNNER_MAX_IN_FLIGHT": "2"})
    client.initialize()
    first = client.start("tools/call", {"name": "slow", "arguments": {"seconds": 0.5}})
    second = client.start("tools/call", {"name": "slow", "arguments": {"seconds": 30}})
    busy = error_of(client.request("ping"))
    assert busy["code"] == -32000
    assert "busy" in busy["message"].lower()
    assert text_of(client.wait_response(first)["result"]) == "slept 0.5"
    assert client.call("ping") == {}  # a slot is free again
    client.notify("notifications/cancelled", {"requestId": second})


def test_sigterm_exits_zero_promptly(session: RawClient) -> None:
    started = time.monotonic()
    session.proc.send_signal(signal.SIGTERM)
    assert session.wait_exit(timeout=5) == 0
    assert time.monotonic() - started < 3
    assert session.drain() == []


# ---------------------------------------------------------------------------------------------
# JSON-RPC errors


@pytest.mark.parametrize(
    "raw",
    [b"{not json}\n", b'{"jsonrpc": "2.0", "id": 1, "method": \n', b"\xff\xfe\n", b"[1, 2\n"],
    ids=["garbage", "truncated", "not-utf8", "unclosed-array"],
)
def test_malformed_json_is_a_parse_error_and_the_server_keeps_answering(
    shared_session: RawClient, raw: bytes
) -> None:
    shared_session.send_raw(raw)
    answer = shared_session.recv()
    assert answer["id"] is None
    assert answer["error"]["code"] == PARSE_ERROR
    assert shared_session.call("ping") == {}


def test_blank_lines_are_ignored(shared_session: RawClient) -> None:
    before = len(shared_session.received)
    shared_session.send_raw(b"\n   \n\r\n")
    assert shared_session.call("ping") == {}
    assert len(shared_session.received) == before + 1  # the ping's answer only


@pytest.mark.parametrize("request_id", [0, -1, 2**53, "", "id with spaces ✓"])
def test_any_string_or_integer_id_is_echoed(shared_session: RawClient, request_id: Any) -> None:
    answer = shared_session.request("ping", id=request_id)
    assert answer == {"jsonrpc": "2.0", "id": request_id, "result": {}}


def test_oversized_message_arriving_in_pieces_is_refused_and_skipped(spawn_server: Any) -> None:
    client = spawn_server(env={"MCP_RUNNER_MAX_MESSAGE_BYTES": "1024"})
    client.initialize()
    line = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": "big",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x" * 3000}},
        }
    ).encode()
    client.send_raw(line[:2000])  # more than the limit, no newline yet
    refused = client.recv()
    assert refused["id"] is None
    assert refused["error"]["code"] == INVALID_REQUEST
    assert "1024" in refused["error"]["message"]
    client.send_raw(line[2000:] + b"\n")  # the rest of the discarded message
    assert client.call("ping") == {}
    assert all(m.get("id") != "big" for m in client.received)


def test_oversized_message_arriving_whole_is_refused(spawn_server: Any) -> None:
    client = spawn_server(env={"MCP_RUNNER_MAX_MESSAGE_BYTES": "1024"})
    client.initialize()
    client.start("tools/call", {"name": "echo", "arguments": {"text": "x" * 3000}}, id="big")
    answer = client.recv()
    assert "error" in answer, f"served despite the 1024-byte limit: {str(answer)[:200]}"
    assert answer["error"]["code"] == INVALID_REQUEST


def test_unknown_method_is_method_not_found(shared_session: RawClient) -> None:
    err = error_of(shared_session.request("tools/frobnicate", {}))
    assert err["code"] == METHOD_NOT_FOUND
    assert "tools/frobnicate" in err["message"]


def test_modern_only_method_in_a_legacy_session_is_method_not_found(
    shared_session: RawClient,
) -> None:
    err = error_of(shared_session.request("server/discover", {}))
    assert err["code"] == METHOD_NOT_FOUND


def test_unknown_notification_is_ignored(shared_session: RawClient) -> None:
    shared_session.notify("notifications/whatever", {"x": 1})
    assert shared_session.call("ping") == {}


@pytest.mark.parametrize(
    ("message", "answer_id"),
    [
        ({"jsonrpc": "1.0", "id": 11, "method": "ping"}, 11),
        ({"id": 12, "method": "ping"}, 12),
        ({"jsonrpc": "2.0", "id": 13}, 13),
        ({"jsonrpc": "2.0", "id": 14, "method": 42}, 14),
        ({"jsonrpc": "2.0", "id": 15, "method": "ping", "params": [1, 2]}, 15),
        ({"jsonrpc": "2.0", "id": {"nested": 1}, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
        ("a string", None),
        (42, None),
        ([{"jsonrpc": "2.0", "id": 16, "method": "ping"}], None),  # batches: only in 2025-03-26
        ([], None),
    ],
    ids=[
        "wrong-jsonrpc",
        "no-jsonrpc",
        "no-method",
        "method-not-string",
        "params-array",
        "id-object",
        "id-bool",
        "id-float",
        "id-null",
        "string",
        "number",
        "batch",
        "empty-batch",
    ],
)
def test_invalid_request_shapes_are_invalid_request(
    shared_session: RawClient, message: Any, answer_id: Any
) -> None:
    shared_session.send(message)
    answer = shared_session.recv()
    assert answer.get("id") == answer_id
    assert answer["error"]["code"] == INVALID_REQUEST
    assert shared_session.call("ping") == {}


@pytest.mark.parametrize(
    ("method", "params", "mentions"),
    [
        ("tools/call", {"arguments": {}}, "name"),
        ("tools/call", {"name": 5}, "name"),
        ("tools/call", {"name": "echo", "arguments": ["x"]}, "arguments"),
        ("resources/read", {}, "uri"),
        ("resources/read", {"uri": 7}, "uri"),
        ("prompts/get", {}, "name"),
        ("prompts/get", {"name": "greet", "arguments": "x"}, "arguments"),
        ("logging/setLevel", {}, "level"),
        ("completion/complete", {"argument": {"name": "x", "value": ""}}, "ref"),
        ("completion/complete", {"ref": {"type": "ref/prompt"}, "argument": {"name": "x"}}, "ref"),
        (
            "completion/complete",
            {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"value": ""}},
            "argument",
        ),
        ("resources/subscribe", {}, "uri"),
    ],
)
def test_bad_params_are_invalid_params(
    shared_session: RawClient, method: str, params: dict[str, Any], mentions: str
) -> None:
    err = error_of(shared_session.request(method, params))
    assert err["code"] == INVALID_PARAMS
    assert mentions in err["message"]
    assert shared_session.call("ping") == {}


def test_batch_in_2025_03_26(server: RawClient) -> None:
    server.initialize("2025-03-26")
    server.send(
        [
            {"jsonrpc": "2.0", "id": "b1", "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/whatever"},
            {
                "jsonrpc": "2.0",
                "id": "b2",
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "in batch"}},
            },
            {"jsonrpc": "2.0", "id": "b3", "method": "no/such/method"},
        ]
    )
    answer = server.recv()
    assert isinstance(answer, list)
    by_id = {a["id"]: a for a in answer}
    assert set(by_id) == {"b1", "b2", "b3"}
    assert by_id["b1"]["result"] == {}
    assert text_of(by_id["b2"]["result"]) == "in batch"
    assert by_id["b3"]["error"]["code"] == METHOD_NOT_FOUND


def test_batch_requests_can_be_cancelled_and_initialize_is_refused(server: RawClient) -> None:
    server.initialize("2025-03-26")
    slow = {"name": "slow", "arguments": {"seconds": 30}, "_meta": {"progressToken": "t"}}
    server.send(
        [
            {"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": slow},
            {"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {}},
        ]
    )
    progress = server.recv()  # the slow tool runs
    assert progress["method"] == "notifications/progress"
    cancel = {"requestId": "slow", "reason": "enough"}
    server.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel})
    answer = server.recv()
    assert isinstance(answer, list) and [a["id"] for a in answer] == ["init"]
    assert "initialize cannot be part of a batch" in answer[0]["error"]["message"]
    assert server.request("ping")["result"] == {}  # the session is still at 2025-03-26


# ---------------------------------------------------------------------------------------------
# The 2026-07-28 era over stdio (no handshake: version and capabilities in every request)


def modern(params: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    out = dict(params or {})
    out["_meta"] = {
        META_PROTOCOL_VERSION: MODERN_VERSION,
        META_CLIENT_CAPABILITIES: {},
        META_CLIENT_INFO: {"name": "mcp-runner-e2e", "version": "0.0.1"},
        **meta,
    }
    return out


@pytest.fixture
def modern_client(server: RawClient) -> RawClient:
    server.fallback_version = MODERN_VERSION
    return server


def test_modern_discover(modern_client: RawClient) -> None:
    result = modern_client.call("server/discover", modern())
    assert MODERN_VERSION in result["supportedVersions"]
    assert set(LEGACY_VERSIONS) <= set(result["supportedVersions"])
    assert "tools" in result["capabilities"]
    assert result["resultType"] == "complete"


def test_modern_tools_resources_prompts(modern_client: RawClient) -> None:
    client = modern_client
    tools = client.call("tools/list", modern())
    assert {t["name"] for t in tools["tools"]} == ALL_TOOLS
    added = client.call("tools/call", modern({"name": "add", "arguments": {"a": 1, "b": 2}}))
    assert added["structuredContent"] == {"result": 3}
    assert added["resultType"] == "complete"
    readme = client.call("resources/read", modern({"uri": "e2e://alpha/readme"}))
    assert readme["contents"][0]["text"].startswith("Alpha readme")
    item = client.call("resources/read", modern({"uri": "e2e://alpha/items/1"}))
    assert json.loads(item["contents"][0]["text"]) == {"id": "1", "name": "one"}
    prompt = client.call("prompts/get", modern({"name": "summarize", "arguments": {"topic": "x"}}))
    assert prompt["messages"][0]["content"]["text"] == "Please summarize x."
    client.call(
        "tools/call", modern({"name": "count_up", "arguments": {"steps": 2}}, progressToken="m")
    )
    assert len(client.take_notifications("notifications/progress")) == 2


def test_modern_unknown_resource_is_invalid_params(modern_client: RawClient) -> None:
    err = error_of(modern_client.request("resources/read", modern({"uri": "e2e://nowhere"})))
    assert err["code"] == INVALID_PARAMS  # SEP-2164
    assert err["data"] == {"uri": "e2e://nowhere"}


def test_modern_logging_follows_the_log_level_in_meta(modern_client: RawClient) -> None:
    client = modern_client
    client.call("tools/call", modern({"name": "chatty", "arguments": {}}))
    assert client.take_notifications("notifications/message") == []  # no logLevel: no logs
    client.call(
        "tools/call",
        modern(
            {"name": "chatty", "arguments": {}}, **{"io.modelcontextprotocol/logLevel": "warning"}
        ),
    )
    assert [n["params"]["level"] for n in client.take_notifications("notifications/message")] == [
        "warning",
        "error",
    ]


def test_modern_removed_methods_and_missing_envelope(modern_client: RawClient) -> None:
    client = modern_client
    assert error_of(client.request("ping", modern()))["code"] == METHOD_NOT_FOUND
    assert (
        error_of(client.request("logging/setLevel", modern({"level": "debug"})))["code"]
        == METHOD_NOT_FOUND
    )
    no_caps = {"_meta": {META_PROTOCOL_VERSION: MODERN_VERSION}}
    assert error_of(client.request("tools/list", no_caps))["code"] == INVALID_PARAMS


# ---------------------------------------------------------------------------------------------
# The schema helper itself: it must fail on wrong shapes (or the checks above prove nothing)

TOOL = {"name": "t", "inputSchema": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    ("version", "message", "method"),
    [
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "t"}]}},
            "tools/list",
        ),
        (
            "2024-11-05",
            {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"inputSchema": {"type": "object"}}]}},
            "tools/list",
        ),
        (
            "2025-06-18",
            {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text"}]}},
            "tools/call",
        ),
        ("2025-03-26", {"jsonrpc": "2.0", "id": 1, "result": {"content": "text"}}, "tools/call"),
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "id": 1, "result": {"contents": [{"text": "no uri"}]}},
            "resources/read",
        ),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {
                    "messages": [{"role": "robot", "content": {"type": "text", "text": "x"}}]
                },
            },
            "prompts/get",
        ),
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "id": 1, "result": {"completion": {"values": [1]}}},
            "completion/complete",
        ),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {"protocolVersion": "2025-11-25", "capabilities": {}},
            },
            "initialize",
        ),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {"tools": [TOOL], "ttlMs": 5, "cacheScope": "public"},
            },
            "tools/list",
        ),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {"tools": [TOOL]},
                "error": {"code": 1, "message": "x"},
            },
            "tools/list",
        ),
        ("2025-11-25", {"jsonrpc": "2.0", "id": 1, "result": {}}, None),
        ("2025-11-25", {"jsonrpc": "2.0", "id": 1, "result": {}}, "made/up"),
        ("2025-11-25", {"jsonrpc": "1.0", "id": 1, "result": {}}, "ping"),
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32601, "message": "x"}},
            None,
        ),
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "id": 1, "error": {"code": "bad", "message": "x"}},
            "ping",
        ),
        ("2024-11-05", {"jsonrpc": "2.0", "error": {"code": -32601, "message": "x"}}, None),
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}},
            None,
        ),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "loud", "data": 1},
            },
            None,
        ),
        ("2025-11-25", {"jsonrpc": "2.0", "method": "notifications/made_up"}, None),
        (
            "2025-06-18",
            {
                "jsonrpc": "2.0",
                "method": "notifications/elicitation/complete",
                "params": {"elicitationId": "x"},
            },
            None,
        ),
        ("2026-07-28", {"jsonrpc": "2.0", "id": 1, "result": {"tools": [TOOL]}}, "tools/list"),
        (
            "2026-07-28",
            {"jsonrpc": "2.0", "id": 1, "result": {"resultType": "complete", "tools": [TOOL]}},
            "tools/list",
        ),
    ],
)
def test_schema_helper_rejects_wrong_shapes(
    mcp_schemas: Any, version: str, message: Any, method: str | None
) -> None:
    with pytest.raises(AssertionError):
        mcp_schemas.validate(message, version, method)


@pytest.mark.parametrize(
    ("version", "message", "method"),
    [
        ("2024-11-05", {"jsonrpc": "2.0", "id": 1, "result": {"tools": [TOOL]}}, "tools/list"),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "id": "a",
                "result": {"content": [{"type": "text", "text": "x"}], "isError": True},
            },
            "tools/call",
        ),
        (
            "2025-11-25",
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}},
            None,
        ),
        (
            "2024-11-05",
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid request"}},
            None,
        ),
        (
            "2025-11-25",
            {
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {"progressToken": 1, "progress": 1},
            },
            None,
        ),
        (
            "2026-07-28",
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {
                    "resultType": "complete",
                    "tools": [TOOL],
                    "ttlMs": 0,
                    "cacheScope": "public",
                },
            },
            "tools/list",
        ),
    ],
)
def test_schema_helper_accepts_right_shapes(
    mcp_schemas: Any, version: str, message: Any, method: str | None
) -> None:
    mcp_schemas.validate(message, version, method)
