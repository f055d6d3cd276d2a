"""The `requestState` key ring (`server.state_secrets`): the first key seals, every key opens,
short secrets are refused at start, and processes sharing a ring accept each other's states."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from http_helpers import ServerProcess, modern_headers, modern_request
from mcp_runner import McpError
from mcp_runner.config import ConfigError, load_settings
from mcp_runner.protocol.state import StateSigner

OLD = b"o" * 32
NEW = b"n" * 32
BINDING = "tools/call|ask_name|"


def test_a_state_sealed_by_the_old_first_key_opens_after_rotation_until_it_is_dropped() -> None:
    token = StateSigner([OLD]).seal({"a": 1}, BINDING)
    assert StateSigner([NEW, OLD]).open(token, BINDING)["a"] == 1
    with pytest.raises(McpError, match="integrity"):
        StateSigner([NEW]).open(token, BINDING)


def test_the_first_key_of_the_ring_seals() -> None:
    token = StateSigner([NEW, OLD]).seal({}, BINDING)
    assert StateSigner([NEW]).open(token, BINDING)["b"] == BINDING
    with pytest.raises(McpError, match="integrity"):
        StateSigner([OLD]).open(token, BINDING)


def test_state_secrets_from_the_file_and_the_environment(tmp_path: Any) -> None:
    config = tmp_path / "mcp-runner.toml"
    config.write_text(f'[server]\nstate_secrets = ["{NEW.decode()}", "{OLD.decode()}"]\n')
    assert load_settings(config, env={}).server.state_keys() == [NEW, OLD]
    env = {"MCP_RUNNER_STATE_SECRETS": f'["{OLD.decode()}"]'}
    assert load_settings(env=env).server.state_keys() == [OLD]


def test_state_secret_is_a_ring_of_one() -> None:
    settings = load_settings(env={"MCP_RUNNER_STATE_SECRET": OLD.decode()})
    assert settings.server.state_keys() == [OLD]
    assert load_settings(env={}).server.state_keys() == []


@pytest.mark.parametrize(
    "env",
    [
        {"MCP_RUNNER_STATE_SECRET": "x"},
        {"MCP_RUNNER_STATE_SECRETS": f'["{NEW.decode()}", "short"]'},
    ],
)
def test_a_short_secret_is_refused_with_how_to_make_one(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env=env)
    message = str(refused.value)
    assert "at least 32 bytes" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message


def test_state_secret_and_state_secrets_together_are_refused() -> None:
    env = {
        "MCP_RUNNER_STATE_SECRET": OLD.decode(),
        "MCP_RUNNER_STATE_SECRETS": f'["{NEW.decode()}"]',
    }
    with pytest.raises(ConfigError, match="not both"):
        load_settings(env=env)


# ----------------------------------------------------------------------------------------------
# Real processes


def _ask_name(client: httpx.Client, url: str, **extra: Any) -> dict[str, Any]:
    params = {"name": "ask_name", "arguments": {}, **extra}
    request = modern_request("tools/call", params, capabilities={"elicitation": {}})
    response = client.post(url, json=request, headers=modern_headers("tools/call", params))
    answer: dict[str, Any] = response.json()
    return answer


def _retry(first: dict[str, Any]) -> dict[str, Any]:
    key = next(iter(first["inputRequests"]))
    return {
        "inputResponses": {key: {"action": "accept", "content": {"name": "Ada"}}},
        "requestState": first["requestState"],
    }


@pytest.mark.e2e
def test_processes_sharing_a_ring_accept_each_others_states() -> None:
    ring = f'["{NEW.decode()}", "{OLD.decode()}"]'
    with (
        ServerProcess({"MCP_RUNNER_STATE_SECRETS": ring}) as first,
        ServerProcess({"MCP_RUNNER_STATE_SECRETS": ring}) as second,
        ServerProcess({"MCP_RUNNER_STATE_SECRET": OLD.decode()}) as before_rotation,
        ServerProcess({"MCP_RUNNER_STATE_SECRETS": f'["{NEW.decode()}"]'}) as old_dropped,
        httpx.Client(timeout=30) as client,
    ):
        for asked, answered in ((first, second), (second, first), (before_rotation, first)):
            round_one = _ask_name(client, asked.url)["result"]
            assert round_one["resultType"] == "input_required"
            done = _ask_name(client, answered.url, **_retry(round_one))["result"]
            assert done["resultType"] == "complete", done
            assert done["content"] == [{"type": "text", "text": "accept:Ada"}]
        sealed_by_old = _ask_name(client, before_rotation.url)["result"]
        refused = _ask_name(client, old_dropped.url, **_retry(sealed_by_old))
        assert refused["error"]["code"] == -32602
        assert "integrity" in refused["error"]["message"]
