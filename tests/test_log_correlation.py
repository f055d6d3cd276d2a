"""One id per HTTP request in every log line and error, and stderr that is JSON only in JSON
mode: the banner, warnings and uvicorn's errors included."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from typing import Any

import http_helpers as h
import httpx
import pytest
from mcp_runner.testing import SERVING

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

TOKEN = "a-static-token-long-enough-to-be-accepted-0123456789"
JSON_LOGS = {"MCP_RUNNER_LOG_LEVEL": "info", "MCP_RUNNER_LOG_FORMAT": "json"}


def events_until(server: h.ServerProcess, done: Any, seconds: float = 5) -> list[dict[str, Any]]:
    """The server's stderr lines as JSON events, once `done(events)` holds (or time is up)."""
    deadline = time.monotonic() + seconds
    while True:
        events = [json.loads(line) for line in list(server.stderr_lines)]
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def read_item(client: httpx.Client, url: str, item: str, **headers: str) -> httpx.Response:
    request = h.modern_request("resources/read", {"uri": f"demo://items/{item}"})
    sent = {**h.modern_headers("resources/read", request["params"]), **headers}
    return client.post(url, json=request, headers={k: v for k, v in sent.items() if v})


def test_one_id_in_the_access_log_the_request_log_and_the_error() -> None:
    """The client's X-Request-Id names the failed request everywhere: the error it gets, the
    error's log line, the request log, the access log (with the authenticated subject)."""
    env = {
        **JSON_LOGS,
        "MCP_RUNNER_AUTH__TOKENS": json.dumps([{"token": TOKEN, "subject": "ops-user"}]),
    }
    with h.ServerProcess(env) as server, httpx.Client(timeout=10) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        failed = read_item(client, server.url, "missing", **auth, **{"X-Request-Id": "order-9"})
        assert failed.headers["x-request-id"] == "order-9"
        assert failed.json()["error"]["data"]["errorId"] == "order-9"
        assert "(error id order-9)" in failed.json()["error"]["message"]
        fresh = read_item(client, server.url, "missing", **auth)  # no id given: one is made
        given = fresh.headers["x-request-id"]
        assert fresh.json()["error"]["data"]["errorId"] == given

        def logged(events: list[dict[str, Any]]) -> bool:
            return sum(e["event"] == "http" for e in events) >= 2

        events = events_until(server, logged)
    for correlation in ("order-9", given):
        mine = [e for e in events if e.get("correlation_id", e.get("error_id")) == correlation]
        assert sorted(e["event"] for e in mine) == ["http", "request", "request failed"], mine
        access = next(e for e in mine if e["event"] == "http")
        assert access["subject"] == "ops-user" and access["status"] == 200


def test_an_invalid_request_id_is_replaced_everywhere() -> None:
    with h.ServerProcess(JSON_LOGS) as server, httpx.Client(timeout=10) as client:
        answered = read_item(client, server.url, "missing", **{"X-Request-Id": "x" * 200})
        given = answered.headers["x-request-id"]
        assert given != "x" * 200
        assert answered.json()["error"]["data"]["errorId"] == given
        events = events_until(server, lambda es: any(e["event"] == "http" for e in es))
    access = next(e for e in events if e["event"] == "http")
    assert access["correlation_id"] == given and access["subject"] is None


def test_json_mode_stderr_is_json_only_and_the_banner_still_names_the_port() -> None:
    """`serve --transport http --log-format json`: the banner, a plugin's failure and the
    access log are JSON events, and the URL is found in the banner as tests and scripts find
    it."""
    command = h.runner_command(
        "serve", "--transport", "http", "--port", "0", "--log-format", "json",
        "--log-level", "info", "--plugin", "http_demo:plugin", "--plugin", "no_such_module:plugin",
    )  # fmt: skip
    with subprocess.Popen(
        command, env=h.server_env(), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if found := SERVING.search(line):
                break
        assert found, lines
        url = found.group(1)
        with httpx.Client(timeout=10) as client:
            assert client.get(url.rsplit("/", 1)[0] + "/healthz").status_code == 200
        proc.terminate()
        lines += proc.stderr.readlines()
        assert proc.wait(15) == 0
    events = [json.loads(line) for line in lines]  # every line is JSON
    serving = [e for e in events if e["event"] == "serving"]
    assert serving == [
        {"event": "serving", "url": url, "level": "info", "timestamp": serving[0]["timestamp"]}
    ]
    assert any(e["level"] == "warning" and "no_such_module" in e["event"] for e in events)
    assert any(e["event"] == "http" and e["path"] == "/healthz" for e in events)


def test_console_mode_keeps_the_plain_banner() -> None:
    server = h.ServerProcess({"MCP_RUNNER_LOG_FORMAT": "console"})
    with server:
        banner = next(line for line in server.stderr_lines if SERVING.search(line))
    assert banner == f"mcp-runner: serving {server.url}\n"


def test_a_port_in_use_is_told_in_json() -> None:
    """A port that is taken is told in one JSON line, as the banner is."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            h.runner_command(
                "serve", "--transport", "http", "--port", str(port), "--log-format", "json"
            ),
            env=h.server_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, done.stderr
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert any("address already in use" in e["event"].lower() for e in events), events
