"""conformance: the tools, resources and prompts the official MCP conformance suite calls.

Every name, argument and result here follows the suite's server requirements (the
"everything server" surface), so `mcp-runner serve --transport http` with only this plugin
enabled is a server the suite can score. The same functions answer both protocol eras: on the
2025-xx wire `ctx.elicit` / `ctx.sample` / `ctx.list_roots` send real requests to the client;
on the 2026-07-28 wire they become input-required rounds keyed by the `key=` given here.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from mcp_runner import (
    Audio,
    Context,
    EmbeddedResource,
    Image,
    McpError,
    Message,
    Plugin,
    ToolError,
    ToolResult,
)
from mcp_runner.protocol.errors import MISSING_CAPABILITY
from mcp_runner.protocol.versions import is_modern

plugin = Plugin(
    "conformance",
    description="The MCP conformance suite's test surface (tools, resources, prompts)",
    version="0.1.0",
)

# Fixtures used by the reference server: a 1x1 PNG and a tiny WAV file.
TEST_IMAGE_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAF"
    "BQIAX8jx0gAAAABJRU5ErkJggg=="
)
TEST_AUDIO_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
TEST_IMAGE = base64.b64decode(TEST_IMAGE_BASE64)
TEST_AUDIO = base64.b64decode(TEST_AUDIO_BASE64)

STEP_DELAY = 0.05  # seconds between log / progress notifications

NAME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
}
CONFIRM_DELETE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean"}},
    "required": ["confirm"],
}
COLOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"color": {"type": "string"}},
    "required": ["color"],
}
CONTEXT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"context": {"type": "string"}},
    "required": ["context"],
}
USER_INFO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    "required": ["username", "email"],
}
SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
}
SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {
            "type": "string",
            "description": "Simple enum without titles",
            "enum": ["option1", "option2", "option3"],
        },
        "titledSingle": {
            "type": "string",
            "description": "Enum with titled options (oneOf)",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "description": "Legacy enum with enumNames",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "description": "Multi-select without titles",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "description": "Multi-select with titled options",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": ["untitledSingle", "titledSingle", "legacyEnum", "untitledMulti", "titledMulti"],
}
JSON_SCHEMA_2020_12_INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}
X_MCP_HEADER_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {
            "type": "string",
            "description": "Mirrored into the Mcp-Param-Region header",
            "x-mcp-header": "Region",
        }
    },
}
REQUEST_STATE_NONCE = "request-state-nonce"
ARG1_COMPLETIONS = ("test", "testValue1", "testing", "paris", "london", "tokyo")


def _compact(value: Any) -> str:
    """JSON without spaces, as the reference server's `model_dump_json()` prints it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _elicited(answer: dict[str, Any]) -> tuple[str, str]:
    """(action, content as compact JSON; ``{}`` unless accepted) of an elicitation answer."""
    action = str(answer.get("action", "cancel"))
    content = answer.get("content") if action == "accept" else None
    return action, _compact(content if isinstance(content, dict) else {})


def _accepted(answer: dict[str, Any]) -> dict[str, Any]:
    content = answer.get("content")
    return content if answer.get("action") == "accept" and isinstance(content, dict) else {}


def _sampled_text(result: dict[str, Any]) -> str:
    """The text of a `CreateMessageResult` (content is one block, or a list of blocks)."""
    content = result.get("content")
    blocks = content if isinstance(content, list) else [content]
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))
    return "No response"


# ---------------------------------------------------------------------------------------------
# Tools: content types


@plugin.tool
def test_simple_text() -> str:
    """Tests simple text content response"""
    return "This is a simple text response for testing."


@plugin.tool
def test_image_content() -> Image:
    """Tests image content response"""
    return Image(TEST_IMAGE, mime_type="image/png")


@plugin.tool
def test_audio_content() -> Audio:
    """Tests audio content response"""
    return Audio(TEST_AUDIO, mime_type="audio/wav")


