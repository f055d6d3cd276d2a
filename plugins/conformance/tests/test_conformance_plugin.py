"""The conformance plugin, in process, on both protocol eras.

Legacy-wire tests drive the engine through a session that plays the client (it answers
sampling / elicitation / roots requests and records every message the server sends);
2026-07-28 tests build requests with the `_meta` envelope and run the input-required rounds
by hand, the way the conformance suite does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any

import pytest
from mcp_runner import Runner
from mcp_runner.protocol.connection import Connection
from mcp_runner.protocol.session import DirectOutlet
from mcp_runner.protocol.versions import (
    META_CLIENT_CAPABILITIES,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SUBSCRIPTION_ID,
)
from mcp_runner.transports.http.exchange import answer_status
from mcp_runner_conformance import (
    JSON_SCHEMA_2020_12_INPUT_SCHEMA,
    TEST_AUDIO_BASE64,
    TEST_IMAGE_BASE64,
    plugin,
)

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ALL_CAPS: dict[str, Any] = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}


@pytest.fixture
def runner() -> Runner:
    return Runner(plugins={"conformance": plugin}, entry_points=False).start()


class FakeClient:
    """Plays the client of one session: answers server requests, records what it receives."""

    def __init__(
        self,
        runner: Runner,
        *,
        version: str = LEGACY,
        capabilities: dict[str, Any] | None = None,
        answers: dict[str, Any] | None = None,
    ) -> None:
        self.engine = runner.engine
        self.modern = version == MODERN
        self.capabilities = dict(ALL_CAPS if capabilities is None else capabilities)
        self.answers = answers or {}
        self.received: list[dict[str, Any]] = []  # everything the server sent, in order
        self.outbound: list[dict[str, Any]] = []  # messages not tied to a request
        self.session = self.engine.session("test", self._outbound)
        self.connection = Connection(self.engine, self.session, max_in_flight=1024)
        if not self.modern:
            self.session.version = version
            self.session.initialized = True
            self.session.client_capabilities = self.capabilities
        self._ids = 0

    async def _outbound(self, message: dict[str, Any]) -> None:
        self.outbound.append(message)

    async def _send(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        if "id" in message and "method" in message:  # a server-to-client request
            answer = self.answers[message["method"]]
            result = answer(message["params"]) if callable(answer) else answer
            self.session.resolve({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def envelope(self, params: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
        params = dict(params or {})
        if self.modern:
            params["_meta"] = {
                META_PROTOCOL_VERSION: MODERN,
                META_CLIENT_CAPABILITIES: self.capabilities,
                **params.get("_meta", {}),
                **meta,
            }
        elif meta:
            params["_meta"] = {**params.get("_meta", {}), **meta}
        return params

    def build(self, method: str, params: dict[str, Any] | None = None, **meta: Any) -> Any:
        self._ids += 1
        message = {
            "jsonrpc": "2.0",
            "id": self._ids,
            "method": method,
            "params": self.envelope(params, **meta),
        }
        req = self.connection.receive(message, DirectOutlet(self._send))
        assert not isinstance(req, dict) and req is not None, req
        return req

    async def request(
        self, method: str, params: dict[str, Any] | None = None, **meta: Any
    ) -> dict[str, Any]:
        """The JSON-RPC response message."""
        return await self.engine.handle(self.build(method, params, **meta))

    async def result(
        self, method: str, params: dict[str, Any] | None = None, **meta: Any
    ) -> dict[str, Any]:
        answer = await self.request(method, params, **meta)
        assert "result" in answer, answer
        return answer["result"]  # type: ignore[no-any-return]

    async def call(
        self, name: str, arguments: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        return await self.result(
            "tools/call", {"name": name, "arguments": arguments or {}, **extra}
        )

    def notifications(self, method: str) -> list[dict[str, Any]]:
        return [m["params"] for m in self.received if m.get("method") == method and "id" not in m]

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [m["params"] for m in self.received if m.get("method") == method and "id" in m]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def text_of(result: dict[str, Any]) -> str:
    assert len(result["content"]) == 1, result
    assert result["content"][0]["type"] == "text"
    return result["content"][0]["text"]  # type: ignore[no-any-return]


NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def accept(content: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": content}


def sampled(text: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": {"type": "text", "text": text},
        "model": "m",
        "stopReason": "endTurn",
    }


ROOTS = {"roots": [{"uri": "file:///test/root", "name": "Test Root"}]}


# ---------------------------------------------------------------------------------------------
# Listing (legacy wire)

TOOLS = {
    "test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
    "test_multiple_content_types", "test_tool_with_logging", "test_tool_with_progress",
    "test_error_handling", "test_sampling", "test_elicitation", "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums", "json_schema_2020_12_tool", "test_reconnection",
    "test_x_mcp_header", "test_missing_capability", "test_trigger_tool_change",
    "test_trigger_prompt_change", "test_input_required_result_elicitation",
    "test_input_required_result_sampling", "test_input_required_result_list_roots",
    "test_input_required_result_request_state", "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round", "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
    # diagnostic tools the 2026-07-28 server-stateless scenario calls (not in the reference)
    "test_streaming_elicitation", "test_logging_tool",
    # the tasks scenarios' fixtures (io.modelcontextprotocol/tasks)
    "greet", "slow_compute", "failing_job", "protocol_error_job", "confirm_delete", "multi_input",
    "test_tool_with_task",
}  # fmt: skip
PROMPTS = {
    "test_simple_prompt", "test_prompt_with_arguments", "test_prompt_with_embedded_resource",
    "test_prompt_with_image", "test_input_required_result_prompt",
}  # fmt: skip


def test_tools_list(runner: Runner) -> None:
    tools = run(runner.request("tools/list"))["result"]["tools"]
    assert {t["name"] for t in tools} == TOOLS
    for tool in tools:
        assert re.fullmatch(r"[A-Za-z0-9_./-]{1,64}", tool["name"])
        assert tool["description"], tool["name"]
        assert tool["inputSchema"]["type"] == "object"
        assert "outputSchema" not in tool, tool["name"]
    by_name = {t["name"]: t for t in tools}
    assert by_name["test_sampling"]["inputSchema"]["required"] == ["prompt"]
    assert by_name["test_elicitation"]["inputSchema"]["required"] == ["message"]
    assert by_name["test_simple_text"]["inputSchema"] == {"type": "object", "properties": {}}


def test_json_schema_2020_12_kept_verbatim(runner: Runner) -> None:
    tools = run(runner.request("tools/list"))["result"]["tools"]
    schema = next(t for t in tools if t["name"] == "json_schema_2020_12_tool")["inputSchema"]
    assert schema == JSON_SCHEMA_2020_12_INPUT_SCHEMA
    assert list(schema) == list(JSON_SCHEMA_2020_12_INPUT_SCHEMA)
    result = run(runner.call_tool("json_schema_2020_12_tool", {"name": "Ada", "email": "a@b.c"}))
    assert text_of(result) == 'json_schema_2020_12_tool: {"name":"Ada","email":"a@b.c"}'


def test_x_mcp_header_schema_and_result(runner: Runner) -> None:
    tools = run(runner.request("tools/list"))["result"]["tools"]
    schema = next(t for t in tools if t["name"] == "test_x_mcp_header")["inputSchema"]
    assert schema["properties"]["region"]["type"] == "string"
    assert schema["properties"]["region"]["x-mcp-header"] == "Region"
    assert (
        text_of(run(runner.call_tool("test_x_mcp_header", {"region": "us-west1"})))
        == "region=us-west1"
    )


def test_capabilities(runner: Runner) -> None:
    result = run(
        runner.request(
            "initialize",
            {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        )
    )["result"]
    caps = result["capabilities"]
    assert caps["tools"] == {"listChanged": True}
    assert caps["resources"] == {"subscribe": True, "listChanged": True}
    assert caps["prompts"] == {"listChanged": True}
    assert "logging" in caps and "completions" in caps


# ---------------------------------------------------------------------------------------------
# Tools with fixed results

PNG = {"type": "image", "data": TEST_IMAGE_BASE64, "mimeType": "image/png"}
FIXED = {
    "test_simple_text": [{"type": "text", "text": "This is a simple text response for testing."}],
    "test_image_content": [PNG],
    "test_audio_content": [{"type": "audio", "data": TEST_AUDIO_BASE64, "mimeType": "audio/wav"}],
    "test_embedded_resource": [
        {
            "type": "resource",
            "resource": {
                "uri": "test://embedded-resource",
                "mimeType": "text/plain",
                "text": "This is an embedded resource content.",
            },
        }
    ],
    "test_multiple_content_types": [
        {"type": "text", "text": "Multiple content types test:"},
        PNG,
        {
            "type": "resource",
            "resource": {
                "uri": "test://mixed-content-resource",
                "mimeType": "application/json",
                "text": '{"test":"data","value":123}',
            },
        },
    ],
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_results(runner: Runner, name: str) -> None:
    result = run(runner.call_tool(name))
    assert result == {"content": FIXED[name]}


def test_fixtures_decode() -> None:
    assert base64.b64decode(TEST_IMAGE_BASE64).startswith(b"\x89PNG\r\n\x1a\n")
    assert base64.b64decode(TEST_AUDIO_BASE64)[8:12] == b"WAVE"


def test_error_handling_is_an_error_result(runner: Runner) -> None:
    answer = run(runner.request("tools/call", {"name": "test_error_handling", "arguments": {}}))
    assert answer["result"] == {
        "content": [
            {"type": "text", "text": "This tool intentionally returns an error for testing"}
        ],
        "isError": True,
    }


def test_logging(runner: Runner) -> None:
    client = FakeClient(runner)

    async def go() -> tuple[dict[str, Any], float]:
        assert await client.result("logging/setLevel", {"level": "debug"}) == {}
        started = time.monotonic()
        result = await client.call("test_tool_with_logging")
        return result, time.monotonic() - started

    result, took = run(go())
    logs = client.notifications("notifications/message")
    assert [(m["level"], m["data"]) for m in logs] == [
        ("info", "Tool execution started"),
        ("info", "Tool processing data"),
        ("info", "Tool execution completed"),
    ]
    assert took >= 0.09
    assert text_of(result) == "Tool with logging executed successfully"


def test_progress(runner: Runner) -> None:
    client = FakeClient(runner)
    result = run(client.call("test_tool_with_progress", _meta={"progressToken": "progress-test-1"}))
    progress = client.notifications("notifications/progress")
    assert progress == [
        {"progressToken": "progress-test-1", "progress": 0, "total": 100},
        {"progressToken": "progress-test-1", "progress": 50, "total": 100},
        {"progressToken": "progress-test-1", "progress": 100, "total": 100},
    ]
    assert result["content"][0]["type"] == "text"


def test_progress_without_token_sends_nothing(runner: Runner) -> None:
    client = FakeClient(runner)
    run(client.call("test_tool_with_progress"))
    assert client.notifications("notifications/progress") == []


def test_reconnection_in_process(runner: Runner) -> None:
    client = FakeClient(runner)
    result = run(client.call("test_reconnection"))
    assert [m["data"] for m in client.notifications("notifications/message")] == [
        "Before disconnect",
        "After reconnect",
    ]
    assert text_of(result) == "Reconnection test completed"


# ---------------------------------------------------------------------------------------------
# Server-to-client requests (legacy wire)


def test_sampling(runner: Runner) -> None:
    client = FakeClient(
        runner, answers={"sampling/createMessage": sampled("This is a test response")}
    )
    result = run(client.call("test_sampling", {"prompt": "Test prompt for sampling"}))
    assert client.requests("sampling/createMessage") == [
        {
            "messages": [
                {"role": "user", "content": {"type": "text", "text": "Test prompt for sampling"}}
            ],
            "maxTokens": 100,
        }
    ]
    assert text_of(result) == "LLM response: This is a test response"


def test_elicitation(runner: Runner) -> None:
    content = {"username": "testuser", "email": "test@example.com"}
    client = FakeClient(runner, answers={"elicitation/create": accept(content)})
    result = run(client.call("test_elicitation", {"message": "Please provide your information"}))
    assert client.requests("elicitation/create") == [
        {
            "message": "Please provide your information",
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "username": {"type": "string", "description": "User's response"},
                    "email": {"type": "string", "description": "User's email address"},
                },
                "required": ["username", "email"],
            },
        }
    ]
    assert text_of(result) == (
        'User response: action=accept, content={"username":"testuser","email":"test@example.com"}'
    )


def test_elicitation_declined(runner: Runner) -> None:
    client = FakeClient(runner, answers={"elicitation/create": {"action": "decline"}})
    result = run(client.call("test_elicitation", {"message": "hi"}))
    assert text_of(result) == "User response: action=decline, content={}"


def test_elicitation_needs_the_capability(runner: Runner) -> None:
    client = FakeClient(runner, capabilities={})
    answer = run(
        client.request("tools/call", {"name": "test_elicitation", "arguments": {"message": "x"}})
    )
    assert "error" in answer or answer["result"].get("isError")
    assert client.requests("elicitation/create") == []


def test_elicitation_sep1034_defaults(runner: Runner) -> None:
    answer = accept(
        {"name": "Jane Smith", "age": 25, "score": 88, "status": "inactive", "verified": False}
    )
    client = FakeClient(runner, answers={"elicitation/create": answer})
    result = run(client.call("test_elicitation_sep1034_defaults"))
    [params] = client.requests("elicitation/create")
    props = params["requestedSchema"]["properties"]
    assert (props["name"]["type"], props["name"]["default"]) == ("string", "John Doe")
    assert (props["age"]["type"], props["age"]["default"]) == ("integer", 30)
    assert (props["score"]["type"], props["score"]["default"]) == ("number", 95.5)
    assert props["status"]["enum"] == ["active", "inactive", "pending"]
    assert (props["status"]["type"], props["status"]["default"]) == ("string", "active")
    assert (props["verified"]["type"], props["verified"]["default"]) == ("boolean", True)
    assert text_of(result) == (
        'Elicitation completed: action=accept, content={"name":"Jane Smith","age":25,"score":88,'
        '"status":"inactive","verified":false}'
    )


def test_elicitation_sep1330_enums(runner: Runner) -> None:
    client = FakeClient(
        runner, answers={"elicitation/create": accept({"untitledSingle": "option1"})}
    )
    result = run(client.call("test_elicitation_sep1330_enums"))
    [params] = client.requests("elicitation/create")
    props = params["requestedSchema"]["properties"]
    single = props["untitledSingle"]
    assert (
        single["type"] == "string"
        and single["enum"]
        and "oneOf" not in single
        and "enumNames" not in single
    )
    titled = props["titledSingle"]
    assert titled["type"] == "string" and "enum" not in titled
    assert all(isinstance(o["const"], str) and isinstance(o["title"], str) for o in titled["oneOf"])
    legacy = props["legacyEnum"]
    assert legacy["type"] == "string" and len(legacy["enum"]) == len(legacy["enumNames"])
    multi = props["untitledMulti"]
    assert (
        multi["type"] == "array" and multi["items"]["type"] == "string" and multi["items"]["enum"]
    )
    titled_multi = props["titledMulti"]
    assert titled_multi["type"] == "array"
    assert all({"const", "title"} <= set(o) for o in titled_multi["items"]["anyOf"])
    assert text_of(result).startswith("Elicitation completed: action=accept, content={")


def test_missing_capability_legacy(runner: Runner) -> None:
    client = FakeClient(runner, capabilities={})
    answer = run(client.request("tools/call", {"name": "test_missing_capability", "arguments": {}}))
    assert answer["error"]["code"] == -32021
    assert answer["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}
    ok = FakeClient(runner)
    assert "proceeding" in text_of(run(ok.call("test_missing_capability")))


def test_input_required_tools_on_the_legacy_wire(runner: Runner) -> None:
    client = FakeClient(
        runner,
        answers={
            "elicitation/create": lambda p: accept({"name": "Ada", "color": "green", "ok": True}),
            "sampling/createMessage": sampled("Paris"),
            "roots/list": ROOTS,
        },
    )

    async def go() -> list[str]:
        names = [
            "test_input_required_result_elicitation",
            "test_input_required_result_sampling",
            "test_input_required_result_list_roots",
            "test_input_required_result_request_state",
            "test_input_required_result_multiple_inputs",
            "test_input_required_result_multi_round",
        ]
        return [text_of(await client.call(n)) for n in names]

    assert run(go()) == [
        "Hello, Ada!",
        "Model said: Paris",
        "Client exposed 1 root(s).",
        "state-ok: confirmation received (ok=True)",
        "All inputs received: name=Ada, greeting=Paris, roots=1.",
        "Ada likes green.",
    ]


# ---------------------------------------------------------------------------------------------
# Dynamic tools and prompts


def test_trigger_tool_and_prompt_change(runner: Runner) -> None:
    changes: list[str] = []
    runner.registry.subscribe(changes.append)
    client = FakeClient(runner)

    async def go() -> None:
        assert text_of(await client.call("test_trigger_tool_change")) == "tool list changed"
        assert text_of(await client.call("test_trigger_prompt_change")) == "prompt list changed"
        await asyncio.sleep(0.01)  # the list_changed notifications are sent by background tasks

    run(go())
    assert changes == ["tools", "tools", "prompts", "prompts"]
    assert "test_dynamic_tool" not in runner.registry.tools
    assert "test_dynamic_prompt" not in runner.registry.prompts
    methods = [m["method"] for m in client.outbound]
    assert methods.count("notifications/tools/list_changed") == 2
    assert methods.count("notifications/prompts/list_changed") == 2
    # repeatable: the dynamic names are free again
    run(FakeClient(runner).call("test_trigger_tool_change"))


def test_trigger_tool_change_reaches_listen_streams(runner: Runner) -> None:
    listener = FakeClient(runner, version=MODERN)
    caller = FakeClient(runner, version=MODERN)

    async def go() -> None:
        listen = asyncio.ensure_future(
            listener.request("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
        )
        await asyncio.sleep(0.01)
        assert text_of(await caller.call("test_trigger_tool_change")) == "tool list changed"
        assert text_of(await caller.call("test_trigger_prompt_change")) == "prompt list changed"
        await asyncio.sleep(0.01)
        listen.cancel()  # the server ends the stream (answered or cancelled, either is fine)
        await asyncio.gather(listen, return_exceptions=True)

    run(go())
    methods = [m["method"] for m in listener.received]
    assert methods[0] == "notifications/subscriptions/acknowledged"
    assert "notifications/tools/list_changed" in methods
    assert "notifications/prompts/list_changed" not in methods  # not asked for
    changed = next(
        m for m in listener.received if m["method"] == "notifications/tools/list_changed"
    )
    assert changed["params"]["_meta"][META_SUBSCRIPTION_ID] == 1


# ---------------------------------------------------------------------------------------------
# Resources


def test_resources_list(runner: Runner) -> None:
    resources = run(runner.request("resources/list"))["result"]["resources"]
    assert {r["uri"] for r in resources} == {
        "test://static-text",
        "test://static-binary",
        "test://watched-resource",
    }
    for resource in resources:
        assert resource["name"] and resource["description"]
    templates = run(runner.request("resources/templates/list"))["result"]["resourceTemplates"]
    assert [t["uriTemplate"] for t in templates] == ["test://template/{id}/data"]
    assert templates[0]["name"] and templates[0]["description"]
    assert templates[0]["mimeType"] == "application/json"


READS = {
    "test://static-text": {
        "uri": "test://static-text",
        "mimeType": "text/plain",
        "text": "This is the content of the static text resource.",
    },
    "test://static-binary": {
        "uri": "test://static-binary",
        "mimeType": "image/png",
        "blob": TEST_IMAGE_BASE64,
    },
    "test://template/123/data": {
        "uri": "test://template/123/data",
        "mimeType": "application/json",
        "text": '{"id":"123","templateTest":true,"data":"Data for ID: 123"}',
    },
    "test://watched-resource": {
        "uri": "test://watched-resource",
        "mimeType": "text/plain",
        "text": "Watched resource content",
    },
}


@pytest.mark.parametrize("uri", sorted(READS))
def test_resources_read(runner: Runner, uri: str) -> None:
    assert run(runner.request("resources/read", {"uri": uri}))["result"] == {
        "contents": [READS[uri]]
    }


def test_template_data_is_json(runner: Runner) -> None:
    [content] = run(runner.request("resources/read", {"uri": "test://template/abc/data"}))[
        "result"
    ]["contents"]
    assert json.loads(content["text"]) == {
        "id": "abc",
        "templateTest": True,
        "data": "Data for ID: abc",
    }


def test_subscribe_and_unsubscribe(runner: Runner) -> None:
    client = FakeClient(runner)
    assert run(client.result("resources/subscribe", {"uri": "test://watched-resource"})) == {}
    assert run(client.result("resources/unsubscribe", {"uri": "test://watched-resource"})) == {}


def test_unknown_resource(runner: Runner) -> None:
    uri = "test://nonexistent-resource-for-conformance-testing"
    legacy = run(runner.request("resources/read", {"uri": uri}))
    assert "error" in legacy and "result" not in legacy
    modern = run(FakeClient(runner, version=MODERN).request("resources/read", {"uri": uri}))
    assert modern["error"]["code"] == -32602
    assert modern["error"]["data"] == {"uri": uri}


# ---------------------------------------------------------------------------------------------
# Prompts and completion


def test_prompts_list(runner: Runner) -> None:
    prompts = run(runner.request("prompts/list"))["result"]["prompts"]
    assert {p["name"] for p in prompts} == PROMPTS
    for prompt in prompts:
        assert prompt["description"], prompt["name"]
    by_name = {p["name"]: p for p in prompts}
    assert [
        (a["name"], a["required"]) for a in by_name["test_prompt_with_arguments"]["arguments"]
    ] == [
        ("arg1", True),
        ("arg2", True),
    ]
    assert [a["name"] for a in by_name["test_prompt_with_embedded_resource"]["arguments"]] == [
        "resourceUri"
    ]
    assert "arguments" not in by_name["test_simple_prompt"]
    assert "arguments" not in by_name["test_input_required_result_prompt"]


def get_prompt(
    runner: Runner, name: str, arguments: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    answer = run(runner.request("prompts/get", {"name": name, "arguments": arguments or {}}))
    return answer["result"]["messages"]  # type: ignore[no-any-return]


def test_prompts_get(runner: Runner) -> None:
    assert get_prompt(runner, "test_simple_prompt") == [
        {
            "role": "user",
            "content": {"type": "text", "text": "This is a simple prompt for testing."},
        }
    ]
    assert get_prompt(
        runner, "test_prompt_with_arguments", {"arg1": "testValue1", "arg2": "testValue2"}
    ) == [
        {
            "role": "user",
            "content": {
                "type": "text",
                "text": "Prompt with arguments: arg1='testValue1', arg2='testValue2'",
            },
        }
    ]
    assert get_prompt(
        runner, "test_prompt_with_embedded_resource", {"resourceUri": "test://example-resource"}
    ) == [
        {
            "role": "user",
            "content": {
                "type": "resource",
                "resource": {
                    "uri": "test://example-resource",
                    "mimeType": "text/plain",
                    "text": "Embedded resource content for testing.",
                },
            },
        },
        {
            "role": "user",
            "content": {"type": "text", "text": "Please process the embedded resource above."},
        },
    ]
    assert get_prompt(runner, "test_prompt_with_image") == [
        {"role": "user", "content": PNG},
        {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}},
    ]


def test_prompt_missing_argument_is_an_error(runner: Runner) -> None:
    answer = run(
        runner.request(
            "prompts/get", {"name": "test_prompt_with_arguments", "arguments": {"arg1": "x"}}
        )
    )
    assert answer["error"]["code"] == -32602


def test_completion(runner: Runner) -> None:
    def complete(value: str) -> dict[str, Any]:
        params = {
            "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
            "argument": {"name": "arg1", "value": value},
        }
        return run(runner.request("completion/complete", params))["result"]["completion"]  # type: ignore[no-any-return]

    test = complete("test")
    assert test["values"] and all(v.startswith("test") for v in test["values"])
    assert test["total"] == len(test["values"]) and test["hasMore"] is False
    assert complete("par")["values"] == ["paris"]
    assert complete("zzz")["values"] == []


def test_ping_and_set_level(runner: Runner) -> None:
    assert run(runner.request("ping"))["result"] == {}
    assert run(runner.request("logging/setLevel", {"level": "debug"}))["result"] == {}


# ---------------------------------------------------------------------------------------------
# 2026-07-28: input-required rounds


def modern(runner: Runner, capabilities: dict[str, Any] | None = None) -> FakeClient:
    return FakeClient(runner, version=MODERN, capabilities=capabilities)


def test_modern_envelope_and_no_server_requests(runner: Runner) -> None:
    client = modern(runner)
    result = run(client.call("test_simple_text"))
    assert result["resultType"] == "complete"
    assert text_of(result) == "This is a simple text response for testing."
    run(client.call("test_input_required_result_multiple_inputs"))
    assert [m for m in client.received if "id" in m] == []  # never a server-to-client request


def test_modern_logging_only_with_log_level(runner: Runner) -> None:
    quiet = modern(runner)
    run(quiet.call("test_tool_with_logging"))
    assert quiet.notifications("notifications/message") == []
    loud = modern(runner)
    run(loud.call("test_tool_with_logging", _meta={META_LOG_LEVEL: "debug"}))
    assert len(loud.notifications("notifications/message")) == 3


def test_diagnostic_tools_modern(runner: Runner) -> None:
    client = modern(runner, {"elicitation": {}})
    streaming = run(client.call("test_streaming_elicitation"))
    assert streaming["resultType"] == "input_required"
    assert [r["method"] for r in streaming["inputRequests"].values()] == ["elicitation/create"]
    assert text_of(run(client.call("test_logging_tool"))) == "Logging tool executed"
    assert client.received == []  # no requests, and no logs without a logLevel
    run(client.call("test_logging_tool", _meta={META_LOG_LEVEL: "info"}))
    assert len(client.notifications("notifications/message")) == 2


def test_diagnostic_tools_legacy(runner: Runner) -> None:
    client = FakeClient(runner, answers={"elicitation/create": accept({"name": "Ada"})})
    assert text_of(run(client.call("test_streaming_elicitation"))) == "Hello, Ada!"
    assert len(client.requests("elicitation/create")) == 1


def test_ir_elicitation(runner: Runner) -> None:
    client = modern(runner)
    r1 = run(client.call("test_input_required_result_elicitation"))
    assert r1["resultType"] == "input_required"
    assert r1["inputRequests"] == {
        "user_name": {
            "method": "elicitation/create",
            "params": {"message": "What is your name?", "requestedSchema": NAME_SCHEMA},
        }
    }
    assert isinstance(r1["requestState"], str)
    r2 = run(
        client.call(
            "test_input_required_result_elicitation",
            inputResponses={"user_name": accept({"name": "Alice"})},
            requestState=r1["requestState"],
        )
    )
    assert r2["resultType"] == "complete"
    assert text_of(r2) == "Hello, Alice!"


def test_ir_elicitation_odd_responses(runner: Runner) -> None:
    client = modern(runner)
    name = "test_input_required_result_elicitation"
    # wrong key: asked again, not an error
    wrong = run(client.call(name, inputResponses={"wrong_key": accept({"data": "wrong"})}))
    assert wrong["resultType"] == "input_required" and list(wrong["inputRequests"]) == ["user_name"]
    # extra keys are ignored
    extra = run(
        client.call(
            name,
            inputResponses={
                "user_name": accept({"name": "Alice"}),
                "unknown_extra_key": accept({"foo": "bar"}),
            },
        )
    )
    assert text_of(extra) == "Hello, Alice!"
    # garbage: never a complete result
    for garbage in (12345, None):
        answer = run(
            client.request(
                "tools/call",
                {"name": name, "arguments": {}, "inputResponses": {"user_name": garbage}},
            )
        )
        assert "error" in answer or answer["result"]["resultType"] == "input_required"
    answer = run(
        client.request("tools/call", {"name": name, "arguments": {}, "inputResponses": None})
    )
    assert "error" in answer or answer["result"]["resultType"] == "input_required"
    answer = run(
        client.request("tools/call", {"name": name, "arguments": {}, "inputResponses": "nope"})
    )
    assert answer["error"]["code"] == -32602


def test_ir_sampling(runner: Runner) -> None:
    client = modern(runner)
    r1 = run(client.call("test_input_required_result_sampling"))
    assert r1["inputRequests"] == {
        "capital_question": {
            "method": "sampling/createMessage",
            "params": {
                "messages": [
                    {
                        "role": "user",
                        "content": {"type": "text", "text": "What is the capital of France?"},
                    }
                ],
                "maxTokens": 100,
            },
        }
    }
    r2 = run(
        client.call(
            "test_input_required_result_sampling",
            inputResponses={"capital_question": sampled("The capital of France is Paris.")},
            requestState=r1["requestState"],
        )
    )
    assert "The capital of France is Paris." in text_of(r2)


def test_ir_list_roots(runner: Runner) -> None:
    client = modern(runner)
    r1 = run(client.call("test_input_required_result_list_roots"))
    assert r1["inputRequests"] == {"client_roots": {"method": "roots/list", "params": {}}}
    r2 = run(
        client.call(
            "test_input_required_result_list_roots",
            inputResponses={"client_roots": ROOTS},
            requestState=r1["requestState"],
        )
    )
    assert text_of(r2) == "Client exposed 1 root(s)."


def test_ir_request_state(runner: Runner) -> None:
    client = modern(runner)
    name = "test_input_required_result_request_state"
    r1 = run(client.call(name))
    assert r1["inputRequests"] == {
        "confirm": {
            "method": "elicitation/create",
            "params": {
                "message": "Please confirm",
                "requestedSchema": {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}},
                    "required": ["ok"],
                },
            },
        }
    }
    assert isinstance(r1["requestState"], str) and r1["requestState"]
    r2 = run(
        client.call(
            name, inputResponses={"confirm": accept({"ok": True})}, requestState=r1["requestState"]
        )
    )
    assert r2["resultType"] == "complete" and "state-ok" in text_of(r2)
    stateless = run(client.call(name, inputResponses={"confirm": accept({"ok": True})}))
    assert "state-ok" not in text_of(stateless)


def test_ir_multiple_inputs(runner: Runner) -> None:
    client = modern(runner)
    name = "test_input_required_result_multiple_inputs"
    r1 = run(client.call(name))
    assert r1["inputRequests"] == {
        "user_name": {
            "method": "elicitation/create",
            "params": {"message": "What is your name?", "requestedSchema": NAME_SCHEMA},
        },
        "greeting": {
            "method": "sampling/createMessage",
            "params": {
                "messages": [
                    {"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}
                ],
                "maxTokens": 50,
            },
        },
        "client_roots": {"method": "roots/list", "params": {}},
    }
    assert r1["requestState"]
    # a partial answer asks only for what is still missing
    partial = run(
        client.call(
            name,
            inputResponses={"user_name": accept({"name": "Alice"})},
            requestState=r1["requestState"],
        )
    )
    assert set(partial["inputRequests"]) == {"greeting", "client_roots"}
    responses = {"greeting": sampled("Hello there!"), "client_roots": ROOTS}
    r2 = run(client.call(name, inputResponses=responses, requestState=partial["requestState"]))
    assert text_of(r2) == "All inputs received: name=Alice, greeting=Hello there!, roots=1."


def test_ir_multi_round(runner: Runner) -> None:
    client = modern(runner)
    name = "test_input_required_result_multi_round"
    r1 = run(client.call(name))
    assert r1["inputRequests"] == {
        "step1": {
            "method": "elicitation/create",
            "params": {"message": "Step 1: What is your name?", "requestedSchema": NAME_SCHEMA},
        }
    }
    r2 = run(
        client.call(
            name,
            inputResponses={"step1": accept({"name": "Alice"})},
            requestState=r1["requestState"],
        )
    )
    assert r2["resultType"] == "input_required"
    assert r2["inputRequests"] == {
        "step2": {
            "method": "elicitation/create",
            "params": {
                "message": "Step 2: What is your favorite color?",
                "requestedSchema": {
                    "type": "object",
                    "properties": {"color": {"type": "string"}},
                    "required": ["color"],
                },
            },
        }
    }
    assert r2["requestState"] != r1["requestState"]
    r3 = run(
        client.call(
            name,
            inputResponses={"step2": accept({"color": "blue"})},
            requestState=r2["requestState"],
        )
    )
    assert r3["resultType"] == "complete"
    assert text_of(r3) == "Alice likes blue."


def test_ir_tampered_state(runner: Runner) -> None:
    client = modern(runner)
    name = "test_input_required_result_tampered_state"
    r1 = run(client.call(name))
    assert r1["resultType"] == "input_required" and r1["requestState"]
    answer = run(
        client.request(
            "tools/call",
            {
                "name": name,
                "arguments": {},
                "inputResponses": {"confirm": accept({"ok": True})},
                "requestState": r1["requestState"] + "-TAMPERED",
            },
        )
    )
    assert answer["error"]["code"] == -32602
    # the untampered state still works
    ok = run(
        client.call(
            name, inputResponses={"confirm": accept({"ok": True})}, requestState=r1["requestState"]
        )
    )
    assert text_of(ok).startswith("state-ok")
    # a state issued for another tool is refused too
    other = run(client.call("test_input_required_result_request_state"))
    stolen = run(
        client.request(
            "tools/call",
            {
                "name": name,
                "arguments": {},
                "inputResponses": {"confirm": accept({"ok": True})},
                "requestState": other["requestState"],
            },
        )
    )
    assert stolen["error"]["code"] == -32602


@pytest.mark.parametrize(
    ("capabilities", "keys"),
    [
        ({"sampling": {}}, {"sample"}),
        ({"elicitation": {}}, {"ask"}),
        ({"sampling": {}, "elicitation": {}}, {"sample", "ask"}),
    ],
)
def test_ir_capabilities(runner: Runner, capabilities: dict[str, Any], keys: set[str]) -> None:
    client = modern(runner, capabilities)
    r1 = run(client.call("test_input_required_result_capabilities"))
    assert r1["resultType"] == "input_required"
    assert set(r1["inputRequests"]) == keys
    methods = {r["method"] for r in r1["inputRequests"].values()}
    assert ("elicitation/create" in methods) == ("elicitation" in capabilities)
    assert ("sampling/createMessage" in methods) == ("sampling" in capabilities)
    responses = {"sample": sampled("hi"), "ask": accept({"name": "Ada"})}
    r2 = run(
        client.call(
            "test_input_required_result_capabilities",
            inputResponses={k: responses[k] for k in keys},
            requestState=r1["requestState"],
        )
    )
    assert r2["resultType"] == "complete"


def test_ir_capabilities_none_declared(runner: Runner) -> None:
    result = run(modern(runner, {}).call("test_input_required_result_capabilities"))
    assert result["resultType"] == "complete"


def test_missing_capability_modern(runner: Runner) -> None:
    client = modern(runner, {})
    req = client.build("tools/call", {"name": "test_missing_capability", "arguments": {}})
    answer = run(runner.engine.handle(req))
    assert answer["error"]["code"] == -32021
    assert answer["error"]["data"]["requiredCapabilities"] == {"sampling": {}}
    assert answer_status(req)[0] == 400
    ok = run(modern(runner, {"sampling": {}}).call("test_missing_capability"))
    assert ok["resultType"] == "complete" and "proceeding" in text_of(ok)


def test_ir_prompt(runner: Runner) -> None:
    client = modern(runner)
    r1 = run(client.result("prompts/get", {"name": "test_input_required_result_prompt"}))
    assert r1["resultType"] == "input_required"
    assert r1["inputRequests"] == {
        "user_context": {
            "method": "elicitation/create",
            "params": {
                "message": "What context should the prompt use?",
                "requestedSchema": {
                    "type": "object",
                    "properties": {"context": {"type": "string"}},
                    "required": ["context"],
                },
            },
        }
    }
    r2 = run(
        client.result(
            "prompts/get",
            {
                "name": "test_input_required_result_prompt",
                "inputResponses": {"user_context": accept({"context": "test context"})},
                "requestState": r1["requestState"],
            },
        )
    )
    assert r2["resultType"] == "complete"
    assert r2["messages"] == [
        {
            "role": "user",
            "content": {"type": "text", "text": "Use the following context: test context"},
        }
    ]


def test_ir_not_on_list_methods(runner: Runner) -> None:
    client = modern(runner)
    for method in ("tools/list", "prompts/list", "resources/list", "resources/templates/list"):
        result = run(client.result(method))
        assert result["resultType"] == "complete"
        assert isinstance(result["ttlMs"], int) and result["cacheScope"] in ("public", "private")
