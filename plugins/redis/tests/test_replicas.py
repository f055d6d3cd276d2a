"""Three replicas of `mcp-runner serve --transport http` with the redis plugin, behind a real
nginx balancing each request round robin (no stickiness), driven by the official SDK client.

A real `redis-server` and a real `nginx` (Debian packages ``redis-server`` and ``nginx-light``)
run on free loopback ports in a temporary directory; the tests skip without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from replica_helpers import (
    HERE,
    HTTP_PLUGINS,
    LEGACY,
    REDIS,
    Replica,
    free_port,
    start_redis,
    wait_for_port,
)

mcp = pytest.importorskip("mcp", reason="the official MCP Python SDK (mcp>=2.3) is not installed")
from mcp import Client  # noqa: E402
from mcp import types as mt  # noqa: E402
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*deprecated.*"),
]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
if not (os.access(REDIS, os.X_OK) and os.access(NGINX, os.X_OK)):
    pytest.skip(
        "redis-server and nginx are needed (apt-get install redis-server nginx-light)",
        allow_module_level=True,
    )

MODES = ["legacy", "auto"]
READ_TIMEOUT = 15.0
STATE_SECRET = "replicas-share-this-key-ring-32-bytes-at-least"


def demo_replica(redis_url: str, workdir: str) -> Replica:
    """One replica with the redis plugin and the http_demo and scale_demo tools."""
    env = {
        "MCP_RUNNER_PLUGINS__REDIS__URL": redis_url,
        "MCP_RUNNER_PLUGINS__REDIS__OPERATION_TIMEOUT": "1.0",
        # 2026-07-28 input-required rounds: every replica opens what another sealed
        "MCP_RUNNER_STATE_SECRETS": json.dumps([STATE_SECRET]),
    }
    plugins = ("http_demo:plugin", "scale_demo:plugin")
    return Replica(env, workdir, plugins=plugins, path=(HTTP_PLUGINS, HERE))


class Rig:
    """redis-server, three replicas and nginx in front, all on loopback."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="mcp-runner-replicas-")
        root = Path(self.dir.name)
        self.redis_port = free_port()
        self.redis = start_redis(root, "--port", str(self.redis_port))
        wait_for_port(self.redis_port)
        url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.replicas = [demo_replica(url, str(root)) for _ in range(3)]
        self.port = free_port()
        servers = "\n".join(
            f"server 127.0.0.1:{r.port} max_fails=1 fail_timeout=30s;" for r in self.replicas
        )
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (root / sub).mkdir()
        (root / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream replicas {{
        {servers}
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
""")
        self.nginx = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def close(self) -> None:
        for proc in (self.nginx,):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        for replica in self.replicas:
            replica.stop()
        if self.redis.poll() is None:
            self.redis.send_signal(signal.SIGCONT)
            self.redis.terminate()
            self.redis.wait(10)
        self.dir.cleanup()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    rig = Rig()
    try:
        yield rig
    finally:
        rig.close()


def run(coro: Any, timeout: float = 60.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def text_of(result: Any) -> str:
    assert not getattr(result, "is_error", False), result
    return "".join(block.text for block in result.content if isinstance(block, mt.TextContent))


def client(url: str, mode: str, **kwargs: Any) -> Client:
    return Client(url, mode=mode, read_timeout_seconds=READ_TIMEOUT, **kwargs)  # type: ignore[arg-type]


async def accept_name(ctx: Any, params: Any) -> mt.ElicitResult:
    return mt.ElicitResult(action="accept", content={"name": "Ada"})


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_thirty_calls_of_one_session_over_three_replicas(rig: Rig, mode: str) -> None:
    async def scenario() -> None:
        async with client(rig.url, mode) as c:
            for n in range(30):
                assert text_of(await c.call_tool("add", {"a": n, "b": 1})) == str(n + 1)

    run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_elicitation_and_progress_through_the_balancer(rig: Rig, mode: str) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def scenario() -> None:
        async with client(rig.url, mode, elicitation_callback=accept_name) as c:
            for _ in range(3):  # the answer lands on another replica than the call, mostly
                assert text_of(await c.call_tool("ask_name", {})) == "accept:Ada"
            result = await c.call_tool("progress", {"steps": 4}, progress_callback=on_progress)
            assert text_of(result) == "counted to 4"

    run(scenario())
    assert seen == [1, 2, 3, 4]


def test_a_stream_resumes_on_another_replica(rig: Rig) -> None:
    logs: list[str] = []

    async def on_log(params: mt.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    async def scenario() -> None:
        async with client(rig.url, "legacy", logging_callback=on_log) as c:
            for n in range(3):
                result = await c.call_tool("resumable", {"tag": f"t{n}", "delay": 0.3})
                assert text_of(result) == f"resumed t{n}"

    run(scenario())
    assert [line for line in logs if line.startswith("after")] == [
        "after t0",
        "after t1",
        "after t2",
    ]


def _initialize(http: httpx.Client, url: str, version: str = LEGACY) -> str:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    response = http.post(
        url,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
    )
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    http.post(
        url,
        headers={**headers, "mcp-session-id": session, "mcp-protocol-version": version},
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    return session


def _sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The (event id, message) pairs of an SSE response read to its end."""
    events: list[tuple[str, dict[str, Any]]] = []
    event_id = ""
    for line in response.iter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:") and line[5:].strip():
            events.append((event_id, json.loads(line[5:])))
    return events


def test_a_batch_stream_resumed_on_another_replica_carries_every_answer(rig: Rig) -> None:
    """2025-03-26: a batch answered over SSE whose stream drops is resumed on another replica,
    which follows it to the batch's last answer, not the first."""
    version = "2025-03-26"
    first, second = (f"http://127.0.0.1:{r.port}/mcp" for r in rig.replicas[:2])
    with httpx.Client(timeout=10.0) as http:
        session = _initialize(http, first, version)
        headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-protocol-version": version,
            "mcp-session-id": session,
        }
        batch = [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": 2, "b": 3}},
            },
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "resumable", "arguments": {"tag": "batch", "delay": 0.5}},
            },
        ]
        with http.stream("POST", first, headers=headers, json=batch) as dropped:
            assert dropped.headers["content-type"].startswith("text/event-stream")
            before = _sse_events(dropped)  # ends when the tool drops the stream
        assert [m.get("method") for _, m in before] == ["notifications/message"]
        resume = {**headers, "last-event-id": before[-1][0]}
        with http.stream("GET", second, headers=resume) as resumed:
            assert resumed.status_code == 200
            after = _sse_events(resumed)
    answers = {m["id"]: m["result"]["content"][0]["text"] for _, m in after if "id" in m}
    assert answers == {1: "5", 2: "resumed batch"}


