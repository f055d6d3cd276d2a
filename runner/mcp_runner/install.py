"""``mcp-runner install``: add this server to the MCP configuration of Claude Desktop, Claude
Code, Cursor or VS Code, or print the ``mcpServers`` snippet for any other client.

The entry reproduces the server as tested here: ``mcp-runner serve`` by the absolute path of
the console script (the client's PATH does not matter), run in this directory
(``--directory``, so ``./mcp-runner.toml`` and relative paths resolve as they did), with this
shell's ``MCP_RUNNER_*`` variables and ``PYTHONPATH`` (secrets left out, and named). The file
is merged, never replaced: other servers and other keys stay as they are; a changed file is
kept beside it as a timestamped ``.bak``, and an unchanged one is not written at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode", "mcp-json")
#: The clients whose entries name their ``type``.
TYPED = frozenset({"claude-code", "vscode"})
#: A target that is printed, never written: the ``mcpServers`` snippet most clients read.
PRINTED = "mcp-json"
#: Variables of this shell that are not copied into a client's file (they hold secrets).
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


class InstallError(Exception):
    """The config file cannot be read or written safely (the message says which and why)."""


@dataclass
class Plan:
    """What `mcp-runner install` would write: the server's entry under `key` in the
    client's file at `path`, and the whole document after the merge."""

    client: str
    path: Path
    key: str  # "mcpServers" or "servers"
    name: str
    entry: dict[str, Any]
    document: dict[str, Any] = field(default_factory=dict)  # the file after the merge
    existed: bool = False
    replaced: dict[str, Any] | None = None  # the entry of that name before, if any
    unchanged: bool = False  # the file already holds exactly this entry


def default_path(
    client: str,
    *,
    workspace: bool = False,
    platform: str | None = None,
    environ: dict[str, str] | None = None,
    home: Path | None = None,
    cwd: Path | None = None,
) -> Path:
    """Where `client` keeps its MCP servers on this platform."""
    platform = platform or sys.platform
    env = os.environ if environ is None else environ
    home = home or Path.home()
    cwd = cwd or Path.cwd()

    def app_data() -> Path:
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming")

    def xdg() -> Path:
        return Path(env.get("XDG_CONFIG_HOME") or home / ".config")

    if client == "claude-desktop":
        if platform == "darwin":
            return (
                home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
            )
        if platform.startswith("win"):
            return app_data() / "Claude" / "claude_desktop_config.json"
        return xdg() / "Claude" / "claude_desktop_config.json"
    if client == "claude-code":
        return cwd / ".mcp.json" if workspace else home / ".claude.json"
    if client == "cursor":
        return (cwd if workspace else home) / ".cursor" / "mcp.json"
    if client == "vscode":
        if workspace:
            return cwd / ".vscode" / "mcp.json"
        if platform == "darwin":
            return home / "Library" / "Application Support" / "Code" / "User" / "mcp.json"
        if platform.startswith("win"):
            return app_data() / "Code" / "User" / "mcp.json"
        return xdg() / "Code" / "User" / "mcp.json"
    raise InstallError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")


def console_script() -> list[str]:
    """The absolute command that runs ``mcp-runner`` of this installation."""
    folder = Path(sys.executable).parent
    for name in ("mcp-runner", "mcp-runner.exe"):
        candidate = folder / name
        if candidate.is_file():
            return [str(candidate.absolute())]
    found = shutil.which("mcp-runner")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "mcp_runner"]


