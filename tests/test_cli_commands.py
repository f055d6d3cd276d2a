"""The command line in process (click's CliRunner): `read`, `prompt`, `call`'s typo checks,
`tools` with a model argument, `plugins`' versions, `--version` and serve's flag checks."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mcp_runner.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
PLUGINS = ("--plugin", "cli_more:plugin", "--plugin", "cli_demo:plugin")


@pytest.fixture(autouse=True)
def fixture_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("MCP_RUNNER_PLUGINS", "cli_more,cli_demo")
    monkeypatch.chdir(FIXTURES)  # no mcp-runner.toml here


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_is_the_distributions():
    done = run("--version")
    assert done.exit_code == 0
    assert done.output == f"mcp-runner, version {version('mcp-runner')}\n"


def test_plugins_table_shows_distribution_and_version():
    done = run("plugins", *PLUGINS)
    assert done.exit_code == 0, done.output
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if not line.startswith(" ")}
    assert rows["cli_more"].split()[1:] == ["command", "line", "2.5.0", "ok"]
    assert rows["errors"].split()[1:] == ["builtin", "ok"]


def test_plugins_table_shows_an_installed_distributions_version():
    installed = next(r for r in json.loads(run("plugins", "--json", "--wait", "0").stdout) if r["distribution"])
    done = run("plugins", "--wait", "0")
    assert f"{installed['distribution']} {installed['version']}" in done.stdout


def test_read_prints_a_text_resource_and_a_template_match():
    done = run("read", "cli://motd", *PLUGINS)
    assert (done.exit_code, done.stdout) == (0, "Have a nice day.\n")
    done = run("read", "cli://item/4", *PLUGINS)
    assert json.loads(done.stdout) == {"n": 4, "square": 16}


def test_read_writes_a_blob_as_its_bytes():
    done = run("read", "cli://logo.png", *PLUGINS)
    assert done.exit_code == 0
    assert done.stdout_bytes == b"\x89PNG\r\n"


def test_read_an_unknown_resource_names_the_nearest():
    done = run("read", "cli://mot", *PLUGINS)
    assert done.exit_code == 1
    assert "Resource not found: cli://mot; did you mean 'cli://motd'?" in done.stderr


def test_prompt_renders_with_string_arguments():
    done = run("prompt", "review", "code=x = 1", "language=007", *PLUGINS)
    assert done.exit_code == 0, done.output
    assert done.stdout == "[user]\nReview this 007 code:\nx = 1\n"


def test_prompt_typos_name_the_nearest():
    done = run("prompt", "reveiw", *PLUGINS)
    assert done.exit_code == 1
    assert "Unknown prompt: 'reveiw'; did you mean 'review'?" in done.stderr
    done = run("prompt", "review", "cod=x", *PLUGINS)
    assert done.exit_code == 1
    assert "review has no argument 'cod'; did you mean 'code'? - it takes: code, language" in done.stderr


def test_prompt_missing_argument_is_an_error():
    done = run("prompt", "review", *PLUGINS)
    assert done.exit_code == 1
    assert "code" in done.stderr


def test_call_suggests_the_nearest_tool():
    done = run("call", "multipy", "a=1", "b=2", *PLUGINS)
    assert done.exit_code == 1
    assert "Unknown tool: 'multipy'; did you mean 'multiply'?" in done.stderr
    assert "did you mean" not in run("call", "zzz", *PLUGINS).stderr


def test_call_refuses_an_unknown_argument_showing_the_signature():
    done = run("call", "distance", 'point={"x": 3, "y": 4}', "sclae=2", *PLUGINS)
    assert done.exit_code == 1
    assert (
        "distance has no argument 'sclae'; did you mean 'scale'?"
        " - distance(point: Point{x: integer, y?: integer}, scale?: number)"
    ) in done.stderr
    done = run("call", "distance", "--json-args", '{"point": {"x": 3, "y": 4}, "scale": 2}', *PLUGINS)
    assert (done.exit_code, json.loads(done.stdout)) == (0, {"result": 10.0})


def test_tools_shows_a_model_arguments_fields():
    done = run("tools", *PLUGINS)
    assert done.exit_code == 0, done.output
    assert "      point: Point{x: integer, y?: integer}\n" in done.stdout
    assert "      scale?: number\n" in done.stdout
    assert "      a: integer\n" in done.stdout


@pytest.mark.parametrize("flags", [("--port", "9000"), ("--host", "0.0.0.0"), ("--path", "/x")])
def test_serve_refuses_http_flags_with_stdio(flags: tuple[str, str]):
    done = run("serve", *flags)
    assert done.exit_code == 1
    assert f"Error: {flags[0]} applies to --transport http; stdio serves on stdin and stdout" in done.stderr
