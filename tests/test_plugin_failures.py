"""Plugin failures are isolated: real distributions with real entry points.

Needs the distributions in tests/fixtures/dists installed into the test environment
(``pip install tests/fixtures/dists/*``; tox does it):

=======================  ===================  =============================================
entry point              distribution         what it does
=======================  ===================  =============================================
test_good                ...-test-good        a tool, a resource, a prompt: loads fine
test_importerror         ...-test-importerror its module raises ImportError
test_registerfails       ...-test-registerf.. its register hook adds a tool, then raises
test_good_twin           ...-test-collides    a tool named like test_good's (sorts after it)
test_badconfig           ...-test-badconfig   settings model with a required int `limit`
test_unknownhook         ...-test-unknownhook implements hook `mcp_runner_nonsense`
=======================  ===================  =============================================

Servers here use an allow list of exactly these six, so other plugins installed in the
environment cannot change what is served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import CliResult, RawClient

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("test_dists_installed")]

GOOD = "test_good"
FAILED = {
    "test_importerror": "import",
    "test_registerfails": "compose",
    "test_good_twin": "compose",
    "test_badconfig": "config",
    "test_unknownhook": "register",
}
TEST_PLUGINS = (GOOD, *FAILED)
ALLOW = ",".join(TEST_PLUGINS)
NEVER_SERVED = {"half_registered", "twin_only", "unknownhook_tool", "configured_limit"}
WARNING = re.compile(
    r"^(?:mcp-runner: warning: )?plugin '(?P<name>[^']+)' failed \((?P<phase>[a-z_]+)\): (?P<error>.+)$"
)


def records(result: CliResult) -> dict[str, dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)  # stdout is only the JSON document
    return {r["name"]: r for r in listed}


def warnings_in(stderr: str) -> list[re.Match[str]]:
    """The plugin warnings of stderr: plain lines (console log) or JSON events."""
    return [m for line in stderr.splitlines() if (m := WARNING.match(told(line)))]


def told(line: str) -> str:
    """A stderr line's text: a JSON event's ``event``, or the line itself."""
    if line.startswith("{"):
        event = json.loads(line)
        if event.get("level") == "warning":
            return str(event["event"])
    return line


# ---------------------------------------------------------------------------------------------
# mcp-runner plugins --json


def test_plugins_json_shows_status_and_phase_of_each_plugin(
    run_cli: Callable[..., CliResult],
) -> None:
    found = records(run_cli("plugins", "--json", env={"MCP_RUNNER_PLUGINS": ALLOW}))

    for builtin in ("errors", "transports"):
        assert found[builtin]["status"] == "ok"
        assert found[builtin]["source"] == "builtin"

    good = found[GOOD]
    assert good["status"] == "ok"
    assert good["phase"] is None and good["error"] is None
    assert good["source"] == "entry point"
    assert good["distribution"] == "mcp-runner-test-good"
    assert good["version"] == "0.0.1"
    assert good["value"] == "mcp_runner_test_good:plugin"
    assert (good["tools"], good["resources"], good["prompts"]) == (1, 1, 1)
    assert "mcp_runner_register" in good["hooks"]

    for name, phase in FAILED.items():
        record = found[name]
        assert record["status"] == "failed", record
        assert record["phase"] == phase, record
        assert record["error"]
        assert "Traceback" in record["traceback"]
        assert record["source"] == "entry point"
        assert (record["tools"], record["resources"], record["prompts"]) == (0, 0, 0)

    assert "ImportError" in found["test_importerror"]["error"]
    assert "a required library is missing" in found["test_importerror"]["error"]

    assert "RuntimeError: registration failed halfway" in found["test_registerfails"]["error"]

    collision = found["test_good_twin"]["error"]
    assert "'good_ping'" in collision
    assert "'test_good_twin'" in collision and "'test_good'" in collision

    badconfig = found["test_badconfig"]["error"]
    assert "[plugins.test_badconfig]" in badconfig
    assert "limit" in badconfig and "Field required" in badconfig

    assert "mcp_runner_nonsense" in found["test_unknownhook"]["error"]


def test_plugins_json_badconfig_with_a_value_of_the_wrong_type(
    run_cli: Callable[..., CliResult],
) -> None:
    env = {"MCP_RUNNER_PLUGINS": ALLOW, "MCP_RUNNER_PLUGINS__TEST_BADCONFIG__LIMIT": "lots"}
    record = records(run_cli("plugins", "--json", env=env))["test_badconfig"]
    assert (record["status"], record["phase"]) == ("failed", "config")
    assert "limit" in record["error"]
    assert "valid integer" in record["error"]


def test_plugins_json_badconfig_with_a_valid_value_is_ok(run_cli: Callable[..., CliResult]) -> None:
    env = {"MCP_RUNNER_PLUGINS": ALLOW, "MCP_RUNNER_PLUGINS__TEST_BADCONFIG__LIMIT": "5"}
    record = records(run_cli("plugins", "--json", env=env))["test_badconfig"]
    assert (record["status"], record["phase"], record["error"]) == ("ok", None, None)
    assert record["tools"] == 1


def test_plugins_json_disabled_via_deny_list(run_cli: Callable[..., CliResult]) -> None:
    env = {"MCP_RUNNER_PLUGINS": ALLOW, "MCP_RUNNER_DISABLE": "test_good,test_importerror"}
    found = records(run_cli("plugins", "--json", env=env))
    for name in ("test_good", "test_importerror"):
        assert found[name]["status"] == "disabled"
        assert found[name]["phase"] is None and found[name]["error"] is None
        assert found[name]["import_ms"] == 0  # never imported
    # with test_good out of the way, its twin has no collision
    assert found["test_good_twin"]["status"] == "ok"
    assert found["test_good_twin"]["tools"] == 2
    assert found["test_registerfails"]["status"] == "failed"


def test_plugins_json_allow_list_disables_the_rest(run_cli: Callable[..., CliResult]) -> None:
    found = records(run_cli("plugins", "--json", env={"MCP_RUNNER_PLUGINS": GOOD}))
    assert found[GOOD]["status"] == "ok"
    for name in FAILED:
        assert found[name]["status"] == "disabled"
    assert (
        found["errors"]["status"] == found["transports"]["status"] == "ok"
    )  # builtins always load


def test_plugins_table_and_strict_exit_code(run_cli: Callable[..., CliResult]) -> None:
    table = run_cli("plugins", env={"MCP_RUNNER_PLUGINS": ALLOW})
    assert table.returncode == 0
    for name, phase in FAILED.items():
        assert re.search(rf"^{name}\s.*FAILED in {phase}: ", table.stdout, re.M), table.stdout
    assert re.search(r"^test_good\s.*\sok$", table.stdout, re.M)
    strict = run_cli("plugins", "--json", "--strict-plugins", env={"MCP_RUNNER_PLUGINS": ALLOW})
    assert strict.returncode != 0
    assert {r["name"] for r in json.loads(strict.stdout)} >= set(TEST_PLUGINS)


def test_tools_json_lists_only_the_good_plugins_tools(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("tools", "--json", env={"MCP_RUNNER_PLUGINS": ALLOW})
    assert result.returncode == 0, result.stderr
    tools = json.loads(result.stdout)
    assert [(t["name"], t["plugin"]) for t in tools] == [("good_ping", GOOD)]


# ---------------------------------------------------------------------------------------------
# mcp-runner serve


def test_serve_serves_the_good_plugin_and_warns_once_per_failure(
    spawn_server: Callable[..., RawClient],
) -> None:
    server = spawn_server(plugins=(), allow=TEST_PLUGINS)
    server.initialize()
    tools = {t["name"] for t in server.call("tools/list")["tools"]}
    assert tools == {"good_ping"}
    assert not tools & NEVER_SERVED
    ping = server.call("tools/call", {"name": "good_ping", "arguments": {}})
    assert ping["content"] == [{"type": "text", "text": "pong"}]  # test_good's, not the twin's
    for absent in NEVER_SERVED:
        err = server.request("tools/call", {"name": absent, "arguments": {}})["error"]
        assert err["code"] == -32602
    resources = server.call("resources/list")["resources"]
    assert [r["uri"] for r in resources] == ["test-good://status"]
    assert (
        server.call("resources/read", {"uri": "test-good://status"})["contents"][0]["text"]
        == "good status"
    )
    assert [p["name"] for p in server.call("prompts/list")["prompts"]] == ["good_prompt"]

    warned = warnings_in(server.stderr)
    assert sorted((m["name"], m["phase"]) for m in warned) == sorted(FAILED.items())
    assert GOOD not in {m["name"] for m in warned}
    server.close_stdin()
    assert server.drain() == []
    assert server.wait_exit() == 0
    assert len(warnings_in(server.stderr)) == len(FAILED)  # nothing repeated at shutdown


def test_serve_with_valid_config_serves_the_configured_plugin(
    spawn_server: Callable[..., RawClient],
) -> None:
    env = {
        "MCP_RUNNER_PLUGINS__TEST_BADCONFIG__LIMIT": "7",
        "MCP_RUNNER_PLUGINS__TEST_BADCONFIG__LABEL": "from-env",
    }
    server = spawn_server(plugins=(), allow=(GOOD, "test_badconfig"), env=env)
    server.initialize()
    assert {t["name"] for t in server.call("tools/list")["tools"]} == {
        "good_ping",
        "configured_limit",
    }
    result = server.call("tools/call", {"name": "configured_limit", "arguments": {}})
    assert result["content"][0]["text"] == "limit=7 label=from-env"
    assert warnings_in(server.stderr) == []


def test_serve_with_the_good_plugin_disabled_serves_its_twin(
    spawn_server: Callable[..., RawClient],
) -> None:
    server = spawn_server(plugins=(), allow=TEST_PLUGINS, env={"MCP_RUNNER_DISABLE": GOOD})
    server.initialize()
    assert {t["name"] for t in server.call("tools/list")["tools"]} == {"good_ping", "twin_only"}
    result = server.call("tools/call", {"name": "good_ping", "arguments": {}})
    assert result["content"][0]["text"] == "twin pong"


def test_serve_survives_a_failing_command_line_plugin(
    spawn_server: Callable[..., RawClient],
) -> None:
    server = spawn_server(plugins=("no_such_module_xyz", "e2e_beta"))
    server.initialize()
    assert {t["name"] for t in server.call("tools/list")["tools"]} == {"multiply", "shout"}
    [warned] = warnings_in(server.stderr)
    assert (warned["name"], warned["phase"]) == ("no_such_module_xyz", "import")
    assert "ModuleNotFoundError" in warned["error"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_strict_plugins_exits_non_zero_without_serving(
    run_cli: Callable[..., CliResult], how: str
) -> None:
    args = ["serve", "--strict-plugins"] if how == "flag" else ["serve"]
    env = {"MCP_RUNNER_PLUGINS": ALLOW}
    if how == "env":
        env["MCP_RUNNER_STRICT_PLUGINS"] = "true"
    # stdin stays open: a server that went on serving would not exit by itself
    result = run_cli(*args, env=env, stdin_open=True, timeout=15)
    assert result.returncode is not None, "still serving: --strict-plugins did not stop it"
    assert result.returncode != 0
    assert result.stdout == ""  # no protocol message was written
    assert "plugins failed" in result.stderr
    for name in FAILED:
        assert name in result.stderr


def test_serve_strict_plugins_serves_when_nothing_fails(
    spawn_server: Callable[..., RawClient],
) -> None:
    server = spawn_server("--strict-plugins", plugins=(), allow=(GOOD,))
    server.initialize()
    assert {t["name"] for t in server.call("tools/list")["tools"]} == {"good_ping"}
    assert warnings_in(server.stderr) == []


def test_a_plugin_named_on_the_command_line_passes_the_allow_list(
    run_cli: Callable[..., CliResult],
) -> None:
    # test_good is installed, the allow list names another plugin, and --plugin names test_good
    env = {"MCP_RUNNER_PLUGINS": "files"}
    found = records(run_cli("plugins", "--json", "--plugin", "mcp_runner_test_good:plugin", env=env))
    assert found[GOOD]["status"] == "ok"
    assert found[GOOD]["source"] == "command line"
    # the deny list still wins
    env["MCP_RUNNER_DISABLE"] = GOOD
    found = records(run_cli("plugins", "--json", "--plugin", "mcp_runner_test_good:plugin", env=env))
    assert found[GOOD]["status"] == "disabled"
