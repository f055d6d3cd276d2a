"""The command line: `plugins`, `tools`, `call`, `read`, `prompt`, `new` and `serve`, run as real processes."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures" / "cli"


def mcp_runner(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    full_env = {**os.environ, "PYTHONPATH": str(FIXTURES), "MCP_RUNNER_PLUGINS": "cli_demo", **(env or {})}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=full_env, cwd=cwd, input=input, timeout=60
    )


def test_plugins_json_lists_builtins_and_plugins():
    done = mcp_runner("plugins", "--json", "--plugin", "cli_demo:plugin")
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    assert records["cli_demo"]["status"] == "ok"
    assert records["cli_demo"]["tools"] == 2
    assert records["cli_demo"]["prompts"] == 1
    assert "mcp_runner_register" in records["cli_demo"]["hooks"]
    assert records["transports"]["source"] == "builtin"
    for record in records.values():
        assert {"name", "status", "distribution", "version", "phase", "error"} <= record.keys()


def test_plugins_table_is_readable():
    done = mcp_runner("plugins", "--plugin", "cli_demo:plugin")
    assert done.returncode == 0
    assert "cli_demo" in done.stdout and "tools 2" in done.stdout


def test_tools_json_shows_plugin_description_and_schema():
    done = mcp_runner("tools", "--json", "--plugin", "cli_demo:plugin")
    assert done.returncode == 0, done.stderr
    tools = {t["name"]: t for t in json.loads(done.stdout)}
    assert tools["multiply"]["plugin"] == "cli_demo"
    assert tools["multiply"]["description"] == "Multiply two integers."
    assert tools["multiply"]["inputSchema"]["required"] == ["a", "b"]
    text = mcp_runner("tools", "--plugin", "cli_demo:plugin").stdout
    assert "multiply  [cli_demo]" in text and "a: integer" in text


def test_call_with_key_values_and_json_args():
    done = mcp_runner("call", "multiply", "a=6", "b=7", "--plugin", "cli_demo:plugin")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"result": 42}
    done = mcp_runner("call", "shout", "--json-args", '{"text": "hi"}', "--plugin", "cli_demo:plugin")
    assert done.stdout.strip() == "HI!"


def test_call_reports_bad_arguments_and_unknown_tools():
    done = mcp_runner("call", "multiply", "a=x", "b=2", "--plugin", "cli_demo:plugin")
    assert done.returncode == 1
    assert "a: Input should be a valid integer" in done.stdout
    done = mcp_runner("call", "nope", "--plugin", "cli_demo:plugin")
    assert done.returncode != 0
    assert "Unknown tool: 'nope'" in done.stderr


def test_strict_plugins_fails_on_a_broken_plugin():
    done = mcp_runner("tools", "--strict-plugins", "--plugin", "no_such_module:plugin")
    assert done.returncode != 0
    assert "no_such_module" in done.stderr


@pytest.mark.slow
def test_new_writes_a_plugin_that_installs_and_serves(tmp_path: Path):
    done = mcp_runner("new", "Weather Station", "--directory", str(tmp_path / "plugin"))
    assert done.returncode == 0, done.stderr
    root = tmp_path / "plugin"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["mcp_runner"] == {"weather_station": "mcp_runner_weather_station:plugin"}
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(root)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": str(site), "MCP_RUNNER_PLUGINS": "weather_station"}
    listed = json.loads(mcp_runner("plugins", "--json", env=env).stdout)
    record = next(r for r in listed if r["name"] == "weather_station")
    assert record["status"] == "ok" and record["distribution"] == "mcp-runner-weather-station"
    called = mcp_runner("call", "weather_station_hello", "name=Ada", env=env)
    assert called.stdout.strip() == "Hello, Ada!"
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "weather_station_hello", "arguments": {"name": "Bo"}}},
    ]
    served = mcp_runner("serve", env=env, input="".join(json.dumps(m) + "\n" for m in lines))
    answers = [json.loads(line) for line in served.stdout.splitlines()]
    assert answers[-1]["result"]["content"][0]["text"] == "Hello, Bo!"
    generated_test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(site)), timeout=120,
    )
    assert generated_test.returncode == 0, generated_test.stdout


def test_new_refuses_a_non_empty_directory(tmp_path: Path):
    (tmp_path / "x.txt").write_text("taken")
    done = mcp_runner("new", "demo", "--directory", str(tmp_path))
    assert done.returncode != 0 and "not empty" in done.stderr


def test_serve_reads_and_writes_plain_files(tmp_path: Path):
    """stdin from a file and stdout to a file (not pipes): answered, clean exit."""
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        + "\n"
        + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "multiply", "arguments": {"a": 2, "b": 21}}})
        + "\n"
    )
    answers = tmp_path / "out.jsonl"
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    env = {**os.environ, "PYTHONPATH": str(FIXTURES), "MCP_RUNNER_PLUGINS": "cli_demo"}
    with requests.open("rb") as stdin, answers.open("wb") as stdout:
        done = subprocess.run([exe, "serve", "--plugin", "cli_demo:plugin"], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert b"waiting for a client" not in done.stderr  # said on a terminal only
    lines = [json.loads(line) for line in answers.read_text().splitlines()]
    assert lines[-1]["result"]["structuredContent"] == {"result": 42}


def test_version():
    done = mcp_runner("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("mcp-runner, version ")


def test_read_and_prompt():
    env = {"MCP_RUNNER_PLUGINS": "cli_more"}
    done = mcp_runner("read", "cli://motd", "--plugin", "cli_more:plugin", env=env)
    assert (done.returncode, done.stdout) == (0, "Have a nice day.\n")
    done = mcp_runner("prompt", "review", "code=x = 1", "--plugin", "cli_more:plugin", env=env)
    assert (done.returncode, done.stdout) == (0, "[user]\nReview this python code:\nx = 1\n")


def test_serve_on_a_terminal_says_it_waits_for_a_client():
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    env = {**os.environ, "PYTHONPATH": str(FIXTURES), "MCP_RUNNER_PLUGINS": "cli_demo"}
    terminal, tty = pty.openpty()
    server = subprocess.Popen([exe, "serve", "--plugin", "cli_demo:plugin"], stdin=tty, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    os.close(tty)
    try:
        said = b""
        while b"waiting for a client" not in said:
            assert select.select([server.stderr], [], [], 30)[0], said
            chunk = os.read(server.stderr.fileno(), 4096)
            assert chunk, said
            said += chunk
        server.send_signal(signal.SIGTERM)
        _, rest = server.communicate(timeout=30)
    finally:
        server.kill()
        os.close(terminal)
    lines = (said + rest).decode().splitlines()
    waiting = [line for line in lines if "waiting for a client" in line]
    assert waiting == [
        "mcp-runner: serving MCP on stdin and stdout, waiting for a client"
        " (an MCP client starts this command itself; Ctrl-D or Ctrl-C ends it)"
    ]


def serve_on_a_taken_port(*flags: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """`serve -t http` on a port another socket listens on: the port, and how it ended."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = mcp_runner("serve", "-t", "http", "--port", str(port), *flags, env={"MCP_RUNNER_PLUGINS": "none"})
    return port, done


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_line_and_status_3(workers: str):
    port, done = serve_on_a_taken_port("--workers", workers, "--log-format", "console")
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [f"mcp-runner: cannot listen on 127.0.0.1:{port}: Address already in use"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_json_line_in_json_mode(workers: str):
    port, done = serve_on_a_taken_port("--workers", workers, "--log-format", "json")
    assert done.returncode == 3, done.stderr
    [line] = done.stderr.splitlines()
    event = json.loads(line)
    assert event == {
        "event": f"cannot listen on 127.0.0.1:{port}: Address already in use",
        "host": "127.0.0.1",
        "port": port,
        "level": "error",
        "timestamp": event["timestamp"],
    }


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ``::1``."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("host", "url_hosts"),
    [
        pytest.param("::1", {"[::1]"}, marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")),
        ("localhost", {"127.0.0.1", "[::1]"}),
    ],
)
def test_one_worker_binds_an_ipv6_address_or_a_host_name_and_says_where_once(host: str, url_hosts: set[str]):
    """The one-worker server binds its port itself: `--host` may be an IPv6 address or a
    name, port 0 becomes the real port in the one banner, and the server answers there."""
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    env = {**os.environ, "MCP_RUNNER_PLUGINS": "none", "MCP_RUNNER_LOG_FORMAT": "console"}
    server = subprocess.Popen([exe, "serve", "-t", "http", "--host", host, "--port", "0"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        url = banner.removeprefix("mcp-runner: serving ").strip()
        scheme_host, port = url.removeprefix("http://").removesuffix("/mcp").rsplit(":", 1)
        assert scheme_host in url_hosts and int(port) > 0, banner
        assert httpx.get(url.replace("/mcp", "/healthz"), timeout=10).status_code == 200
        server.send_signal(signal.SIGTERM)
        _, rest = server.communicate(timeout=30)
    finally:
        server.kill()
    assert "serving" not in rest, rest
    assert server.returncode == 0, rest


def test_call_checks_a_proxied_tools_arguments_once_its_server_is_up(tmp_path: Path):
    """A proxied tool exists only once its server has started (in the lifespans): `call`
    reaches it, and refuses an argument it does not take."""
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    (tmp_path / "mcp-runner.toml").write_text(
        "[proxy.servers.demo]\n"
        f"command = {json.dumps(exe)}\n"
        'args = ["serve", "--plugin", "cli_demo:plugin"]\n'
        'env = { MCP_RUNNER_PLUGINS = "cli_demo" }\n'
        f"cwd = {json.dumps(str(FIXTURES))}\n"  # not this directory: its config mounts the proxy
    )
    env = {"MCP_RUNNER_PLUGINS": "proxy"}
    done = mcp_runner("call", "demo_multiply", "a=6", "b=7", env=env, cwd=tmp_path)
    assert (done.returncode, json.loads(done.stdout)) == (0, {"result": 42}), done.stderr
    done = mcp_runner("call", "demo_multiply", "a=6", "c=7", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "demo_multiply has no argument 'c'" in done.stderr and "demo_multiply(a: integer, b: integer)" in done.stderr
    done = mcp_runner("call", "demo_multipli", env=env, cwd=tmp_path)
    assert "Unknown tool: 'demo_multipli'; did you mean 'demo_multiply'?" in done.stderr


def test_plugin_commands_warning_is_a_json_line_in_json_mode(tmp_path: Path):
    """A config the CLI cannot read while looking for plugin commands is one warning, in the
    log's format: off a terminal (``auto``) a JSON line, like every other warning."""
    (tmp_path / "mcp-runner.toml").write_text("[server\n")
    done = mcp_runner("no-such-command", cwd=tmp_path)
    assert done.returncode == 2
    warning = json.loads(done.stderr.splitlines()[0])
    assert warning["level"] == "warning"
    assert warning["event"].startswith("plugin commands unavailable: ")
    assert "mcp-runner.toml" in warning["event"]


def test_plugins_text_shows_distributions_and_versions(tmp_path: Path):
    """Installed plugins show their distribution and its version; a plugin named with
    --plugin shows `command line` and its `Plugin(version=...)`."""
    (tmp_path / "versioned.py").write_text(
        "from mcp_runner import Plugin\nplugin = Plugin('versioned', version='1.2.0')\n"
    )
    from mcp_runner import __version__

    env = {"PYTHONPATH": str(tmp_path), "MCP_RUNNER_PLUGINS": "files,versioned"}
    done = mcp_runner("plugins", "--plugin", "versioned", "--wait", "0", env=env)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line[:1].strip()}
    assert lines["files"].split()[1:4] == ["mcp-runner-files", __version__, "ok"]
    assert lines["versioned"].split()[1:5] == ["command", "line", "1.2.0", "ok"]
