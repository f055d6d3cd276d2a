"""Tasks across two replicas of `mcp-runner serve --transport http` sharing a real redis-server:
a task started on one is polled, answered, cancelled and collected on the other, by its owner
only, after the client that started it went away and after the other replica restarted.

Each request goes to the replica named, with plain httpx on the 2026-07-28 wire (its headers
and ``_meta`` envelope), as two static-token principals.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from replica_helpers import REDIS, Replica, free_port, start_redis, stop, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
if not os.access(REDIS, os.X_OK):
    pytest.skip("redis-server is needed (apt-get install redis-server)", allow_module_level=True)

HERE = Path(__file__).resolve().parent
VERSION = "2026-07-28"
EXTENSION = "io.modelcontextprotocol/tasks"
TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}
STATE_SECRET = "tasks-replicas-share-this-key-ring-32-bytes"


def task_replica(redis_url: str, workdir: str) -> Replica:
    """One replica with the redis plugin and the task_demo tools, behind static tokens."""
    env = {
        "MCP_RUNNER_PLUGINS__REDIS__URL": redis_url,
        "MCP_RUNNER_STATE_SECRETS": json.dumps([STATE_SECRET]),
        "MCP_RUNNER_AUTH__TOKENS": json.dumps(
            [{"token": token, "subject": who} for who, token in TOKENS.items()]
        ),
        "MCP_RUNNER_TASKS__POLL_INTERVAL": "0.1",
    }
    return Replica(env, workdir, plugins=("task_demo:plugin",), path=(HERE,))


class Pair:
    """redis-server and two replicas on loopback."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="mcp-runner-tasks-")
        port = free_port()
        self.redis = start_redis(Path(self.dir.name), "--port", str(port))
        wait_for_port(port)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.a = task_replica(self.redis_url, self.dir.name)
        self.b = task_replica(self.redis_url, self.dir.name)

    def restart_b(self) -> None:
        self.b.stop()
        self.b = task_replica(self.redis_url, self.dir.name)

    def restart_a(self) -> None:
        self.a.stop()
        self.a = task_replica(self.redis_url, self.dir.name)

    def close(self) -> None:
        for replica in (self.a, self.b):
            replica.stop()
        stop(self.redis)
        self.dir.cleanup()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    pair = Pair()
    try:
        yield pair
    finally:
        pair.close()


def rpc(replica: Replica, who: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One 2026-07-28 request to `replica` as `who`, on a connection of its own; the JSON-RPC
    answer."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": method,
        "params": {
            **params,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": VERSION,
                "io.modelcontextprotocol/clientCapabilities": {
                    "elicitation": {},
                    "extensions": {EXTENSION: {}},
                },
            },
        },
    }
    headers = {
        "Authorization": f"Bearer {TOKENS[who]}",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
        "Accept": "application/json, text/event-stream",
    }
    name = params.get("taskId") or params.get("name")
    if name is not None:
        headers["Mcp-Name"] = name
    with httpx.Client(timeout=10.0) as http:  # closed after each request: the client goes away
        response = http.post(replica.url, json=body, headers=headers)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if "id" in message:
                    return message  # type: ignore[no-any-return]
    return response.json()  # type: ignore[no-any-return]


