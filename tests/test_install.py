"""`mcp-runner install claude-desktop|claude-code|cursor|vscode|mcp-json`: dry runs, merging
into an existing file without losing other entries, backups (none when nothing changes), the
platform paths, and an entry that serves as the server did where it was installed from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_runner import install

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "proxy"))
from helpers import mcp_runner

pytestmark = pytest.mark.e2e


def run(
    *args: str, cwd: Path, home: Path | None = None, shell: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mcp-runner install ARGS`` in `cwd`, with the variables `shell` (and no other
    ``MCP_RUNNER_*`` or ``PYTHONPATH``)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_") and k != "PYTHONPATH"
    }
    env.update(shell or {})
    if home is not None:
        env["HOME"] = str(home)
        env["XDG_CONFIG_HOME"] = str(home / ".config")
    return subprocess.run(
        [mcp_runner(), "install", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def test_dry_run_prints_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "claude_desktop_config.json"
    done = run(
        "claude-desktop", "--dry-run", "--config-path", str(target), "--env", "A=1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert not target.exists()
    assert f"Would add server 'mcp-runner' in {target} (mcpServers):" in done.stdout
    snippet = json.loads(done.stdout.split(":\n", 1)[1])
    entry = snippet["mcpServers"]["mcp-runner"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).name == "mcp-runner"
    assert entry["args"] == ["serve", "--directory", str(tmp_path)]
    assert entry["env"] == {"A": "1"}


def test_dry_run_default_path_uses_the_platform_location(tmp_path: Path) -> None:
    done = run("cursor", "--dry-run", cwd=tmp_path, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "home" / ".cursor" / "mcp.json") in done.stdout
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "client, key",
    [("claude-desktop", "mcpServers"), ("cursor", "mcpServers"), ("vscode", "servers")],
)
def test_merge_keeps_other_entries_and_backs_up(tmp_path: Path, client: str, key: str) -> None:
    target = tmp_path / "config" / "mcp.json"
    target.parent.mkdir()
    original = {
        "globalShortcut": "Ctrl+Space",
        key: {"other": {"command": "npx", "args": ["-y", "other-server"], "env": {"TOKEN": "t"}}},
    }
    target.write_text(json.dumps(original, indent=4))
    toml = tmp_path / "mcp-runner.toml"
    toml.write_text("[server]\n")
    done = run(
        client,
        "--config-path",
        str(target),
        "--name",
        "runner",
        "--env",
        "K=V",
        "--config",
        str(toml),
        "--plugin",
        "my_mod:plugin",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    written = json.loads(target.read_text())
    assert written["globalShortcut"] == "Ctrl+Space"
    assert written[key]["other"] == original[key]["other"]
    entry = written[key]["runner"]
    assert entry["args"] == [
        "serve",
        "--directory",
        str(tmp_path),
        "--config",
        str(toml),
        "--plugin=my_mod:plugin",
    ]
    assert entry["env"] == {"K": "V"}
    assert (entry.get("type") == "stdio") == (client == "vscode")
    backups = list(target.parent.glob("mcp.json.*.bak"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == original
    assert f"previous file kept as {backups[0]}" in done.stdout
    again = run(client, "--config-path", str(target), "--name", "runner", cwd=tmp_path)
    assert "Replaced server 'runner'" in again.stdout
    assert "env" not in json.loads(target.read_text())[key]["runner"]
    assert len(list(target.parent.glob("mcp.json.*.bak"))) == 2


def test_new_file_is_created_with_parents(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "mcp.json"
    done = run("vscode", "--config-path", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(json.loads(target.read_text())) == ["servers"]
    assert not list(target.parent.glob("*.bak"))


def test_workspace_files(tmp_path: Path) -> None:
    assert run("vscode", "--workspace", cwd=tmp_path).returncode == 0
    assert "mcp-runner" in json.loads((tmp_path / ".vscode" / "mcp.json").read_text())["servers"]
    assert run("cursor", "--workspace", cwd=tmp_path).returncode == 0
    assert "mcp-runner" in json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]


def test_jsonc_is_read(tmp_path: Path) -> None:
    target = tmp_path / "mcp.json"
    target.write_text(
        '{\n  // my servers\n  "servers": {"a": {"type": "stdio", "command": "x", /* c */ "args": ["//not a comment"],},},\n}\n'
    )
    assert run("vscode", "--config-path", str(target), cwd=tmp_path).returncode == 0
    servers = json.loads(target.read_text())["servers"]
    assert servers["a"]["args"] == ["//not a comment"] and "mcp-runner" in servers


def test_refusals(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = run("cursor", "--config-path", str(broken), cwd=tmp_path)
    assert done.returncode != 0 and "not valid JSON" in done.stderr
    assert broken.read_text() == "{not json"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"mcpServers": []}))
    assert (
        '"mcpServers" must be a JSON object'
        in run("cursor", "--config-path", str(wrong), cwd=tmp_path).stderr
    )
    a_list = tmp_path / "list.json"
    a_list.write_text("[]")
    assert (
        "must hold a JSON object"
        in run("cursor", "--config-path", str(a_list), cwd=tmp_path).stderr
    )
    bad_env = run(
        "cursor",
        "--dry-run",
        "--env",
        "novalue",
        "--config-path",
        str(tmp_path / "x.json"),
        cwd=tmp_path,
    )
    assert bad_env.returncode != 0 and "KEY=VALUE" in bad_env.stderr
    missing = run(
        "cursor",
        "--dry-run",
        "--config",
        str(tmp_path / "nope.toml"),
        "--config-path",
        str(tmp_path / "x.json"),
        cwd=tmp_path,
    )
    assert missing.returncode != 0 and "config file not found" in missing.stderr
    assert run("zed", "--dry-run", cwd=tmp_path).returncode != 0


def test_platform_paths(tmp_path: Path) -> None:
    home = Path("/home/u")
    env = {"APPDATA": "C:/Users/u/AppData/Roaming"}
    path = install.default_path
    assert (
        path("claude-desktop", platform="darwin", home=home)
        == home / "Library/Application Support/Claude/claude_desktop_config.json"
    )
    assert path("claude-desktop", platform="win32", environ=env, home=home) == Path(
        "C:/Users/u/AppData/Roaming/Claude/claude_desktop_config.json"
    )
    assert (
        path("claude-desktop", platform="linux", environ={}, home=home)
        == home / ".config/Claude/claude_desktop_config.json"
    )
    assert path(
        "claude-desktop", platform="linux", environ={"XDG_CONFIG_HOME": "/x"}, home=home
    ) == Path("/x/Claude/claude_desktop_config.json")
    assert path("claude-code", home=home) == home / ".claude.json"
    assert path("claude-code", workspace=True, cwd=tmp_path) == tmp_path / ".mcp.json"
    assert path("cursor", home=home) == home / ".cursor/mcp.json"
    assert path("cursor", workspace=True, cwd=tmp_path) == tmp_path / ".cursor/mcp.json"
    assert (
        path("vscode", platform="linux", environ={}, home=home)
        == home / ".config/Code/User/mcp.json"
    )
    assert (
        path("vscode", platform="darwin", home=home)
        == home / "Library/Application Support/Code/User/mcp.json"
    )
    assert path("vscode", platform="win32", environ=env, home=home) == Path(
        "C:/Users/u/AppData/Roaming/Code/User/mcp.json"
    )
    assert path("vscode", workspace=True, cwd=tmp_path) == tmp_path / ".vscode/mcp.json"


def test_plan_without_the_cli(tmp_path: Path) -> None:
    plan = install.plan(
        "claude-desktop", config_path=tmp_path / "c.json", command=["/opt/bin/mcp-runner"]
    )
    assert plan.entry == {"command": "/opt/bin/mcp-runner", "args": ["serve"]}
    assert not plan.existed and plan.replaced is None
    assert install.apply(plan) is None
    assert json.loads((tmp_path / "c.json").read_text()) == {
        "mcpServers": {"mcp-runner": plan.entry}
    }
    module = install.server_entry("cursor", command=[sys.executable, "-m", "mcp_runner"])
    assert module == {"command": sys.executable, "args": ["-m", "mcp_runner", "serve"]}


def test_claude_code_user_and_project_files(tmp_path: Path) -> None:
    """User scope: the top-level mcpServers of ~/.claude.json, beside Claude Code's own
    keys; project scope (--workspace): ./.mcp.json. Entries name their type."""
    home = tmp_path / "home"
    home.mkdir()
    state = {"numStartups": 3, "projects": {"/p": {"mcpServers": {}}}}
    (home / ".claude.json").write_text(json.dumps(state))
    done = run("claude-code", cwd=tmp_path, home=home)
    assert done.returncode == 0, done.stderr
    written = json.loads((home / ".claude.json").read_text())
    assert written["numStartups"] == 3 and written["projects"] == state["projects"]
    entry = written["mcpServers"]["mcp-runner"]
    assert entry["type"] == "stdio" and entry["args"][0] == "serve"
    assert run("claude-code", "--workspace", cwd=tmp_path, home=home).returncode == 0
    project = json.loads((tmp_path / ".mcp.json").read_text())
    assert project["mcpServers"]["mcp-runner"] == entry


def test_mcp_json_prints_the_snippet_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run("mcp-json", "--name", "tools", cwd=tmp_path, home=home)
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["mcpServers"]["tools"]
    assert Path(entry["command"]).is_absolute() and "type" not in entry
    assert not home.exists() and sorted(p.name for p in tmp_path.iterdir()) == []
    refused = run("mcp-json", "--config-path", str(tmp_path / "x.json"), cwd=tmp_path)
    assert refused.returncode != 0 and "takes no --config-path" in refused.stderr


def test_an_unchanged_file_is_neither_written_nor_backed_up(tmp_path: Path) -> None:
    target = tmp_path / "mcp.json"
    assert run("cursor", "--config-path", str(target), cwd=tmp_path).returncode == 0
    before = target.stat().st_mtime_ns
    again = run("cursor", "--config-path", str(target), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "is already this entry; nothing written" in again.stdout
    assert target.stat().st_mtime_ns == before
    assert not list(tmp_path.glob("*.bak"))
    changed = run("cursor", "--config-path", str(target), "--env", "A=1", cwd=tmp_path)
    assert changed.returncode == 0 and len(list(tmp_path.glob("*.bak"))) == 1


def test_the_entry_serves_as_it_did_where_it_was_installed(tmp_path: Path) -> None:
    """Installed from a project directory with a config file, a shell variable, a secret
    and a relative PYTHONPATH; the entry, started by a client from elsewhere, serves the
    same: the config read, the variable kept, the plugin imported; the secret left out."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "mcp-runner.toml").write_text('[server]\nname = "tested-here"\n')
    (project / "src" / "here_plugin.py").write_text(
        "from mcp_runner import Plugin\n"
        "plugin = Plugin('here')\n"
        "@plugin.tool\n"
        "def where() -> str:\n"
        "    return 'here'\n"
    )
    shell = {
        "MCP_RUNNER_PLUGINS": "here",
        "MCP_RUNNER_TOKEN": "s3cret-token-value",
        "PYTHONPATH": "src",
    }
    done = run("mcp-json", "--plugin", "here_plugin", cwd=project, shell=shell)
    assert done.returncode == 0, done.stderr
    assert "Not copied from this shell (secrets): MCP_RUNNER_TOKEN" in done.stderr
    entry = json.loads(done.stdout)["mcpServers"]["mcp-runner"]
    assert entry["env"] == {"MCP_RUNNER_PLUGINS": "here", "PYTHONPATH": str(project / "src")}
    assert "s3cret" not in done.stdout
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "where"}},
    ]
    client_env = {
        k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_") and k != "PYTHONPATH"
    }
    served = subprocess.run(
        [entry["command"], *entry["args"]],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # a client starts servers where it likes
        env={**client_env, **entry["env"]},
    )
    answers = {a["id"]: a for a in map(json.loads, served.stdout.splitlines())}
    assert answers[1]["result"]["serverInfo"]["name"] == "tested-here", served.stderr
    assert answers[2]["result"]["content"][0]["text"] == "here", served.stderr