@plugin.tool
def test_embedded_resource() -> EmbeddedResource:
    """Tests embedded resource content response"""
    return EmbeddedResource(
        uri="test://embedded-resource",
        text="This is an embedded resource content.",
        mime_type="text/plain",
    )


@plugin.tool
def test_multiple_content_types() -> ToolResult:
    """Tests response with multiple content types (text, image, resource)"""
    return ToolResult(
        content=[
            "Multiple content types test:",
            Image(TEST_IMAGE, mime_type="image/png"),
            EmbeddedResource(
                uri="test://mixed-content-resource",
                text=_compact({"test": "data", "value": 123}),
                mime_type="application/json",
            ),
        ]
    )


@plugin.tool
def test_error_handling() -> str:
    """Tests error response handling"""
    raise ToolError("This tool intentionally returns an error for testing")


# ---------------------------------------------------------------------------------------------
# Tools: notifications during a call


@plugin.tool
async def test_tool_with_logging(ctx: Context) -> str:
    """Tests tool that emits log messages during execution"""
    await ctx.info("Tool execution started")
    await asyncio.sleep(STEP_DELAY)
    await ctx.info("Tool processing data")
    await asyncio.sleep(STEP_DELAY)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@plugin.tool
async def test_tool_with_progress(ctx: Context) -> str:
    """Tests tool that reports progress notifications"""
    await ctx.report_progress(0, 100)
    await asyncio.sleep(STEP_DELAY)
    await ctx.report_progress(50, 100)
    await asyncio.sleep(STEP_DELAY)
    await ctx.report_progress(100, 100)
    return "Tool with progress executed successfully"


@plugin.tool
async def test_reconnection(ctx: Context) -> str:
    """Tests SSE polling by closing the request's stream mid-call (SEP-1699)"""
    await ctx.info("Before disconnect")
    await ctx.close_stream()
    await asyncio.sleep(0.2)
    await ctx.info("After reconnect")
    return "Reconnection test completed"


# ---------------------------------------------------------------------------------------------
# Tools: server-to-client requests (2025-xx wire)


@plugin.tool
async def test_sampling(prompt: str, ctx: Context) -> str:
    """Tests server-initiated sampling (LLM completion request)

    Args:
        prompt: The prompt to send to the LLM
    """
    result = await ctx.sample(prompt, max_tokens=100)
    return f"LLM response: {_sampled_text(result)}"


@plugin.tool
async def test_elicitation(message: str, ctx: Context) -> str:
    """Tests server-initiated elicitation (user input request)

    Args:
        message: The message to show the user
    """
    action, content = _elicited(await ctx.elicit(message, USER_INFO_SCHEMA))
    return f"User response: action={action}, content={content}"


@plugin.tool
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Tests elicitation with default values for all primitive types (SEP-1034)"""
    action, content = _elicited(await ctx.elicit("Please provide user information", SEP1034_SCHEMA))
    return f"Elicitation completed: action={action}, content={content}"


@plugin.tool
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Tests elicitation with enum schema variations (SEP-1330)"""
    action, content = _elicited(
        await ctx.elicit("Please select values using different enum schema types", SEP1330_SCHEMA)
    )
    return f"Elicitation completed: action={action}, content={content}"


# ---------------------------------------------------------------------------------------------
# Tools: input schemas kept verbatim


