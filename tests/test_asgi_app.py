"""`http_app()`, the ASGI application, as ``serve`` runs: under uvicorn's own command line it
honours ``shutdown_grace`` (open streams end at the first SIGTERM, calls in flight are cut at
the grace, the process exits 0) and the log settings; mounted inside another Starlette or
FastAPI application, the plugins' lifespans run when that application is handed its lifespan,
and without it a warning says how (never a silent half-start)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_helpers import (
    initialize_request,
    legacy_headers,
    modern_headers,
    modern_request,
    server_env,
)
from mcp_runner import Plugin, Runner, http_app
from mcp_runner.config import Settings
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient


def _plugin(events: list[str]) -> Plugin:
    plugin = Plugin("lifespanned")

    @plugin.lifespan
    async def connect() -> Any:
        events.append("enter")
        yield
        events.append("exit")

    @plugin.tool
    async def add(a: int, b: int) -> int:
        return a + b

    return plugin


def _call(client: Any, url: str) -> Any:
    params = {"name": "add", "arguments": {"a": 2, "b": 3}}
    return client.post(
        url, json=modern_request("tools/call", params), headers=modern_headers("tools/call", params)
    )


def test_mounted_in_starlette_with_its_lifespan_the_plugins_lifespans_run() -> None:
    events: list[str] = []
    runner = Runner(Settings(), plugins={"lifespanned": _plugin(events)}, entry_points=False)
    mcp = http_app(runner)
    app = Starlette(routes=[Mount("/tools", app=mcp)], lifespan=mcp.router.lifespan_context)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert events == ["enter"]
        answer = _call(client, "/tools/mcp").json()
        assert answer["result"]["structuredContent"] == {"result": 5}
    assert events == ["enter", "exit"]


def test_mounted_in_fastapi_with_its_lifespan_the_plugins_lifespans_run() -> None:
    fastapi = pytest.importorskip("fastapi")
    events: list[str] = []
    runner = Runner(Settings(), plugins={"lifespanned": _plugin(events)}, entry_points=False)
    mcp = http_app(runner)
    app = fastapi.FastAPI(lifespan=mcp.router.lifespan_context)
    app.mount("/tools", mcp)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert _call(client, "/tools/mcp").json()["result"]["structuredContent"] == {"result": 5}
        assert events == ["enter"]
    assert events == ["enter", "exit"]


def test_mounted_without_its_lifespan_a_warning_says_how_to_fix_it(capfd: Any) -> None:
    events: list[str] = []
    runner = Runner(Settings(), plugins={"lifespanned": _plugin(events)}, entry_points=False)
    app = Starlette(routes=[Mount("/tools", app=http_app(runner))])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        for _ in range(3):
            assert _call(client, "/tools/mcp").json()["result"]["structuredContent"]
    logged = capfd.readouterr().err
    assert logged.count("lifespan=mcp.router.lifespan_context") == 1  # once, not per request
    assert events == []


# ----------------------------------------------------------------------------------------------
# Under uvicorn's command line


class Uvicorn:
    """``uvicorn --factory factory:app`` (`http_app` with the http_demo plugin), with
    uvicorn's defaults: no graceful timeout of its own."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        (cwd / "factory.py").write_text(
            "from mcp_runner import Runner, http_app\n\n\n"
            "def app():\n"
            "    return http_app(Runner(extra=['http_demo:plugin']))\n"
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc = subprocess.Popen(
            [
                *(
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "factory:app",
                    "--app-dir",
                    str(cwd),
                ),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
            ],
            cwd=cwd,
            env=server_env(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with httpx.Client(timeout=5) as client:
                    if "result" in _call(client, self.url).json():
                        return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not start: " + "".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


@pytest.fixture
def uvicorn_app(tmp_path: Path) -> Iterator[Uvicorn]:
    env = {
        "MCP_RUNNER_SHUTDOWN_GRACE": "1",
        "MCP_RUNNER_LOG_LEVEL": "info",
        "MCP_RUNNER_LOG_FORMAT": "json",
    }
    server = Uvicorn(tmp_path, env)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.e2e
def test_under_uvicorn_the_log_settings_apply(uvicorn_app: Uvicorn) -> None:
    time.sleep(0.5)  # the log set-up is applied just after the first answers
    with httpx.Client(timeout=10) as client:
        assert _call(client, uvicorn_app.url).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logged = [json.loads(line) for line in uvicorn_app.lines if line.startswith("{")]
        if any(entry.get("target") == "add" and entry.get("outcome") == "ok" for entry in logged):
            return
        time.sleep(0.1)
    raise AssertionError("no JSON request log line: " + "".join(uvicorn_app.lines))


@pytest.mark.e2e
def test_under_uvicorn_sigterm_ends_open_streams_and_cuts_calls_at_the_grace(
    uvicorn_app: Uvicorn,
) -> None:
    url = uvicorn_app.url
    with httpx.Client(timeout=30) as client:
        opened = client.post(url, json=initialize_request(), headers=legacy_headers(version=None))
        session = opened.headers["mcp-session-id"]
        client.post(
            url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=legacy_headers(session),
        )
    results: dict[str, Any] = {}

    def stream() -> None:
        headers = {**legacy_headers(session), "Accept": "text/event-stream"}
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            results["stream_status"] = response.status_code
            for _ in response.iter_lines():
                pass
        results["stream_ended"] = time.monotonic()

    def slow() -> None:
        params = {"name": "slow", "arguments": {"seconds": 20}}
        with httpx.Client(timeout=30) as client:
            results["slow"] = client.post(
                url,
                json=modern_request("tools/call", params),
                headers=modern_headers("tools/call", params),
            ).json()

    threads = [threading.Thread(target=stream), threading.Thread(target=slow)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    stopped = time.monotonic()
    uvicorn_app.proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once it has stopped: the status says SIGTERM ended it
    assert uvicorn_app.proc.wait(15) in (0, -signal.SIGTERM), "".join(uvicorn_app.lines)
    assert "Traceback" not in "".join(uvicorn_app.lines)
    elapsed = time.monotonic() - stopped
    for thread in threads:
        thread.join(15)
    assert elapsed < 5, elapsed  # a 1 s grace, not the 20 s call nor the endless stream
    assert results["stream_status"] == 200
    assert results["stream_ended"] - stopped < 1
    assert "shutting down" in results["slow"]["error"]["message"]


def test_the_mounting_examples_of_the_scaling_docs_run_as_written() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "scaling.md").read_text()
    section = text.split("### Under another ASGI server", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        namespace: dict[str, Any] = {"__name__": "docs_example"}
        exec(compile(block, "docs/scaling.md", "exec"), namespace)
        with TestClient(namespace["app"], base_url="http://127.0.0.1:8000") as client:
            params = {"name": "nothing", "arguments": {}}
            answer = client.post(
                "/tools/mcp",
                json=modern_request("tools/call", params),
                headers=modern_headers("tools/call", params),
            )
            assert answer.status_code == 200  # served: an unknown tool
            assert answer.json()["error"]["code"] == -32602
