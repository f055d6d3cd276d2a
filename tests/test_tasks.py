"""Tasks (the io.modelcontextprotocol/tasks extension): tool calls that run on after their
request, in process; over real HTTP and stdio in the end-to-end tests below."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import runner_command, server_env
from mcp_runner import Context, McpError, Plugin, Runner, ToolError
from mcp_runner.components import DefinitionError, Tool
from mcp_runner.config import Settings, TasksSettings

pytestmark = pytest.mark.anyio

EXTENSION = "io.modelcontextprotocol/tasks"
VERSION = "2026-07-28"
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def meta(extension: bool = True, **caps: Any) -> dict[str, Any]:
    if extension:
        caps["extensions"] = {EXTENSION: {}}
    return {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": caps,
    }


def make_plugin(log: list[str]) -> Plugin:
    plugin = Plugin("jobs")

    @plugin.tool(task="optional")
    async def work(seconds: float = 0.05, ctx: Context | None = None) -> str:
        assert ctx is not None
        await ctx.report_progress(1, 2, "half way")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            log.append("interrupted")
            raise
        return f"worked {seconds:g} s in task {ctx.task_id is not None}"

    @plugin.tool
    def plain() -> str:
        return "plain"

    @plugin.tool(task="required")
    async def must() -> str:
        return "as a task"

    @plugin.tool(task="optional")
    async def tool_error() -> str:
        raise ToolError("no luck")

    @plugin.tool(task="optional")
    async def protocol_error() -> str:
        raise McpError(-32603, "broken")

    @plugin.tool(task="optional")
    async def two_questions(ctx: Context) -> str:
        answers = await ctx.ask_all(
            {
                "first": ("elicitation/create", {"message": "1?", "requestedSchema": NAME_SCHEMA}),
                "second": ("elicitation/create", {"message": "2?", "requestedSchema": NAME_SCHEMA}),
            }
        )
        return "+".join(a["content"]["name"] for a in answers.values())

    @plugin.tool(task="required", defer_task=True)
    async def ask_first(ctx: Context) -> str:
        answer = await ctx.elicit("Name?", NAME_SCHEMA, key="name")
        await ctx.begin_task()
        return f"{answer['content']['name']} in task {ctx.task_id is not None}"

    @plugin.tool(task="optional")
    async def big() -> str:
        return "x" * 5000

    return plugin


class Client:
    """2026-07-28 requests to a runner in process."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def answer(self, method: str, params: dict[str, Any], **caps: Any) -> dict[str, Any]:
        extension = caps.pop("extension", True)
        caps.setdefault("elicitation", {})
        return await self.runner.request(method, {**params, "_meta": meta(extension, **caps)})

    async def result(self, method: str, params: dict[str, Any], **caps: Any) -> dict[str, Any]:
        answer = await self.answer(method, params, **caps)
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    async def error(self, method: str, params: dict[str, Any], **caps: Any) -> dict[str, Any]:
        answer = await self.answer(method, params, **caps)
        assert "error" in answer, answer
        error: dict[str, Any] = answer["error"]
        return error

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        return await self.result("tools/call", {"name": tool, "arguments": arguments})

    async def get(self, task_id: str) -> dict[str, Any]:
        return await self.result("tasks/get", {"taskId": task_id})

    async def until(self, task_id: str, *statuses: str) -> dict[str, Any]:
        wanted = set(statuses) or {"completed", "failed", "cancelled"}
        async with asyncio.timeout(5):
            while True:
                task = await self.get(task_id)
                if task["status"] in wanted:
                    return task
                await asyncio.sleep(0.01)


def jobs(log: list[str] | None = None, **tasks: Any) -> Client:
    settings = Settings(tasks=TasksSettings(**tasks))
    plugin = make_plugin(log if log is not None else [])
    return Client(Runner(settings, plugins={"jobs": plugin}, entry_points=False))


# ---------------------------------------------------------------------------------------------
# In process


async def test_a_task_is_stored_before_it_is_answered_and_inlines_its_result() -> None:
    client = jobs()
    created = await client.call("work", seconds=0.3)
    assert created["resultType"] == "task"
    assert created["status"] == "working"
    assert created["ttlMs"] == 3_600_000 and created["pollIntervalMs"] == 1000
    assert {"result", "error", "inputRequests", "requestState", "task"}.isdisjoint(created)
    task_id = created["taskId"]
    now = await client.get(task_id)
    assert now["taskId"] == task_id and now["resultType"] == "complete"
    async with asyncio.timeout(2):  # ctx.report_progress sets the status message
        while "statusMessage" not in (working := await client.get(task_id)):
            await asyncio.sleep(0.01)
    assert working["statusMessage"] == "half way" and working["status"] == "working"
    done = await client.until(task_id)
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "worked 0.3 s in task True"
    assert done["lastUpdatedAt"] >= done["createdAt"]


