"""`mcp-runner install claude-desktop|cursor|vscode`: dry runs, merging into an existing file
without losing other entries, backups, and the platform paths."""

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


def run(*args: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
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
    assert entry["args"] == ["serve"] and entry["env"] == {"A": "1"}


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
    assert entry["args"] == ["serve", "--config", str(toml), "--plugin=my_mod:plugin"]
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
