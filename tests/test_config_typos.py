"""No typo passes silently, and one plugin reached twice is one plugin: real `mcp-runner`
processes with a config file or variables, their exit code and stderr asserted."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_runner.testing import served_client

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures" / "config_typos"


def mcp_runner(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    full_env = {**clean, "PYTHONPATH": str(FIXTURES), **(env or {})}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60
    )


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mcp-runner.toml"
    path.write_text(text)
    return str(path)


def tool_names(done: subprocess.CompletedProcess[str]) -> set[str]:
    return {tool["name"] for tool in json.loads(done.stdout)}


# -- plugins reached twice -------------------------------------------------------------------


def test_an_installed_plugin_named_again_with_plugin_is_loaded_once(tmp_path):
    done = mcp_runner(
        "call",
        "good_ping",
        "--plugin",
        "mcp_runner_test_good",
        "--plugin",
        "mcp_runner_test_good:plugin",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "plugin 'test_good' failed" not in done.stderr  # no word about it at all
    assert "already registered" not in done.stderr


def test_two_plugins_under_one_name_keep_the_first_and_say_so_in_one_line(tmp_path):
    done = mcp_runner("tools", "--json", "--plugin", "other_good:plugin", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = tool_names(done)
    assert "good_ping" in names and "impostor" not in names
    [line] = [line for line in done.stderr.splitlines() if "'test_good' failed" in line]
    assert "the entry point of distribution mcp-runner-test-good" in line
    assert "--plugin other_good:plugin is left out" in line
    assert "{" not in line  # never pluggy's name-to-plugin dict


def test_served_client_with_an_installed_plugin_serves_it_once():
    async def serve_and_call() -> set[str]:
        async with served_client("mcp_runner_test_good", only=["test_good"]) as client:
            await client.call_tool("good_ping")
            return {tool.name for tool in await client.list_tools()}

    assert "good_ping" in asyncio.run(serve_and_call())


# -- typos -----------------------------------------------------------------------------------


def test_an_unknown_top_level_table_is_an_error_with_the_nearest_name(tmp_path):
    done = mcp_runner("tools", "--config", config(tmp_path, '[sever]\nname = "x"\n'), cwd=tmp_path)
    assert done.returncode != 0
    assert "unknown table [sever] (did you mean 'server'?)" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_a_table_for_a_plugin_not_installed_is_a_warning_naming_the_installed(tmp_path):
    path = config(tmp_path, "[plugins.sqlit]\nmax_rows = 3\n")
    done = mcp_runner("tools", "--json", "--config", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "[plugins.sqlit]" in line]
    assert "did you mean 'sqlite'?" in line
    assert "installed: " in line and "files" in line and "sqlite" in line


def test_an_unknown_plugin_key_fails_that_plugin_never_the_demo_database(tmp_path):
    path = config(tmp_path, f'[plugins.sqlite]\ndatabse = "{tmp_path / "books.db"}"\n')
    done = mcp_runner("tools", "--json", "--config", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "plugin 'sqlite' failed (config)" in done.stderr
    assert "unknown key 'databse' (did you mean 'database'?)" in done.stderr
    assert "query" not in tool_names(done)  # the demo database is not served
    assert "read_file" in tool_names(done) or tool_names(done)  # the others still serve


def test_the_keys_every_plugin_table_has_stay_valid(tmp_path):
    path = config(
        tmp_path, '[plugins.sqlite]\nenabled = true\nnamespace = "db"\ntimeout = 5\nmax_rows = 9\n'
    )
    done = mcp_runner("tools", "--json", "--config", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sqlite" not in done.stderr
    assert "db_query" in tool_names(done)


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("MCP_RUNNER_LOG_LEVLE", "MCP_RUNNER_LOG_LEVEL"),
        ("MCP_RUNNER_SERVR__NAME", "MCP_RUNNER_SERVER__NAME"),
    ],
)
def test_an_unknown_variable_is_a_warning_with_the_near_match(tmp_path, variable, meant):
    done = mcp_runner("tools", "--json", cwd=tmp_path, env={variable: "debug"})
    assert done.returncode == 0, done.stderr
    assert f"warning: {variable} is not a setting (did you mean {meant}?)" in done.stderr


def test_an_unknown_plugin_variable_names_the_variable_and_the_near_key(tmp_path):
    env = {"MCP_RUNNER_PLUGINS__FILES__ROOTZ": json.dumps([str(tmp_path)])}
    done = mcp_runner("tools", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (
        "plugin 'files' failed (config): MCP_RUNNER_PLUGINS__FILES__ROOTZ: "
        "unknown key 'rootz' (did you mean 'roots'?)"
    ) in done.stderr


def test_a_bad_value_names_the_variable(tmp_path):
    done = mcp_runner("tools", cwd=tmp_path, env={"MCP_RUNNER_HTTP__PORT": "eighty"})
    assert done.returncode != 0
    assert "MCP_RUNNER_HTTP__PORT: http.port:" in done.stderr
    assert "settings" not in done.stderr


def test_a_bad_value_names_the_flag(tmp_path):
    done = mcp_runner("serve", "--transport", "http", "--path", "", "--port", "99999", cwd=tmp_path)
    assert done.returncode != 0
    assert "--port: http.port:" in done.stderr


def test_a_misspelt_key_of_server_names_the_nearest(tmp_path):
    done = mcp_runner(
        "tools", "--config", config(tmp_path, "[server]\nlog_levle = 'debug'\n"), cwd=tmp_path
    )
    assert done.returncode != 0
    assert "server.log_levle: unknown key (did you mean 'log_level'?)" in done.stderr
