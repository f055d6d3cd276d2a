"""Settings: the file, the environment and overrides, allow/deny lists and error messages."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from mcp_runner import (
    Plugin,
    Runner,
)
from mcp_runner.config import ConfigError, Settings, load_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------
# Settings


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mcp-runner.toml"
    path.write_text(text)
    return path


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
[server]
name = "from-file"
log_level = "info"
page_size = 50

[http]
port = 9000
host = "0.0.0.0"

[plugins.files]
roots = ["/srv"]
max_results = 10
""",
    )
    env = {
        "MCP_RUNNER_LOG_LEVEL": "debug",  # a [server] field by its own name
        "MCP_RUNNER_HTTP__PORT": "9100",  # TABLE__KEY
        "MCP_RUNNER_PLUGINS__FILES__MAX_RESULTS": "20",  # one key of a plugin table
        "MCP_RUNNER_SERVER__INSTRUCTIONS": "Be brief.",
        "MCP_RUNNER_UNRELATED": "ignored",
        "OTHER_VARIABLE": "ignored",
    }
    settings = load_settings(path, env=env, overrides={"http.port": 9200, "http.path": None})
    assert settings.server.name == "from-file"
    assert settings.server.log_level == "debug"
    assert settings.server.page_size == 50
    assert settings.server.instructions == "Be brief."
    assert settings.http.port == 9200  # the command line wins over both
    assert settings.http.host == "0.0.0.0"
    assert settings.http.path == "/mcp"  # a None override changes nothing
    # Environment scalars stay strings; the plugin's settings model converts them.
    assert settings.plugins["files"] == {"roots": ["/srv"], "max_results": "20"}
    assert settings.source == str(path)


def test_the_working_directory_file_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).source is None
    write_config(tmp_path, '[server]\nname = "here"\n')
    assert load_settings(env={}).server.name == "here"
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_allow_and_deny_lists_from_the_environment() -> None:
    settings = load_settings(
        env={"MCP_RUNNER_PLUGINS": " files, sqlite ,", "MCP_RUNNER_DISABLE": "sqlite"}
    )
    assert settings.server.enable == ["files", "sqlite"]
    assert settings.server.disable == ["sqlite"]
    assert load_settings(env={"MCP_RUNNER_PLUGINS": ""}).server.enable == []
    assert load_settings(env={}).server.enable is None


def test_allow_and_deny_lists_choose_plugins() -> None:
    def plugins() -> dict[str, Any]:
        return {name: Plugin(name) for name in ("alpha", "beta", "gamma", "delta")}

    settings = Settings(
        server={"enable": ["alpha", "beta", "gamma"], "disable": ["beta", "errors"]},
        plugins={"gamma": {"enabled": False}},
    )
    runner = Runner(settings, plugins=plugins(), entry_points=False).start()
    status = {name: record.status for name, record in runner.host.records.items()}
    assert status["alpha"] == "ok"
    assert status["beta"] == "disabled"  # denied
    assert status["gamma"] == "disabled"  # enabled = false
    assert status["delta"] == "disabled"  # not allowed
    assert status["errors"] == "disabled"  # builtins can be denied
    assert status["transports"] == "ok"  # but are exempt from the allow list


def test_environment_values_are_json_when_they_can_be() -> None:
    settings = load_settings(
        env={
            "MCP_RUNNER_HTTP__ALLOWED_HOSTS": '["a.example", "b.example"]',
            "MCP_RUNNER_MASK_ERROR_DETAILS": "true",
            "MCP_RUNNER_TOOL_TIMEOUT": "2.5",
            "MCP_RUNNER_VERSION": '"1.0"',  # a string that looks like JSON must be quoted
            "MCP_RUNNER_HTTP__HOST": "0.0.0.0",  # not JSON: a plain string
        }
    )
    assert settings.http.allowed_hosts == ["a.example", "b.example"]
    assert settings.server.mask_error_details is True
    assert settings.server.tool_timeout == 2.5
    assert settings.server.version == "1.0"
    assert settings.http.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MCP_RUNNER_PAGE_SIZE": "0"}, "server.page_size"),
        ({"MCP_RUNNER_HTTP__PORT": "abc"}, "http.port"),
        ({"MCP_RUNNER_LOG_LEVEL": "loud"}, "server.log_level"),
        ({"MCP_RUNNER_SERVER__BOGUS": "1"}, "server.bogus"),
        ({"MCP_RUNNER_ON_CONFLICT": "merge"}, "server.on_conflict"),
    ],
)
def test_invalid_values_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    [variable] = env
    assert str(err.value).startswith(f"{variable}: {named}: ")  # the variable, not "settings"


def test_invalid_file_values_name_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[http]\nport = 70000\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value) == f"{path}: http.port: Input should be less than or equal to 65535"
    broken = write_config(tmp_path, "[http\n")
    with pytest.raises(ConfigError, match=str(broken)):
        load_settings(broken, env={})


def test_plugin_tables_split_common_keys() -> None:
    settings = Settings(
        plugins={
            "files": {
                "namespace": "fs",
                "enabled": True,
                "scopes": ["r"],
                "timeout": 3,
                "roots": ["/"],
            }
        }
    )
    common = settings.plugin("files")
    assert (common.namespace, common.enabled, common.scopes, common.timeout) == (
        "fs",
        True,
        ["r"],
        3,
    )
    assert settings.plugin_options("files") == {"roots": ["/"]}
    assert settings.plugin("absent").enabled is True