# `input_schema` (a ToolOptions key) is advertised verbatim, in place of the schema the
# signature would give: the suite checks that every keyword survives.
@plugin.tool(name="json_schema_2020_12_tool", input_schema=JSON_SCHEMA_2020_12_INPUT_SCHEMA)
def json_schema_2020_12_tool(
    name: str | None = None,
    address: dict[str, Any] | None = None,
    contactMethod: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """Tests JSON Schema 2020-12 keyword preservation in tools/list"""
    given = {
        key: value
        for key, value in {
            "name": name,
            "address": address,
            "contactMethod": contactMethod,
            "phone": phone,
            "email": email,
        }.items()
        if value is not None
    }
    return f"json_schema_2020_12_tool: {_compact(given)}"


@plugin.tool(input_schema=X_MCP_HEADER_INPUT_SCHEMA)
def test_x_mcp_header(region: str = "<none>") -> str:
    """Tests SEP-2243 Mcp-Param-* header mirroring and server-side validation"""
    return f"region={region}"


# ---------------------------------------------------------------------------------------------
# Tools: 2026-07-28 stateless era


@plugin.tool
async def test_missing_capability(ctx: Context) -> str:
    """Tests that a request needing an undeclared client capability fails with -32021"""
    if "sampling" not in ctx.client_capabilities:
        if is_modern(ctx.protocol_version):
            # The runner answers -32021 (HTTP 400) with requiredCapabilities {"sampling": {}}.
            await ctx.sample("Say hello", max_tokens=50, key="sampling_probe")
        raise McpError(
            MISSING_CAPABILITY,
            "This tool requires the client 'sampling' capability",
            {"requiredCapabilities": {"sampling": {}}},
        )
    return "Client declared sampling capability; proceeding."


# The next two are "diagnostic tools" the 2026-07-28 `server-stateless` scenario calls by name
# (they are not in the reference server: it passes those checks only because it answers an
# unknown tool with an isError result, where the runner answers a -32602 error).


@plugin.tool
async def test_streaming_elicitation(ctx: Context) -> str:
    """Asks the client for input mid-call: a real elicitation/create request on the 2025-xx
    wire, an input-required result (never a request on the response stream) on 2026-07-28"""
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA, key="streaming_name")
    return f"Hello, {_accepted(answer).get('name', 'stranger')}!"


@plugin.tool
async def test_logging_tool(ctx: Context) -> str:
    """Logs at info level; on 2026-07-28 nothing is sent unless the request's _meta has a
    logLevel"""
    await ctx.info("Logging tool started")
    await ctx.info("Logging tool finished")
    return "Logging tool executed"


def _dynamic_tool() -> str:
    """A tool registered and removed by test_trigger_tool_change."""
    return "dynamic"


def _dynamic_prompt() -> str:
    """A prompt registered and removed by test_trigger_prompt_change."""
    return "dynamic"


# async on purpose: a sync tool runs in a worker thread, where the registry's change
# listeners find no event loop to send `list_changed` from.
@plugin.tool
async def test_trigger_tool_change(ctx: Context) -> str:
    """Adds and removes a tool, so clients are told the tool list changed (SEP-2575)"""
    ctx.runner.add_tool(_dynamic_tool, name="test_dynamic_tool", plugin=plugin.name)
    ctx.runner.registry.remove_tool("test_dynamic_tool")
    return "tool list changed"


@plugin.tool
async def test_trigger_prompt_change(ctx: Context) -> str:
    """Adds and removes a prompt, so clients are told the prompt list changed (SEP-2575)"""
    ctx.runner.add_prompt(_dynamic_prompt, name="test_dynamic_prompt", plugin=plugin.name)
    ctx.runner.registry.remove_prompt("test_dynamic_prompt")
    return "prompt list changed"


@plugin.tool
async def test_input_required_result_elicitation(ctx: Context) -> str:
    """Tests InputRequiredResult with a single elicitation request"""
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA, key="user_name")
    return f"Hello, {_accepted(answer).get('name', 'stranger')}!"


@plugin.tool
async def test_input_required_result_sampling(ctx: Context) -> str:
    """Tests InputRequiredResult with a single sampling request"""
    result = await ctx.sample(
        "What is the capital of France?", max_tokens=100, key="capital_question"
    )
    return f"Model said: {_sampled_text(result)}"


@plugin.tool
async def test_input_required_result_list_roots(ctx: Context) -> str:
    """Tests InputRequiredResult with a single roots/list request"""
    roots = await ctx.list_roots(key="client_roots")
    return f"Client exposed {len(roots)} root(s)."