async def test_without_the_extension_calls_are_plain_and_tasks_methods_refused() -> None:
    client = jobs()
    plain = await client.result(
        "tools/call", {"name": "work", "arguments": {"seconds": 0}}, extension=False
    )
    assert plain["resultType"] == "complete"
    assert plain["content"][0]["text"] == "worked 0 s in task False"
    refused = await client.error("tools/call", {"name": "must", "arguments": {}}, extension=False)
    assert refused["code"] == -32021
    assert refused["data"] == {"requiredCapabilities": {"extensions": {EXTENSION: {}}}}
    for method in ("tasks/get", "tasks/update", "tasks/cancel"):
        error = await client.error(method, {"taskId": "x", "inputResponses": {}}, extension=False)
        assert error["code"] == -32021, method
    for method in ("tasks/result", "tasks/list"):
        assert (await client.error(method, {"taskId": "x"}))["code"] == -32601
    unknown = await client.error("tasks/get", {"taskId": "nope"})
    assert unknown["code"] == -32602 and "Unknown task" in unknown["message"]
    # A `task` hint (the 2025-11-25 form) never makes a plain tool a task; its ttl is honoured.
    hinted = {"arguments": {}, "task": {"ttl": 5000}}
    plain = await client.result("tools/call", {"name": "plain", **hinted})
    assert plain["resultType"] == "complete" and plain["content"][0]["text"] == "plain"
    must = await client.result("tools/call", {"name": "must", **hinted})
    assert must["resultType"] == "task" and must["ttlMs"] == 5000


async def test_tool_errors_complete_and_protocol_errors_fail() -> None:
    client = jobs()
    tool_error = await client.until((await client.call("tool_error"))["taskId"])
    assert tool_error["status"] == "completed"
    assert tool_error["result"]["isError"] is True
    broken = await client.until((await client.call("protocol_error"))["taskId"])
    assert broken["status"] == "failed" and "result" not in broken
    assert broken["error"] == {"code": -32603, "message": "broken"}


async def test_cancel_interrupts_the_tool_and_is_idempotent() -> None:
    log: list[str] = []
    client = jobs(log)
    task_id = (await client.call("work", seconds=30))["taskId"]
    async with asyncio.timeout(2):  # the tool runs (it reported progress)
        while "statusMessage" not in await client.get(task_id):
            await asyncio.sleep(0.01)
    ack = await client.result("tasks/cancel", {"taskId": task_id})
    assert set(ack) == {"resultType", "_meta"} and ack["resultType"] == "complete"
    assert (await client.get(task_id))["status"] == "cancelled"
    async with asyncio.timeout(2):
        while not log:
            await asyncio.sleep(0.01)
    assert log == ["interrupted"]
    again = await client.result("tasks/cancel", {"taskId": task_id})
    assert again["resultType"] == "complete"
    assert (await client.get(task_id))["status"] == "cancelled"


async def test_input_inside_a_task_answered_one_key_at_a_time() -> None:
    client = jobs()
    task_id = (await client.call("two_questions"))["taskId"]
    waiting = await client.until(task_id, "input_required")
    assert set(waiting["inputRequests"]) == {"first", "second"}
    assert waiting["inputRequests"]["first"]["method"] == "elicitation/create"
    answer = {"action": "accept", "content": {"name": "Ada"}}
    ack = await client.result(
        "tasks/update", {"taskId": task_id, "inputResponses": {"first": answer, "stray": {}}}
    )
    assert ack["resultType"] == "complete" and "status" not in ack
    partial = await client.get(task_id)
    assert partial["status"] == "input_required"
    assert set(partial["inputRequests"]) == {"second"}
    second = {"action": "accept", "content": {"name": "Grace"}}
    await client.result("tasks/update", {"taskId": task_id, "inputResponses": {"second": second}})
    done = await client.until(task_id)
    assert done["result"]["content"][0]["text"] == "Ada+Grace"
    bad = await client.error("tasks/update", {"taskId": task_id, "inputResponses": []})
    assert bad["code"] == -32602


async def test_input_round_first_then_the_task() -> None:
    client = jobs()
    first = await client.call("ask_first")
    assert first["resultType"] == "input_required" and "taskId" not in first
    answers = {"name": {"action": "accept", "content": {"name": "Alice"}}}
    second = await client.result(
        "tools/call",
        {
            "name": "ask_first",
            "arguments": {},
            "inputResponses": answers,
            "requestState": first["requestState"],
        },
    )
    assert second["resultType"] == "task" and "requestState" not in second
    done = await client.until(second["taskId"])
    assert done["result"]["content"][0]["text"] == "Alice in task True"


