"""Helpers of the Redis plugin's tests: a real ``redis-server`` and real replicas (``mcp-runner
serve --transport http`` with the redis plugin and the http_demo tools) on loopback ports, and a
legacy session driven over plain HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
HERE = Path(__file__).resolve().parent
HTTP_PLUGINS = HERE.parents[2] / "tests" / "fixtures" / "http_plugins"
LEGACY = "2025-11-25"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start_redis(workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    """``redis-server`` with no persistence in `workdir`, and `args` (its ports)."""
    base = [REDIS, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return subprocess.Popen(
        [*base, "--dir", str(workdir), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Replica:
    """One ``mcp-runner serve --transport http`` with the redis plugin set by `env`
    (``MCP_RUNNER_PLUGINS__REDIS__*`` and any other variables) and `plugins` (``module:attr``
    specs, importable from `path`); `url` once it listens."""

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path | str,
        plugins: tuple[str, ...] = ("http_demo:plugin",),
        path: tuple[Path, ...] = (HTTP_PLUGINS,),
    ) -> None:
        names = [spec.split(":", 1)[0] for spec in plugins]
        base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
        search = [*map(str, path), base.get("PYTHONPATH", "")]
        base.update(
            PYTHONPATH=os.pathsep.join(filter(None, search)),
            MCP_RUNNER_PLUGINS=",".join([*names, "redis"]),
            PYTHONUNBUFFERED="1",
            **env,
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.lines: list[str] = []
        command = [sys.executable, "-c", "from mcp_runner.cli import main; main()", "serve"]
        command += ["--transport", "http", "--port", str(self.port)]
        for spec in plugins:
            command += ["--plugin", spec]
        self.proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_for_port(self.port, 20.0)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        stop(self.proc)


def initialize(http: httpx.Client, url: str) -> str:
    """Open a legacy session at `url`; its id."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    response = http.post(url, headers=HEADERS, json=request)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    http.post(url, headers=session_headers(session), json=initialized)
    return session


def session_headers(session: str) -> dict[str, str]:
    return {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
