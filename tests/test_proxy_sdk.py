"""End to end: one `mcp-runner serve` (stdio) mounting a real third-party server — the npm
package `@modelcontextprotocol/server-everything`, over stdio — and a second mcp-runner over
Streamable HTTP, driven by the official MCP Python SDK client (mcp 2.3.0), in both eras.

server-everything is installed with npm into a cache directory once per machine
(``$MCP_RUNNER_TEST_CACHE``, default ``~/.cache/mcp-runner-tests``); without node and npm, or
without access to the npm registry, these tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "proxy"
sys.path.insert(0, str(FIXTURES))
from helpers import HttpServer, cmdline, mcp_runner  # noqa: E402

EVERYTHING = "@modelcontextprotocol/server-everything"
EVERYTHING_VERSION = "2026.8.31"  # pinned: its tool names and texts are asserted below
SESSION_TIMEOUT = 90.0
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="finds backend processes in /proc"
    ),
]


@pytest.fixture(scope="session")
def everything() -> list[str]:
    """The command that runs server-everything over stdio (installed into the test cache)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to install @modelcontextprotocol/server-everything")
    cache = Path(
        os.environ.get("MCP_RUNNER_TEST_CACHE") or Path.home() / ".cache" / "mcp-runner-tests"
    )
    prefix = cache / f"server-everything-{EVERYTHING_VERSION}"
    entry = (
        prefix
        / "node_modules"
        / "@modelcontextprotocol"
        / "server-everything"
        / "dist"
        / "index.js"
    )
    if not entry.is_file():
        prefix.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    f"{EVERYTHING}@{EVERYTHING_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm install {EVERYTHING}@{EVERYTHING_VERSION} took over 300 s")
        if done.returncode != 0 or not entry.is_file():
            pytest.skip(
                f"npm install {EVERYTHING}@{EVERYTHING_VERSION} failed (no registry access?): "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
    return [node, str(entry), "stdio"]


@pytest.fixture(scope="module")
def web_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """The second mcp-runner: the demo plugin over Streamable HTTP."""
    server = HttpServer("--plugin", "proxy_demo", cwd=tmp_path_factory.mktemp("web"))
    yield server
    server.stop()


@pytest.fixture
def front(tmp_path: Path, everything: list[str], web_backend: HttpServer) -> dict[str, Any]:
    """The config of the runner in front, and where its server-everything runs."""
    backend_dir = tmp_path / "everything-cwd"  # marks its process, for the kill test
    backend_dir.mkdir()
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        "[server]\nenable = []\n\n"
        "[proxy.restart]\ninitial_delay = 0.3\nmax_delay = 2.0\n\n"
        f"[proxy.servers.everything]\ncommand = {json.dumps(everything[0])}\n"
        f"args = {json.dumps(everything[1:])}\ncwd = {json.dumps(str(backend_dir))}\n\n"
        f"[proxy.servers.web]\nurl = {json.dumps(web_backend.url)}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    params = StdioServerParameters(
        command=mcp_runner(), args=["serve", "--config", str(config)], env=env, cwd=str(tmp_path)
    )
    return {
        "params": params,
        "config": config,
        "env": env,
        "cwd": tmp_path,
        "backend_dir": backend_dir,
    }


def run(fn: Any) -> None:
    async def bounded() -> None:
        with anyio.fail_after(SESSION_TIMEOUT):
            await fn()

    anyio.run(bounded)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))


async def answer_elicitation(context: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})


async def answer_sampling(context: Any, params: Any) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="sampled!"), model="sdk-model"
    )