async def test_limits_per_principal_result_size_and_ttl() -> None:
    client = jobs(max_per_principal=1, max_result_bytes=1000, ttl=0.3, max_ttl=0.5)
    big = await client.call("big")
    assert big["ttlMs"] == 300
    refused = await client.error("tools/call", {"name": "work", "arguments": {}})
    assert refused["code"] == -32602 and "tasks.max_per_principal" in refused["message"]
    failed = await client.until(big["taskId"])
    assert failed["status"] == "failed"
    assert "tasks.max_result_bytes" in failed["error"]["message"]
    await asyncio.sleep(0.35)  # the ttl passed: the task is gone, and no longer counts
    assert (await client.error("tasks/get", {"taskId": big["taskId"]}))["code"] == -32602
    asked = await client.result(
        "tools/call", {"name": "work", "arguments": {"seconds": 0}, "task": {"ttl": 60_000}}
    )
    assert asked["ttlMs"] == 500  # a client's ttl is capped by tasks.max_ttl


async def test_the_memory_store_keeps_a_task_for_its_ttl_from_its_last_change() -> None:
    from mcp_runner.protocol.tasks import MemoryTaskStore

    store = MemoryTaskStore()
    record = {"taskId": "a", "owner": "ada", "status": "working"}
    assert await store.add_task("a", record, 0.05, limit=1)
    assert not await store.add_task("b", {**record, "taskId": "b"}, 1, limit=1)
    await store.put_task("a", {**record, "status": "completed"}, 10)  # a change: kept 10 s more
    await asyncio.sleep(0.06)
    assert not await store.add_task("b", {**record, "taskId": "b"}, 1, limit=1)
    assert (await store.get_task("a") or {})["status"] == "completed"
    await store.put_task("a", record, 0.01)
    await asyncio.sleep(0.02)
    assert await store.get_task("a") is None
    assert await store.add_task("b", {**record, "taskId": "b"}, 1, limit=1)  # "a" expired
    other = {"taskId": "c", "owner": "bob", "status": "working"}
    assert await store.add_task("c", other, 1, limit=1)  # limits are per owner


def test_task_support_is_checked_when_the_tool_is_made() -> None:
    async def fn() -> str:
        return ""

    with pytest.raises(DefinitionError, match="task must be one of never, optional, required"):
        Tool.from_function(fn, task="always")  # type: ignore[arg-type]
    assert Tool.from_function(fn).task == "never"