@plugin.tool
async def test_input_required_result_request_state(ctx: Context) -> str:
    """Tests requestState round-tripping in the InputRequiredResult flow"""
    echoed = ctx.state.get("nonce") == REQUEST_STATE_NONCE
    ctx.state["nonce"] = REQUEST_STATE_NONCE
    answer = await ctx.elicit("Please confirm", CONFIRM_SCHEMA, key="confirm")
    if echoed or not is_modern(ctx.protocol_version):
        return f"state-ok: confirmation received (ok={_accepted(answer).get('ok')})"
    return "confirmation received, but without the requestState it was asked with"


@plugin.tool
async def test_input_required_result_multiple_inputs(ctx: Context) -> str:
    """Tests InputRequiredResult carrying elicitation, sampling and roots requests together"""
    greeting = {
        "messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}],
        "maxTokens": 50,
    }
    answers = await ctx.ask_all(
        {
            "user_name": (
                "elicitation/create",
                {"message": "What is your name?", "requestedSchema": NAME_SCHEMA},
            ),
            "greeting": ("sampling/createMessage", greeting),
            "client_roots": ("roots/list", {}),
        }
    )
    name = _accepted(answers["user_name"]).get("name", "stranger")
    said = _sampled_text(answers["greeting"])
    roots = answers["client_roots"].get("roots", [])
    return f"All inputs received: name={name}, greeting={said}, roots={len(roots)}."


@plugin.tool
async def test_input_required_result_multi_round(ctx: Context) -> str:
    """Tests a three-round InputRequiredResult flow with evolving requestState"""
    first = await ctx.elicit("Step 1: What is your name?", NAME_SCHEMA, key="step1")
    ctx.state["name"] = _accepted(first).get("name")
    second = await ctx.elicit("Step 2: What is your favorite color?", COLOR_SCHEMA, key="step2")
    return f"{ctx.state['name']} likes {_accepted(second).get('color')}."


@plugin.tool
async def test_input_required_result_tampered_state(ctx: Context) -> str:
    """Tests that the server rejects a tampered requestState echo"""
    answer = await ctx.elicit("Please confirm", CONFIRM_SCHEMA, key="confirm")
    return f"state-ok: confirmed={_accepted(answer).get('ok')}"


@plugin.tool
async def test_input_required_result_capabilities(ctx: Context) -> str:
    """Tests that inputRequests only include methods the client declared support for"""
    caps = ctx.client_capabilities
    wanted: dict[str, tuple[str, dict[str, Any]]] = {}
    if "sampling" in caps:
        wanted["sample"] = (
            "sampling/createMessage",
            {
                "messages": [{"role": "user", "content": {"type": "text", "text": "Say hello"}}],
                "maxTokens": 50,
            },
        )
    if "elicitation" in caps:
        wanted["ask"] = (
            "elicitation/create",
            {"message": "What is your name?", "requestedSchema": NAME_SCHEMA},
        )
    if not wanted:
        return "The client declared neither sampling nor elicitation; nothing to ask."
    answers = await ctx.ask_all(wanted)
    return f"Received: {', '.join(sorted(answers))}."


# ---------------------------------------------------------------------------------------------
# Tools: tasks (the io.modelcontextprotocol/tasks extension)


@plugin.tool
def greet(name: str) -> str:
    """Greets someone (never a task)"""
    return f"Hello, {name}!"


@plugin.tool(task="optional")
async def slow_compute(seconds: float = 1.0, label: str = "") -> str:
    """Sleeps `seconds`, then answers; a task for a client that declared the tasks extension

    Args:
        seconds: How long to work (0: at once)
        label: A label echoed in the result
    """
    await asyncio.sleep(seconds)
    return f"Computed {label or 'result'} after {seconds:g} s"


@plugin.tool(task="required")
async def failing_job() -> str:
    """Fails as a tool after about a second (a completed task whose result is an error)"""
    await asyncio.sleep(1.0)
    raise ToolError("failing_job failed, as it always does")