def result(replica: Replica, who: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = rpc(replica, who, method, params)
    assert "result" in answer, answer
    return answer["result"]  # type: ignore[no-any-return]


def start(replica: Replica, tool: str, arguments: dict[str, Any]) -> str:
    created = result(replica, "alice", "tools/call", {"name": tool, "arguments": arguments})
    assert created["resultType"] == "task", created
    return created["taskId"]  # type: ignore[no-any-return]


def poll(replica: Replica, task_id: str, until: set[str], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        task = result(replica, "alice", "tasks/get", {"taskId": task_id})
        if task["status"] in until or time.monotonic() > deadline:
            return task
        time.sleep(0.1)


def test_started_on_one_replica_collected_on_the_other(pair: Pair) -> None:
    task_id = start(pair.a, "long_job", {"seconds": 1.5})
    # The client that started it is gone; the other replica finds it at once.
    seen = result(pair.b, "alice", "tasks/get", {"taskId": task_id})
    assert seen["status"] == "working"
    assert seen["statusMessage"] == "started"
    done = poll(pair.b, task_id, {"completed", "failed", "cancelled"})
    assert done["status"] == "completed", done
    assert done["result"]["content"][0]["text"] == "done after 1.5 s"


def test_another_principal_is_told_nothing(pair: Pair) -> None:
    task_id = start(pair.a, "long_job", {"seconds": 0.2})
    for replica in (pair.a, pair.b):
        for method, extra in (
            ("tasks/get", {}),
            ("tasks/cancel", {}),
            ("tasks/update", {"inputResponses": {}}),
        ):
            answer = rpc(replica, "bob", method, {"taskId": task_id, **extra})
            assert answer["error"]["code"] == -32602, answer
            assert "Unknown task" in answer["error"]["message"]
    assert poll(pair.b, task_id, {"completed"})["status"] == "completed"


def test_cancelled_from_the_replica_not_running_it(pair: Pair) -> None:
    before = result(pair.a, "alice", "tools/call", {"name": "interrupted_here", "arguments": {}})
    task_id = start(pair.a, "long_job", {"seconds": 60})
    ack = result(pair.b, "alice", "tasks/cancel", {"taskId": task_id})
    assert ack["resultType"] == "complete" and set(ack) <= {"resultType", "_meta"}, ack
    assert poll(pair.b, task_id, {"cancelled", "completed", "failed"})["status"] == "cancelled"
    # The cancellation reached replica A, which was running the tool: the call was interrupted.
    deadline = time.monotonic() + 5
    while True:
        after = result(pair.a, "alice", "tools/call", {"name": "interrupted_here", "arguments": {}})
        if after["structuredContent"]["result"] > before["structuredContent"]["result"]:
            break
        assert time.monotonic() < deadline, "the running replica never interrupted the tool"
        time.sleep(0.1)
    assert result(pair.a, "alice", "tasks/get", {"taskId": task_id})["status"] == "cancelled"


def test_input_answered_on_the_other_replica(pair: Pair) -> None:
    task_id = start(pair.a, "ask_name", {})
    waiting = poll(pair.b, task_id, {"input_required"})
    assert waiting["status"] == "input_required", waiting
    assert waiting["inputRequests"]["name"]["method"] == "elicitation/create"
    answer = {"name": {"action": "accept", "content": {"name": "Ada"}}}
    ack = result(pair.b, "alice", "tasks/update", {"taskId": task_id, "inputResponses": answer})
    assert set(ack) <= {"resultType", "_meta"}
    done = poll(pair.b, task_id, {"completed", "failed", "cancelled"})
    assert done["status"] == "completed", done
    assert done["result"]["content"][0]["text"] == "Hello, Ada!"


def test_a_task_outlives_the_restart_of_a_replica_not_running_it(pair: Pair) -> None:
    task_id = start(pair.a, "long_job", {"seconds": 3})
    pair.restart_b()
    assert result(pair.b, "alice", "tasks/get", {"taskId": task_id})["taskId"] == task_id
    done = poll(pair.b, task_id, {"completed", "failed", "cancelled"})
    assert done["status"] == "completed", done


def test_a_replica_that_stops_cancels_the_tasks_it_runs(pair: Pair) -> None:
    task_id = start(pair.a, "long_job", {"seconds": 60})
    pair.restart_a()
    ended = result(pair.b, "alice", "tasks/get", {"taskId": task_id})
    assert ended["status"] == "cancelled", ended
    assert ended["statusMessage"] == "Cancelled: the server running it stopped"


def test_the_backend_counts_each_owners_live_tasks(pair: Pair) -> None:
    from mcp_runner_redis.backend import RedisBackend

    async def scenario() -> None:
        backend = RedisBackend(pair.redis_url, "limits:", 1.0)
        try:
            record = {"taskId": "a", "owner": "ada", "status": "working"}
            assert await backend.add_task("a", record, 0.2, 1)
            assert not await backend.add_task("b", {**record, "taskId": "b"}, 5, 1)
            assert await backend.add_task("c", {**record, "owner": "bob"}, 5, 1)  # per owner
            await asyncio.sleep(0.25)  # "a" expired: it no longer counts
            assert await backend.get_task("a") is None
            assert await backend.add_task("b", {**record, "taskId": "b"}, 5, 1)
            assert (await backend.get_task("b") or {})["taskId"] == "b"
        finally:
            await backend.close()

    asyncio.run(scenario())