# ---------------------------------------------------------------------------------------------
# End to end: real HTTP and stdio, the conformance plugin's fixtures

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = free_port()
    env = server_env(
        ["conformance"],
        MCP_RUNNER_AUTH__TOKENS=json.dumps(
            [{"token": token, "subject": who} for who, token in TOKENS.items()]
        ),
        MCP_RUNNER_TASKS__POLL_INTERVAL="0.05",
    )
    proc = subprocess.Popen(
        [*runner_command(), "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "no server"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def post(url: str, who: str, method: str, params: dict[str, Any], **headers: str) -> Any:
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": method,
        "params": {**params, "_meta": meta(elicitation={})},
    }
    sent = {
        "Authorization": f"Bearer {TOKENS[who]}",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
        "Accept": "application/json, text/event-stream",
    }
    name = params.get("taskId") or params.get("name")
    if name is not None:
        sent["Mcp-Name"] = name
    sent.update(headers)
    response = httpx.post(url, json=body, headers=sent, timeout=10)
    return response.status_code, response.json()


@pytest.mark.e2e
def test_http_tasks_belong_to_their_principal_and_headers_name_them(http_url: str) -> None:
    status, created = post(
        http_url, "alice", "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0.3}}
    )
    assert status == 200 and created["result"]["resultType"] == "task"
    task_id = created["result"]["taskId"]
    assert post(http_url, "bob", "tasks/get", {"taskId": task_id})[1]["error"]["code"] == -32602
    status, mismatch = post(
        http_url, "alice", "tasks/get", {"taskId": task_id}, **{"Mcp-Name": "x"}
    )
    assert status == 400 and mismatch["error"]["code"] == -32020
    deadline = time.monotonic() + 5
    while True:
        task = post(http_url, "alice", "tasks/get", {"taskId": task_id})[1]["result"]
        if task["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert task["result"]["content"][0]["text"] == "Computed result after 0.3 s"


@pytest.mark.e2e
def test_http_listen_hears_the_status_of_the_tasks_it_names(http_url: str) -> None:
    created = post(
        http_url, "alice", "tools/call", {"name": "confirm_delete", "arguments": {"filename": "f"}}
    )[1]["result"]
    task_id = created["taskId"]
    heard: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:
        body = {
            "jsonrpc": "2.0",
            "id": "listen",
            "method": "subscriptions/listen",
            "params": {"notifications": {"taskIds": [task_id, "not-mine"]}, "_meta": meta()},
        }
        headers = {
            "Authorization": f"Bearer {TOKENS['alice']}",
            "MCP-Protocol-Version": VERSION,
            "Mcp-Method": "subscriptions/listen",
            "Accept": "application/json, text/event-stream",
        }
        with httpx.stream("POST", http_url, json=body, headers=headers, timeout=10) as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                heard.append(message)
                if message.get("method") == "notifications/subscriptions/acknowledged":
                    listening.set()
                if message.get("params", {}).get("status") == "completed":
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert listening.wait(5)
    assert heard[0]["params"]["notifications"] == {"taskIds": [task_id]}
    deadline = time.monotonic() + 5
    while (
        post(http_url, "alice", "tasks/get", {"taskId": task_id})[1]["result"]["status"]
        != "input_required"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = {"confirm": {"action": "accept", "content": {"confirm": True}}}
    post(http_url, "alice", "tasks/update", {"taskId": task_id, "inputResponses": answer})
    thread.join(5)
    statuses = [m["params"]["status"] for m in heard if m.get("method") == "notifications/tasks"]
    assert statuses[-2:] == ["working", "completed"], statuses
    last = heard[-1]["params"]
    assert last["taskId"] == task_id and last["result"]["content"][0]["text"] == "Deleted f"


@pytest.mark.e2e
def test_stdio_task_round_trip() -> None:
    proc = subprocess.Popen(
        [*runner_command(), "serve"],
        env=server_env(["conformance"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(n: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        message = {"jsonrpc": "2.0", "id": n, "method": method, "params": {**params}}
        message["params"]["_meta"] = meta()
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        while True:
            answer: dict[str, Any] = json.loads(proc.stdout.readline())
            if answer.get("id") == n:
                return answer["result"]  # type: ignore[no-any-return]

    try:
        created = ask(1, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0.2}})
        assert created["resultType"] == "task"
        n = 2
        while (task := ask(n, "tasks/get", {"taskId": created["taskId"]}))["status"] == "working":
            n += 1
            time.sleep(0.05)
        assert task["status"] == "completed"
        assert task["result"]["content"][0]["text"] == "Computed result after 0.2 s"
    finally:
        proc.stdin.close()
        proc.wait(10)


# ---------------------------------------------------------------------------------------------
# The client library


async def accept_name(params: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"name": params["message"].rstrip("?")}}


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_client_starts_waits_for_answers_and_cancels_tasks(era: str) -> None:
    from mcp_runner.client import Client, McpClientError

    log: list[str] = []
    runner = jobs(log).runner
    client = Client.inprocess(runner, era=era, elicitation=accept_name)
    client.tasks.declare()  # before connecting: in initialize too
    async with client:
        task = await client.tasks.start("work", {"seconds": 0.05})
        assert task.id and task.status == "working" and task.poll_interval_ms == 1000
        result = await client.tasks.result(task, timeout=5)
        assert result.text == "worked 0.05 s in task True"
        asked = await client.tasks.start("two_questions")
        assert (await client.tasks.wait(asked, timeout=5)).result.text == "1+2"  # type: ignore[union-attr]
        # call_tool waits for a task like for any answer.
        assert (await client.call_tool("must")).text == "as a task"
        plain = await client.tasks.start("plain")
        assert plain.done and plain.id == "" and plain.result.text == "plain"  # type: ignore[union-attr]
        long = await client.tasks.start("work", {"seconds": 30})
        await client.tasks.cancel(long.id)
        with pytest.raises(McpClientError) as cancelled:
            await client.tasks.result(long.id, timeout=5)
        assert cancelled.value.code == -32800
        broken = await client.tasks.start("protocol_error")
        with pytest.raises(McpClientError) as failed:
            await client.tasks.result(broken, timeout=5)
        assert failed.value.code == -32603 and "broken" in str(failed.value)
        slow = await client.tasks.start("work", {"seconds": 30})
        with pytest.raises(McpClientError) as late:
            await client.tasks.wait(slow, timeout=0.05)
        assert late.value.code == -32001
        with pytest.raises(McpClientError) as unknown:
            await client.tasks.get("nope")
        assert unknown.value.code == -32602


@pytest.mark.e2e
async def test_client_over_http_sends_mcp_name_for_tasks(http_url: str) -> None:
    from mcp_runner.client import Client

    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    async with Client.http(http_url, headers=headers, era="modern") as client:
        task = await client.tasks.start("slow_compute", {"seconds": 0.1, "label": "it"})
        assert task.status == "working"
        assert (await client.tasks.result(task, timeout=5)).text == "Computed it after 0.1 s"