def everything_pid(backend_dir: Path) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(backend_dir) and "index.js" in cmdline(
                    int(entry.name)
                ):
                    return int(entry.name)
            except OSError:
                continue
    return None


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_sdk_client_through_the_proxy(front: dict[str, Any], mode: str) -> None:
    async def body() -> None:
        async with Client(
            front["params"],
            mode=mode,
            elicitation_callback=answer_elicitation,
            sampling_callback=answer_sampling,
        ) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            # namespaces: both backends' tools, prefixed with their names
            assert {
                "everything_echo",
                "everything_get-sum",
                "everything_trigger-long-running-operation",
                "everything_trigger-elicitation-request",
                "web_add",
                "web_ask_name",
            } <= tools
            assert not {"echo", "add"} & tools
            # calls forwarded
            echoed = await client.call_tool("everything_echo", {"message": "through the proxy"})
            assert text_of(echoed) == "Echo: through the proxy"
            summed = await client.call_tool("everything_get-sum", {"a": 2, "b": 40})
            assert "42" in text_of(summed)
            added = await client.call_tool("web_add", {"a": 1, "b": 2})
            assert added.structured_content == {"result": 3}
            # progress of a long-running operation flows through
            seen: list[tuple[float, float | None]] = []

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                seen.append((progress, total))

            long = await client.call_tool(
                "everything_trigger-long-running-operation",
                {"duration": 1, "steps": 4},
                progress_callback=on_progress,
            )
            assert "Long running operation completed" in text_of(long)
            assert [p for p, _ in seen] == [1, 2, 3, 4] and {t for _, t in seen} == {4}
            web_steps: list[tuple[float, float | None]] = []

            async def on_web_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                web_steps.append((progress, total))

            await client.call_tool("web_count", {"steps": 3}, progress_callback=on_web_progress)
            assert web_steps == [(1, 3), (2, 3), (3, 3)]
            # an elicitation from the backend, answered by our client
            elicited = await client.call_tool("everything_trigger-elicitation-request", {})
            assert "User provided the requested information" in text_of(elicited)
            assert "Ada Lovelace" in text_of(elicited)
            assert text_of(await client.call_tool("web_ask_name", {})) == "accept:Ada Lovelace"
            # sampling from the backend
            sampled = await client.call_tool(
                "everything_trigger-sampling-request", {"prompt": "hi", "maxTokens": 20}
            )
            assert "sampled!" in text_of(sampled)
            # prompts and resources of the backend
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert {"everything_simple-prompt", "everything_args-prompt", "web_greet"} <= prompts
            prompt = await client.get_prompt("everything_args-prompt", {"city": "Paris"})
            assert "Paris" in prompt.messages[0].content.text  # type: ignore[union-attr]
            read = await client.read_resource("demo://resource/dynamic/text/3")
            assert "Resource 3" in read.contents[0].text  # type: ignore[union-attr]
            assert (await client.read_resource("demo://readme")).contents[0].text == "Demo readme."  # type: ignore[union-attr]

    run(body)


def test_killed_backend_fails_fast_and_comes_back(front: dict[str, Any]) -> None:
    async def body() -> None:
        async with Client(front["params"], mode="legacy") as client:
            assert (
                text_of(await client.call_tool("everything_echo", {"message": "up"})) == "Echo: up"
            )
            pid = everything_pid(front["backend_dir"])
            assert pid is not None, "server-everything process not found"
            os.kill(pid, signal.SIGKILL)
            # Until the proxy has noticed and restarted it, a call either fails at once or is
            # answered by the new process: never by the killed one, and never after a hang.
            down = restarted = None
            for _ in range(100):
                result = await client.call_tool("everything_echo", {"message": "down?"})
                if result.is_error:
                    down = result
                    break
                if everything_pid(front["backend_dir"]) not in (None, pid):
                    restarted = result
                    break
                await anyio.sleep(0.02)
            assert down is not None or restarted is not None, "the killed backend kept answering"
            if down is not None:
                started = time.monotonic()
                again = await client.call_tool("everything_echo", {"message": "fast"})
                if again.is_error:  # still down: the answer must come at once, naming the backend
                    assert time.monotonic() - started < 1.0
                    assert "Backend 'everything' is restarting" in text_of(again)
            # the rest of the server is unaffected
            assert (await client.call_tool("web_add", {"a": 2, "b": 2})).structured_content == {
                "result": 4
            }
            for _ in range(200):
                result = await client.call_tool("everything_echo", {"message": "back"})
                if not result.is_error:
                    assert text_of(result) == "Echo: back"
                    break
                await anyio.sleep(0.05)
            else:
                raise AssertionError("server-everything did not come back")
            assert everything_pid(front["backend_dir"]) not in (None, pid)

    run(body)


def test_plugins_json_shows_the_backends(front: dict[str, Any]) -> None:
    done = subprocess.run(
        [mcp_runner(), "plugins", "--json", "--config", str(front["config"])],
        capture_output=True,
        text=True,
        timeout=90,
        env=front["env"],
        cwd=front["cwd"],
    )
    assert done.returncode == 0, done.stderr
    record = next(r for r in json.loads(done.stdout) if r["name"] == "proxy")
    backends = {b["name"]: b for b in record["backends"]}
    everything, web = backends["everything"], backends["web"]
    assert everything["state"] == "ready" and everything["era"] == "legacy"
    assert everything["server"]["name"] == "mcp-servers/everything"
    assert everything["tools"] >= 13 and everything["prompts"] >= 4
    # era "auto" opens a legacy session with a backend that speaks both eras
    assert web["state"] == "ready" and web["era"] == "legacy" and web["transport"] == "http"
