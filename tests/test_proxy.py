"""The proxy builtin: configuration, and mounted backends (`mcp-runner serve` of the demo plugin
over stdio and HTTP) behind a Runner driven in process by `mcp_runner.client.Client`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp_runner.builtin import proxy
from mcp_runner.builtin.proxy.backend import DEPTH_ENV
from mcp_runner.builtin.proxy.config import RestartPolicy, ServerConfig, load_servers_file
from mcp_runner.builtin.proxy.manager import MAX_DEPTH, ProxyManager
from mcp_runner.client import Client, LogMessage, McpClientError, Progress, RequestInfo
from mcp_runner.config import ConfigError, load_settings
from mcp_runner.runner import Runner
from mcp_runner.testing import make_runner

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "proxy"
sys.path.insert(0, str(FIXTURES))
from helpers import (  # noqa: E402
    NAME_ANSWER,
    HttpServer,
    demo_backend,
    elicit,
    eventually,
    mcp_runner,
    sample,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
FAST_RESTART = {"initial_delay": 0.2, "max_delay": 1.0, "jitter": 0.1}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(servers: dict[str, Any], **proxy_options: Any) -> dict[str, Any]:
    return {"proxy": {"servers": servers, "restart": FAST_RESTART, **proxy_options}}


def manager(runner: Runner) -> ProxyManager:
    found = proxy.manager_of(runner)
    assert found is not None
    return found


@asynccontextmanager
async def front(
    servers: dict[str, Any], era: str = "legacy", **client_options: Any
) -> AsyncIterator[tuple[Runner, Client]]:
    """A runner mounting `servers`, and a client connected to it in process."""
    runner = make_runner(settings=settings(servers))
    assert runner.host.records["proxy"].status == "ok", runner.host.records["proxy"].error
    async with Client.inprocess(runner, era=era, **client_options) as client:
        yield runner, client


# ---------------------------------------------------------------------------------------------
# Configuration


def test_server_config_validation() -> None:
    ok = ServerConfig.model_validate(
        {"command": "npx", "args": ["-y", "x"], "env": {"A": "1"}}
    )
    assert ok.transport == "stdio" and ok.active
    assert (
        ServerConfig.model_validate({"url": "http://h/mcp", "type": "http"}).transport
        == "http"
    )
    for bad, why in [
        ({}, "either `command`"),
        ({"command": "a", "url": "http://b"}, "either `command`"),
        ({"url": "http://b", "type": "sse"}, "not supported"),
        ({"url": "http://b", "type": "stdio"}, "needs `command`"),
        ({"command": "a", "type": "http"}, "needs `url`"),
        ({"url": "ftp://b"}, "http:// or https://"),
        ({"command": "a", "namespace": "no spaces"}, "namespace"),
        ({"command": "a", "bogus": 1}, "Extra inputs"),
    ]:
        with pytest.raises(ValueError, match=why):
            ServerConfig.model_validate(bad)


def test_bad_config_fails_the_proxy_plugin_by_name() -> None:
    runner = make_runner(
        settings={"proxy": {"servers": {"x": {"command": "a", "url": "http://b"}}}}
    )
    record = runner.host.records["proxy"]
    assert (record.status, record.phase) == ("failed", "config")
    assert "[proxy]" in (record.error or "") and "servers.x" in (record.error or "")
    bad_name = make_runner(settings={"proxy": {"servers": {"has space": {"command": "a"}}}})
    assert "server name 'has space'" in (bad_name.host.records["proxy"].error or "")


def test_no_proxy_table_costs_nothing() -> None:
    runner = make_runner(settings={})
    assert runner.host.records["proxy"].status == "ok"
    assert runner.settings.section("proxy") is None
    assert proxy.mcp_runner_status(runner) is None
    assert runner.host.lifespans(runner) == []


def test_config_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "servers.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "files": {"command": "npx", "args": ["-y", "server-files"], "autoApprove": []},
                    "remote": {
                        "type": "http",
                        "url": "https://example.com/mcp",
                        "headers": {"X": "1"},
                    },
                },
                "otherClientSetting": True,
            }
        )
    )
    (tmp_path / "conf" / "mcp-runner.toml").write_text(
        '[proxy]\nconfig_file = "servers.json"\n\n[proxy.servers.local]\ncommand = "local-server"\nlazy = true\n'
    )
    runner = Runner(
        load_settings(tmp_path / "conf" / "mcp-runner.toml"), entry_points=False
    ).start()
    section = runner.settings.section("proxy")
    assert sorted(section.servers) == ["files", "local", "remote"]
    assert section.servers["remote"].headers == {"X": "1"}
    entries = {e["name"]: e for e in proxy.mcp_runner_status(runner) or []}
    assert entries["local"]["lazy"] is True and entries["files"]["state"] == "configured"
    assert entries["remote"]["target"] == "https://example.com/mcp"


def test_config_file_problems(tmp_path: Path) -> None:
    def failure(document: Any, inline: dict[str, Any] | None = None) -> str:
        path = tmp_path / "servers.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        runner = make_runner(
            settings={"proxy": {"config_file": str(path), "servers": inline or {}}}
        )
        record = runner.host.records["proxy"]
        assert record.status == "failed"
        return record.error or ""

    assert "not JSON" in failure("{nope")
    assert 'no "mcpServers"' in failure({"servers2": {}})
    assert "mcpServers.a" in failure({"mcpServers": {"a": {"command": 1}}})
    assert "both in [proxy.servers]" in failure(
        {"mcpServers": {"a": {"command": "x"}}}, {"a": {"command": "y"}}
    )
    missing = make_runner(settings={"proxy": {"config_file": str(tmp_path / "missing.json")}})
    assert "missing.json" in (missing.host.records["proxy"].error or "")
    vscode = tmp_path / "vscode.json"
    vscode.write_text(json.dumps({"servers": {"v": {"type": "stdio", "command": "x"}}}))
    assert list(load_servers_file(vscode)) == ["v"]
    with pytest.raises(ConfigError):
        load_servers_file(tmp_path / "absent.json")


def test_restart_policy_backoff() -> None:
    policy = RestartPolicy(initial_delay=1, max_delay=10, factor=2, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    jittered = RestartPolicy(initial_delay=1, max_delay=10, jitter=0.5)
    assert all(0.5 <= jittered.delay(1) <= 1.5 for _ in range(50))


# ---------------------------------------------------------------------------------------------
# Forwarding


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_namespaced_components_are_forwarded(tmp_path: Path, era: str) -> None:
    async with front({"demo2": demo_backend(tmp_path)}, era=era) as (runner, client):
        tools = {t.name: t for t in await client.list_tools()}
        assert "demo2_add" in tools and "add" not in tools
        assert runner.registry.tools["demo2_add"].plugin == "proxy.demo2"
        assert tools["demo2_add"].input_schema["required"] == ["a", "b"]
        assert tools["demo2_point"].output_schema is not None
        assert (await client.call_tool("demo2_add", {"a": 2, "b": 5})).structured_content == {
            "result": 7
        }
        failed = await client.call_tool("demo2_fail", {"message": "remote no"})
        assert failed.is_error and failed.text == "remote no"
        invalid = await client.call_tool("demo2_add", {"a": "x"})
        assert invalid.is_error and "Invalid arguments" in invalid.text
        assert [p.name for p in await client.list_prompts()] == ["demo2_greet"]
        greeting = await client.get_prompt("demo2_greet", {"name": "Ada", "style": "formal"})
        assert greeting.messages[0].content["text"] == "Good day, Ada."
        with pytest.raises(McpClientError) as info:
            await client.get_prompt("demo2_greet", {})
        assert info.value.code == -32602  # the backend's error passes through
        assert [r.uri for r in await client.list_resources()] == ["demo://readme"]
        assert [t.uri_template for t in await client.list_resource_templates()] == [
            "demo://items/{item_id}"
        ]
        assert (await client.read_resource("demo://readme")).text == "Demo readme."
        assert (await client.read_resource("demo://items/9")).text == '{"id":"9"}'
        completion = await client.complete(
            {"type": "ref/prompt", "name": "demo2_greet"}, "name", "al"
        )
        assert completion.values == ["alice", "albert"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_progress_and_logs_flow_through(tmp_path: Path, era: str) -> None:
    logs: list[LogMessage] = []
    async with front(
        {"demo2": demo_backend(tmp_path, log_level="debug")}, era=era, on_log=logs.append
    ) as (_, client):
        await client.set_logging_level("debug")
        steps: list[Progress] = []
        result = await client.call_tool("demo2_count", {"steps": 4}, progress=steps.append)
        assert result.text == "counted 4"
        assert [(p.progress, p.total, p.message) for p in steps] == [
            (i, 4, f"step {i}") for i in range(1, 5)
        ]
        await client.call_tool("demo2_chatty")
        assert [(m.level, m.data) for m in logs] == [
            ("debug", "debug line"),
            ("info", "info line"),
            ("warning", {"detail": "warning line"}),
        ]
        assert {m.logger for m in logs} == {"demo"}


@pytest.mark.parametrize("backend_era", ["legacy", "modern"])
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_elicitation_and_sampling_reach_our_client(
    tmp_path: Path, era: str, backend_era: str
) -> None:
    asked: list[dict[str, Any]] = []

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {"name": f"N{len(asked)}"}}

    backend = demo_backend(tmp_path, era=backend_era)
    async with front({"demo2": backend}, era=era, elicitation=answer, sampling=sample) as (
        runner,
        client,
    ):
        assert (await client.call_tool("demo2_ask_name")).text == "accept:N1"
        assert asked[0]["message"] == "What is your name?"
        assert (await client.call_tool("demo2_ask_twice")).text == "N2+N3"
        assert (
            await client.call_tool("demo2_ask_model", {"question": "q"})
        ).text == "test-model:hello"
        assert manager(runner).parked == {}


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_question_without_the_capability_is_refused_to_the_backend(
    tmp_path: Path, era: str
) -> None:
    async with front({"demo2": demo_backend(tmp_path, era="legacy")}, era=era) as (runner, client):
        with pytest.raises(McpClientError) as info:
            await client.call_tool("demo2_ask_name")
        assert "'elicitation' capability" in info.value.message
        assert (await client.call_tool("demo2_echo", {"text": "after"})).text == "after"
        assert manager(runner).parked == {} and manager(runner).backends["demo2"].calls == []


@pytest.mark.parametrize("backend_era", ["legacy", "modern"])
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_many_calls_and_questions_at_once(tmp_path: Path, era: str, backend_era: str) -> None:
    """Calls that ask and calls that do not, concurrently: each gets its own answer, and
    nothing stays behind (no parked call, no call in flight)."""
    count = 0

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        nonlocal count
        count += 1
        await asyncio.sleep(0.01 * (count % 3))
        return {"action": "accept", "content": {"name": "Ada"}}

    backend = demo_backend(tmp_path, era=backend_era)
    async with front({"demo2": backend}, era=era, elicitation=answer, sampling=sample) as (
        runner,
        client,
    ):
        asking = [client.call_tool("demo2_ask_name") for _ in range(8)]
        twice = [client.call_tool("demo2_ask_twice") for _ in range(4)]
        echoes = [client.call_tool("demo2_echo", {"text": f"e{i}"}) for i in range(16)]
        results = await asyncio.gather(*asking, *twice, *echoes)
        assert [r.text for r in results[:8]] == ["accept:Ada"] * 8
        assert [r.text for r in results[8:12]] == ["Ada+Ada"] * 4
        assert [r.text for r in results[12:]] == [f"e{i}" for i in range(16)]
        assert count == 16
        assert manager(runner).parked == {} and manager(runner).backends["demo2"].calls == []


@pytest.mark.parametrize("backend_era, expect_oldest", [("legacy", True), ("modern", False)])
async def test_questions_go_to_the_oldest_call_when_the_backend_does_not_say(
    tmp_path: Path, backend_era: str, expect_oldest: bool
) -> None:
    """stdio legacy backends do not tie their questions to a request: the oldest call in flight
    gets it. 2026-07-28 backends do (input rounds): the call that asked gets it."""
    infos: list[RequestInfo] = []

    async def answer(params: dict[str, Any], info: RequestInfo) -> dict[str, Any]:
        infos.append(info)
        return NAME_ANSWER

    async with front({"demo2": demo_backend(tmp_path, era=backend_era)}, elicitation=answer) as (
        _,
        client,
    ):
        started: list[Progress] = []
        slow = asyncio.create_task(
            client.call_tool("demo2_slow", {"seconds": 2}, progress=started.append, tag="slow")
        )
        await eventually(lambda: started)
        assert (await client.call_tool("demo2_ask_name", tag="asker")).text == "accept:Ada"
        assert infos[0].tag == ("slow" if expect_oldest else "asker")
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_cancelling_our_request_cancels_the_backend_call(tmp_path: Path, era: str) -> None:
    async with front({"demo2": demo_backend(tmp_path)}, era=era) as (_, client):
        started: list[Progress] = []
        task = asyncio.create_task(
            client.call_tool("demo2_slow", {"seconds": 30}, progress=started.append)
        )
        await eventually(lambda: started)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def backend_saw_it() -> bool:
            return bool((await client.call_tool("demo2_cancelled")).structured_content["result"])

        await eventually(backend_saw_it)


async def test_backend_timeout_option(tmp_path: Path) -> None:
    async with front({"demo2": demo_backend(tmp_path, timeout=0.3)}) as (_, client):
        result = await client.call_tool("demo2_slow", {"seconds": 30})
        assert result.is_error and "timed out after 0.3 s" in result.text


async def test_crash_fails_fast_then_restarts(tmp_path: Path) -> None:
    other = {
        "command": sys.executable,
        "args": [str(FIXTURES / "one_era_server.py"), "legacy"],
        "namespace": "o",
    }
    async with front({"demo2": demo_backend(tmp_path), "other": other}) as (runner, client):
        backend = manager(runner).backends["demo2"]
        first_pid = backend.status()["pid"]
        crashed = await client.call_tool("demo2_crash")
        assert crashed.is_error and "demo2" in crashed.text
        await eventually(lambda: backend.state == "restarting")
        down = await client.call_tool("demo2_add", {"a": 1, "b": 1})
        assert down.is_error
        assert (
            "Backend 'demo2' is restarting (attempt 1" in down.text
            and "exited with code 3" in down.text
        )
        assert (
            await client.call_tool("o_echo", {"text": "unaffected"})
        ).text == "legacy unaffected"
        await eventually(lambda: backend.state == "ready")
        assert (await client.call_tool("demo2_add", {"a": 1, "b": 1})).structured_content == {
            "result": 2
        }
        status = backend.status()
        assert status["restarts"] == 1 and status["pid"] != first_pid
        os.kill(status["pid"], signal.SIGKILL)  # killed from outside, too
        await eventually(lambda: backend.state == "restarting")
        await eventually(lambda: backend.state == "ready")
        assert backend.status()["restarts"] == 2


async def test_backend_list_changed_refreshes_the_composition(tmp_path: Path) -> None:
    changed: list[str] = []
    async with front({"demo2": demo_backend(tmp_path)}, on_list_changed=changed.append) as (
        runner,
        client,
    ):
        await client.call_tool("demo2_grow", {"name": "sprout"})
        await eventually(lambda: "demo2_sprout" in runner.registry.tools)
        await eventually(lambda: "tools" in changed)
        assert (await client.call_tool("demo2_sprout")).text == "grown sprout"


async def test_lazy_backend_starts_on_first_use(tmp_path: Path) -> None:
    runner = make_runner(settings=settings({"lazy2": demo_backend(tmp_path, lazy=True)}))
    async with Client.inprocess(runner, lifespan=False) as client, runner.lifespan():
        backend = manager(runner).backends["lazy2"]
        assert backend.state == "configured"
        names = {t.name for t in await client.list_tools()}
        assert "lazy2_echo" in names and backend.state == "ready"


async def test_lazy_backend_call_before_listing(tmp_path: Path) -> None:
    runner = make_runner(settings=settings({"lazy2": demo_backend(tmp_path)}, lazy=True))
    async with Client.inprocess(runner) as client:
        assert (await client.call_tool("lazy2_echo", {"text": "woke"})).text == "woke"


async def test_collision_fails_that_backend_only(tmp_path: Path) -> None:
    servers = {"a": demo_backend(tmp_path), "b": demo_backend(tmp_path)}  # same resource URIs
    async with front(servers) as (runner, client):
        states = {b.name: b for b in manager(runner).backends.values()}
        failed = [b for b in states.values() if b.state == "failed"]
        assert len(failed) == 1
        assert "collides" in (failed[0].error or "") and "demo://readme" in (failed[0].error or "")
        ok = next(b for b in states.values() if b.state == "ready")
        assert (await client.call_tool(f"{ok.name}_echo", {"text": "x"})).text == "x"


async def test_unstartable_backend_is_failed_with_the_reason(tmp_path: Path) -> None:
    async with front(
        {"nope": {"command": str(tmp_path / "missing-server")}, "demo2": demo_backend(tmp_path)}
    ) as (runner, client):
        entries = {e["name"]: e for e in proxy.mcp_runner_status(runner) or []}
        assert entries["nope"]["state"] == "failed"
        assert "cannot start" in entries["nope"]["error"]
        assert entries["demo2"]["state"] == "ready" and entries["demo2"]["tools"] == 16
        assert (await client.call_tool("demo2_echo", {"text": "fine"})).text == "fine"


async def test_nesting_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEPTH_ENV, str(MAX_DEPTH))
    async with front({"demo2": demo_backend(tmp_path)}) as (runner, _):
        backend = manager(runner).backends["demo2"]
        assert backend.state == "failed" and "proxies deep" in (backend.error or "")


@pytest.fixture(scope="module")
def http_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    server = HttpServer("--plugin", "proxy_demo", cwd=tmp_path_factory.mktemp("http-backend"))
    yield server
    server.stop()


@pytest.mark.parametrize("backend_era", ["legacy", "modern"])
async def test_http_backend(http_backend: HttpServer, backend_era: str) -> None:
    steps: list[Progress] = []
    servers = {"web": {"url": http_backend.url, "era": backend_era, "headers": {"X-Test": "1"}}}
    async with front(servers, era="modern", elicitation=elicit, sampling=sample) as (
        runner,
        client,
    ):
        assert manager(runner).backends["web"].status()["era"] == backend_era
        assert (
            await client.call_tool("web_count", {"steps": 2}, progress=steps.append)
        ).text == "counted 2"
        assert [p.progress for p in steps] == [1, 2]
        assert (await client.call_tool("web_ask_twice")).text == "Ada+Ada"
        assert (await client.call_tool("web_resumable", {"tag": "p"})).text == "resumed p"


def test_plugins_json_shows_backend_states(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "mcp-runner.toml"
    backend = demo_backend(tmp_path / "backend")
    (tmp_path / "backend").mkdir()
    config.write_text(
        "[server]\nenable = []\n\n"
        f"[proxy.servers.demo2]\ncommand = {json.dumps(backend['command'])}\n"
        f"args = {json.dumps(backend['args'])}\ncwd = {json.dumps(backend['cwd'])}\n"
        f'env = {{ PYTHONPATH = {json.dumps(backend["env"]["PYTHONPATH"])}, MCP_RUNNER_PLUGINS = "demo" }}\n\n'
        '[proxy.servers.broken]\ncommand = "/nonexistent/mcp-server"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    done = subprocess.run(
        [mcp_runner(), "plugins", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    record = next(r for r in json.loads(done.stdout) if r["name"] == "proxy")
    backends = {b["name"]: b for b in record["backends"]}
    assert backends["demo2"]["state"] == "ready" and backends["demo2"]["tools"] == 16
    assert backends["broken"]["state"] == "failed" and "cannot start" in backends["broken"]["error"]
    text = subprocess.run(
        [mcp_runner(), "plugins", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert (
        "- demo2: ready - tools 16" in text.stdout
        and "- broken: failed (cannot start" in text.stdout
    )
    unstarted = subprocess.run(
        [mcp_runner(), "plugins", "--json", "--wait", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    record = next(r for r in json.loads(unstarted.stdout) if r["name"] == "proxy")
    assert {b["state"] for b in record["backends"]} == {"configured"}