@plugin.tool(task="optional")
async def protocol_error_job() -> str:
    """Fails with a protocol error (a failed task)"""
    await asyncio.sleep(0.1)
    raise McpError(-32603, "protocol_error_job broke, as it always does")


@plugin.tool(task="optional")
async def confirm_delete(filename: str, ctx: Context) -> str:
    """Asks the user to confirm, then "deletes" the file

    Args:
        filename: The file to delete
    """
    answer = await ctx.elicit(f"Delete {filename}?", CONFIRM_DELETE_SCHEMA, key="confirm")
    if _accepted(answer).get("confirm"):
        return f"Deleted {filename}"
    return f"Kept {filename}"


@plugin.tool(task="optional")
async def multi_input(ctx: Context) -> str:
    """Asks two questions at once, answered in any order"""
    answers = await ctx.ask_all(
        {
            "name": (
                "elicitation/create",
                {"message": "What is your name?", "requestedSchema": NAME_SCHEMA},
            ),
            "confirm": (
                "elicitation/create",
                {"message": "Proceed?", "requestedSchema": CONFIRM_DELETE_SCHEMA},
            ),
        }
    )
    name = _accepted(answers["name"]).get("name", "stranger")
    return f"{name} answered both (confirm={_accepted(answers['confirm']).get('confirm')})"


@plugin.tool(task="required", defer_task=True)
async def test_tool_with_task(ctx: Context) -> str:
    """Asks for a name in an input round, then runs on as a task"""
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA, key="user_name")
    name = _accepted(answer).get("name", "stranger")
    await ctx.begin_task()
    await asyncio.sleep(0.2)
    return f"Hello, {name}! (from a task)"


# ---------------------------------------------------------------------------------------------
# Resources


@plugin.resource("test://static-text", name="static-text", mime_type="text/plain")
def static_text_resource() -> str:
    """A static text resource for testing"""
    return "This is the content of the static text resource."


@plugin.resource("test://static-binary", name="static-binary", mime_type="image/png")
def static_binary_resource() -> bytes:
    """A static binary resource (image) for testing"""
    return TEST_IMAGE


@plugin.resource("test://template/{id}/data", name="template-data", mime_type="application/json")
def template_resource(id: str) -> str:
    """A resource template with parameter substitution"""
    return _compact({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@plugin.resource("test://watched-resource", name="watched-resource", mime_type="text/plain")
def watched_resource() -> str:
    """A resource that can be subscribed to for updates"""
    return "Watched resource content"


# ---------------------------------------------------------------------------------------------
# Prompts


@plugin.prompt
def test_simple_prompt() -> str:
    """A simple prompt without arguments"""
    return "This is a simple prompt for testing."


@plugin.prompt
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with required arguments

    Args:
        arg1: First test argument
        arg2: Second test argument
    """
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@plugin.prompt
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Any]:
    """A prompt that includes an embedded resource

    Args:
        resourceUri: URI of the resource to embed
    """
    return [
        Message(
            EmbeddedResource(
                uri=resourceUri,
                text="Embedded resource content for testing.",
                mime_type="text/plain",
            )
        ),
        Message("Please process the embedded resource above."),
    ]


@plugin.prompt
def test_prompt_with_image() -> list[Any]:
    """A prompt that includes image content"""
    return [
        Message(Image(TEST_IMAGE, mime_type="image/png")),
        Message("Please analyze the image above."),
    ]


@plugin.prompt
async def test_input_required_result_prompt(ctx: Context) -> str:
    """Tests InputRequiredResult from prompts/get (a non-tool request)"""
    answer = await ctx.elicit(
        "What context should the prompt use?", CONTEXT_SCHEMA, key="user_context"
    )
    return f"Use the following context: {_accepted(answer).get('context', '?')}"


@plugin.completion("test_prompt_with_arguments", "arg1")
def complete_arg1(value: str) -> list[str]:
    """Suggestions for `arg1` that start with what was typed."""
    return [choice for choice in ARG1_COMPLETIONS if choice.startswith(value)]