def tested_environment(environ: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """This shell's ``MCP_RUNNER_*`` variables and ``PYTHONPATH`` (its entries made
    absolute), which the server was tested with; and the names left out as secrets."""
    environ = dict(os.environ if environ is None else environ)
    copied: dict[str, str] = {}
    secret: list[str] = []
    for name, value in sorted(environ.items()):
        if not name.startswith("MCP_RUNNER_"):
            continue
        if any(word in name.upper() for word in SECRET_WORDS):
            secret.append(name)
        else:
            copied[name] = value
    if environ.get("PYTHONPATH"):
        copied["PYTHONPATH"] = os.pathsep.join(
            str(Path(entry).absolute())
            for entry in environ["PYTHONPATH"].split(os.pathsep)
            if entry
        )
    return copied, secret


def server_entry(
    client: str,
    *,
    env: dict[str, str] | None = None,
    config: str | None = None,
    plugins: tuple[str, ...] | list[str] = (),
    command: list[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The config entry that starts ``mcp-runner serve`` over stdio (in `directory`)."""
    head, *prefix = command or console_script()
    args = [*prefix, "serve"]
    if directory is not None:
        args += ["--directory", str(Path(directory).expanduser().absolute())]
    if config:
        args += ["--config", str(Path(config).expanduser().absolute())]
    args += [f"--plugin={p}" for p in plugins]
    entry: dict[str, Any] = {"type": "stdio"} if client in TYPED else {}
    entry["command"] = head
    entry["args"] = args
    if env:
        entry["env"] = dict(env)
    return entry


def _strip_jsonc(text: str) -> str:
    """JSON with comments and trailing commas (VS Code's mcp.json may have them) -> JSON."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def read_document(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when the file does not exist (or is empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InstallError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        return None
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = json.loads(_strip_jsonc(text))
        except ValueError as exc:
            raise InstallError(f"{path} is not valid JSON ({exc}); fix or move it first") from None
    if not isinstance(document, dict):
        raise InstallError(f"{path} must hold a JSON object")
    return document


def plan(
    client: str,
    *,
    name: str = "mcp-runner",
    config_path: str | os.PathLike[str] | None = None,
    workspace: bool = False,
    env: dict[str, str] | None = None,
    config: str | None = None,
    plugins: tuple[str, ...] | list[str] = (),
    command: list[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> Plan:
    """What installing would write, without writing it (for ``mcp-json``: the snippet, and
    `path` is ``-``, standard output)."""
    if client not in CLIENTS:
        raise InstallError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")
    if not name.strip():
        raise InstallError("--name must not be empty")
    key = "servers" if client == "vscode" else "mcpServers"
    entry = server_entry(
        client, env=env, config=config, plugins=plugins, command=command, directory=directory
    )
    if client == PRINTED:
        if config_path or workspace:
            raise InstallError(
                "mcp-json prints the snippet; it takes no --config-path or --workspace"
            )
        return Plan(client, Path("-"), key, name, entry, {key: {name: entry}})
    path = (
        Path(config_path).expanduser() if config_path else default_path(client, workspace=workspace)
    )
    existing = read_document(path)
    document = dict(existing or {})
    servers = document.get(key, {})
    if not isinstance(servers, dict):
        raise InstallError(f'{path}: "{key}" must be a JSON object')
    servers = dict(servers)
    replaced = servers.get(name)
    servers[name] = entry
    document[key] = servers
    unchanged = existing is not None and document == existing
    return Plan(client, path, key, name, entry, document, existing is not None, replaced, unchanged)


def apply(p: Plan) -> Path | None:
    """Write the merged file (atomically); returns the backup of the old one, if there was one.
    A file that would not change is left alone (no write, no backup)."""
    backup = None
    if p.unchanged:
        return None
    try:
        p.path.parent.mkdir(parents=True, exist_ok=True)
        if p.existed:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = p.path.with_name(f"{p.path.name}.{stamp}.bak")
            n = 1
            while backup.exists():
                n += 1
                backup = p.path.with_name(f"{p.path.name}.{stamp}-{n}.bak")
            shutil.copy2(p.path, backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.path.name}.", dir=p.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(p.document, out, indent=2, ensure_ascii=False)
                out.write("\n")
            if p.existed:
                shutil.copymode(p.path, tmp)
            os.replace(tmp, p.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InstallError(f"cannot write {p.path}: {exc.strerror or exc}") from None
    return backup


def _env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        env[key] = value
    return env


@click.command("install")
@click.argument("client", type=click.Choice(CLIENTS))
@click.option(
    "--name", default="mcp-runner", show_default=True, help="The server's name in the client."
)
@click.option(
    "--config-path",
    type=click.Path(dir_okay=False),
    default=None,
    help="The client's config file (default: where the client keeps it).",
)
@click.option(
    "--workspace",
    is_flag=True,
    help="Claude Code, Cursor, VS Code: the project's file (.mcp.json, .cursor/mcp.json, .vscode/mcp.json) in the current directory.",
)
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    help="Environment for the server (repeatable); added to this shell's MCP_RUNNER_* and PYTHONPATH.",
)
@click.option(
    "--config",
    "runner_config",
    type=click.Path(dir_okay=False),
    default=None,
    help="An mcp-runner.toml for the server to use (stored as an absolute path).",
)
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE[:ATTR]",
    help="Also load this plugin by import path (repeatable).",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, exists=True),
    default=".",
    show_default=True,
    help="The directory the server runs in (stored as an absolute path).",
)
@click.option(
    "--no-shell-env",
    is_flag=True,
    help="Do not copy this shell's MCP_RUNNER_* variables and PYTHONPATH.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be written; change nothing.")
def install_command(
    client: str,
    name: str,
    config_path: str | None,
    workspace: bool,
    env: tuple[str, ...],
    runner_config: str | None,
    plugins: tuple[str, ...],
    directory: str,
    no_shell_env: bool,
    dry_run: bool,
) -> None:
    """Add `mcp-runner serve`, as it runs here, to the MCP servers of CLIENT.

    CLIENT is claude-desktop, claude-code, cursor or vscode (their files are merged: other
    servers are kept, a changed file is backed up beside it), or mcp-json (the snippet is
    printed, for any other client).
    """
    if runner_config and not Path(runner_config).expanduser().is_file():
        raise click.ClickException(f"config file not found: {runner_config}")
    copied, secret = ({}, []) if no_shell_env else tested_environment()
    try:
        p = plan(
            client,
            name=name,
            config_path=config_path,
            workspace=workspace,
            env={**copied, **_env_pairs(env)},
            config=runner_config,
            plugins=plugins,
            directory=directory,
        )
    except InstallError as exc:
        raise click.ClickException(str(exc)) from None
    snippet = json.dumps({p.key: {p.name: p.entry}}, indent=2)
    if secret:
        click.echo(
            f"Not copied from this shell (secrets): {', '.join(secret)}; add them with --env",
            err=True,
        )
    if client == PRINTED:
        click.echo(snippet)
        return
    verb = "replace" if p.replaced is not None else "add"
    if p.unchanged:
        click.echo(f"Server {p.name!r} in {p.path} is already this entry; nothing written")
        click.echo(snippet)
        return
    if dry_run:
        click.echo(f"Would {verb} server {p.name!r} in {p.path} ({p.key}):")
        click.echo(snippet)
        return
    try:
        backup = apply(p)
    except InstallError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'Replaced' if p.replaced is not None else 'Added'} server {p.name!r} in {p.path}")
    if backup is not None:
        click.echo(f"  previous file kept as {backup}")
    click.echo(snippet)
    click.echo("Restart the client to pick it up.")
