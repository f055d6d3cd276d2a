"""Logs over a real stdio server: one completion line per request, correlation ids, no secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures" / "logging"
SECRET = "s3cret-token-value-never-logged"


def serve(
    lines: list[dict], *extra: str, env: dict[str, str] | None = None
) -> tuple[list[dict], list[dict]]:
    """Run `mcp-runner serve` over pipes; returns (stdout messages, stderr JSON log lines)."""
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    full_env = {
        **os.environ,
        "PYTHONPATH": str(FIXTURES),
        "MCP_RUNNER_PLUGINS": "log_demo",
        **(env or {}),
    }
    done = subprocess.run(
        [exe, "serve", "--plugin", "log_demo:plugin", "--log-format", "json", *extra],
        input="".join(json.dumps(m) + "\n" for m in lines),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    logs = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return out, logs


def initialize(id: int = 1) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }


def call(id: int, name: str, **arguments: object) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def test_one_completion_line_per_request_with_its_fields():
    requests = [
        initialize(),
        call(2, "ok"),
        call(3, "boom"),
        {"jsonrpc": "2.0", "id": 4, "method": "nope"},
        call(5, "ok"),
    ]
    out, logs = serve(requests, "--log-level", "info")
    completions = [line for line in logs if line.get("event") == "request"]
    assert sorted(line["request_id"] for line in completions) == [1, 2, 3, 4, 5]
    by_id = {line["request_id"]: line for line in completions}
    assert by_id[2]["method"] == "tools/call" and by_id[2]["target"] == "ok"
    assert by_id[2]["plugin"] == "log_demo" and by_id[2]["outcome"] == "ok"
    assert by_id[3]["outcome"] == "tool_error"
    assert by_id[4]["outcome"] == "error -32601"
    for line in completions:
        assert line["duration_ms"] >= 0 and line["transport"] == "stdio" and line["level"] == "info"
    assert len(out) == 5


def test_error_id_in_the_client_message_matches_the_logged_traceback():
    out, logs = serve([initialize(), call(2, "boom")])
    answer = next(m for m in out if m.get("id") == 2)["result"]
    assert answer["isError"] is True
    text = answer["content"][0]["text"]
    assert "Tool 'boom' failed: RuntimeError: the disk is on fire" in text
    error_id = re.search(r"error id ([0-9a-f]+)", text).group(1)
    failures = [line for line in logs if line.get("event") == "request failed"]
    assert len(failures) == 1
    assert failures[0]["error_id"] == error_id
    assert (
        "Traceback" in failures[0]["exception"]
        and "the disk is on fire" in failures[0]["exception"]
    )


def test_masked_errors_keep_details_out_of_the_client_message_only():
    out, logs = serve(
        [initialize(), call(2, "boom")], env={"MCP_RUNNER_MASK_ERROR_DETAILS": "true"}
    )
    text = next(m for m in out if m.get("id") == 2)["result"]["content"][0]["text"]
    assert "disk" not in text and "error id" in text
    assert any("the disk is on fire" in line.get("exception", "") for line in logs)


def test_below_the_level_nothing_is_written():
    _, logs = serve([initialize(), call(2, "ok")], "--log-level", "warning")
    assert not [line for line in logs if line.get("event") == "request"]


def test_secrets_never_reach_a_log(tmp_path: Path):
    config = tmp_path / "mcp-runner.toml"
    config.write_text(f'[[auth.tokens]]\ntoken = "{SECRET}"\nsubject = "ci"\nscopes = []\n')
    requests = [
        initialize(),
        call(2, "echo_secret", token=SECRET),
        call(3, "log_secret", token=SECRET),
    ]
    out, logs = serve(
        requests, "--config", str(config), "--log-level", "debug", env={"MCP_RUNNER_TOKEN": SECRET}
    )
    assert len([m for m in out if "id" in m]) == 3
    for line in logs:
        assert SECRET not in json.dumps(line), line