def test_changes_on_any_replica_reach_every_listener(rig: Rig) -> None:
    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            subscriptions = []
            for _ in range(3):  # round robin: one listener on each replica
                listener = await stack.enter_async_context(client(rig.url, "auto"))
                subscriptions.append(
                    await stack.enter_async_context(
                        listener.listen(
                            tools_list_changed=True, resource_subscriptions=["scale://note"]
                        )
                    )
                )
            caller = await stack.enter_async_context(client(rig.url, "auto"))
            assert text_of(await caller.call_tool("add_tool", {"name": "fresh"})) == "added fresh"
            for subscription in subscriptions:
                event = await asyncio.wait_for(subscription.__anext__(), 5)
                assert isinstance(event, ToolsListChanged)
            touched = await caller.call_tool("touch", {"uri": "scale://note"})
            assert text_of(touched) == "touched scale://note"
            for subscription in subscriptions:
                event = await asyncio.wait_for(subscription.__anext__(), 5)
                assert isinstance(event, ResourceUpdated) and event.uri == "scale://note"

    run(scenario())


def test_a_legacy_subscriber_hears_an_update_made_on_another_replica(rig: Rig) -> None:
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": LEGACY,
    }
    with httpx.Client(timeout=10.0) as http:
        session = _initialize(http, rig.url)
        own = {**headers, "mcp-session-id": session}
        subscribed = http.post(
            rig.url,
            headers=own,
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "resources/subscribe",
                "params": {"uri": "scale://note"},
            },
        )
        assert subscribed.status_code == 200 and subscribed.json()["result"] == {}
        with http.stream("GET", rig.url, headers={**own, "accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            for n in range(3):  # the touches land on every replica in turn
                touched = http.post(
                    rig.url,
                    headers=own,
                    json={
                        "jsonrpc": "2.0",
                        "id": 10 + n,
                        "method": "tools/call",
                        "params": {"name": "touch", "arguments": {"uri": "scale://note"}},
                    },
                )
                assert touched.status_code == 200, touched.text
                deadline = time.monotonic() + 5.0
                for line in lines:
                    if line.startswith("data:") and "resources/updated" in line:
                        assert json.loads(line[5:])["params"] == {"uri": "scale://note"}
                        break
                    assert time.monotonic() < deadline, "no resources/updated"


def test_delete_ends_the_session_on_every_replica(rig: Rig) -> None:
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": LEGACY,
    }
    with httpx.Client(timeout=10.0) as http:
        session = _initialize(http, rig.url)
        for n in range(3):
            ok = http.post(
                rig.url,
                headers={**headers, "mcp-session-id": session},
                json={"jsonrpc": "2.0", "id": 10 + n, "method": "ping"},
            )
            assert ok.status_code == 200 and ok.json()["result"] == {}
        gone = http.delete(rig.url, headers={**headers, "mcp-session-id": session})
        assert gone.status_code == 204
        for n in range(3):
            after = http.post(
                rig.url,
                headers={**headers, "mcp-session-id": session},
                json={"jsonrpc": "2.0", "id": 20 + n, "method": "ping"},
            )
            assert after.status_code == 404


def test_a_session_outlives_a_killed_replica(rig: Rig) -> None:
    async def scenario() -> None:
        async with client(rig.url, "legacy") as c:
            assert text_of(await c.call_tool("echo", {"text": "before"})) == "before"
            victim = rig.replicas[-1]
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(5)
            for n in range(10):
                assert text_of(await c.call_tool("echo", {"text": f"after {n}"})) == f"after {n}"

    run(scenario())


def test_redis_paused_means_errors_not_hangs_then_recovery(rig: Rig) -> None:
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": LEGACY,
    }
    modern = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
    }
    with httpx.Client(timeout=10.0) as http:
        session = _initialize(http, rig.url)
        rig.redis.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            failed = http.post(
                rig.url,
                headers={**headers, "mcp-session-id": session},
                json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
            )
            assert time.monotonic() - started < 5.0
            assert failed.status_code == 503
            assert "session store" in failed.json()["error"]["message"]
            call = {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {
                    "name": "add",
                    "arguments": {"a": 1, "b": 2},
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {},
                    },
                },
            }
            stateless = http.post(
                rig.url,
                headers={**modern, "mcp-method": "tools/call", "mcp-name": "add"},
                json=call,
            )
            assert stateless.status_code == 200, stateless.text
            assert stateless.json()["result"]["content"][0]["text"] == "3"
        finally:
            rig.redis.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10.0
        while True:
            again = http.post(
                rig.url,
                headers={**headers, "mcp-session-id": session},
                json={"jsonrpc": "2.0", "id": 4, "method": "ping"},
            )
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 200, again.text


def test_readiness_reports_redis(rig: Rig) -> None:
    replica = rig.replicas[0]
    ready = f"http://127.0.0.1:{replica.port}/readyz"
    with httpx.Client(timeout=10.0) as http:
        answer = http.get(ready)
        assert answer.status_code == 200, answer.text
        assert answer.json()["components"]["redis"]["state"] == "ok"
        rig.redis.send_signal(signal.SIGSTOP)
        try:
            answer = http.get(ready)
            assert answer.status_code == 503
            assert answer.json()["components"]["redis"]["state"] == "failing"
        finally:
            rig.redis.send_signal(signal.SIGCONT)
