"""The ``mcp-runner`` command line."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import difflib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .config import ConfigError, Settings, load_settings

#: The exit status when the HTTP port cannot be bound (as uvicorn's start-up failure).
EXIT_BIND = 3

# Builtin commands defined in their own modules, imported only when asked for.
LAZY_COMMANDS = {"install": ("mcp_runner.install", "install_command")}


class _Cli(click.Group):
    """Builtin commands, plus those plugins add (loaded only when one is asked for)."""

    _plugins_loaded = False

    def _add_lazy_commands(self) -> None:
        import importlib

        for name, (module, attr) in LAZY_COMMANDS.items():
            if name not in self.commands:
                self.add_command(getattr(importlib.import_module(module), attr), name)

    def _load_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        settings: Settings | None = None
        try:
            from .plugins import PluginHost

            settings = load_settings(env=None)
            host = PluginHost(settings)
            host.warn = lambda message: None  # `mcp-runner plugins` reports failures
            host.load()
            host.add_commands(self)
        except Exception as exc:  # a broken plugin never breaks the CLI
            _warn(f"plugin commands unavailable: {exc}", settings)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_lazy_commands()
        self._load_plugin_commands(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            self._add_lazy_commands()
        command = super().get_command(ctx, name)
        if command is None:
            self._load_plugin_commands(ctx)
            command = super().get_command(ctx, name)
        return command


def _warn(message: str, settings: Settings | None) -> None:
    """One warning on stderr, in the log's format (a JSON line in JSON mode); without
    settings (they could not be read), the format is ``auto``."""
    from . import log

    server = settings.server if settings is not None else None
    log.configure(
        server.log_level if server else "warning", server.log_format if server else "auto"
    )
    log.announce(f"mcp-runner: warning: {message}", message, level="warning")


@click.group(cls=_Cli)
@click.version_option(package_name="mcp-runner", prog_name="mcp-runner")
def cli() -> None:
    """Serve installed plugins as one Model Context Protocol server."""


def _common(fn: Any) -> Any:
    fn = click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        help="Config file (default: ./mcp-runner.toml).",
    )(fn)
    fn = click.option(
        "--plugin",
        "extra",
        multiple=True,
        metavar="MODULE[:ATTR]",
        help="Also load this plugin by import path (repeatable).",
    )(fn)
    fn = click.option(
        "--strict-plugins",
        is_flag=True,
        default=None,
        help="Exit non-zero if any plugin fails to load.",
    )(fn)
    return fn


def _settings(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _runner(settings: Settings, extra: tuple[str, ...], strict: bool | None) -> Any:
    from .runner import Runner

    try:
        runner = Runner(settings, extra=list(extra)).start()
    except ConfigError as exc:  # a typo the composed plugins reveal, such as an unknown table
        raise click.ClickException(str(exc)) from None
    failures = runner.host.failures()
    if failures and (strict or settings.server.strict_plugins):
        names = ", ".join(f"{r.name} ({r.phase}: {r.error})" for r in failures)
        raise click.ClickException(f"plugins failed: {names}")
    return runner


@cli.command()
@_common
@click.option(
    "--transport",
    "-t",
    default="stdio",
    show_default=True,
    help="stdio, http, or one a plugin adds.",
)
@click.option("--host", default=None, help="HTTP bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="HTTP port (default 8000).")
@click.option("--path", "mount", default=None, help="HTTP endpoint path (default /mcp).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"]),
    default=None,
)
@click.option("--log-format", type=click.Choice(["auto", "console", "json"]), default=None)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="HTTP worker processes sharing the port.",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Run in this directory (./mcp-runner.toml and relative paths resolve there).",
)
@click.option(
    "--reload",
    is_flag=True,
    help="HTTP only: restart the server when a plugin's source or the config file changes.",
)
def serve(
    config: str | None,
    extra: tuple[str, ...],
    strict_plugins: bool | None,
    transport: str,
    host: str | None,
    port: int | None,
    mount: str | None,
    log_level: str | None,
    log_format: str | None,
    workers: int,
    directory: str | None,
    reload: bool,
) -> None:
    """Serve every discovered plugin as one MCP server (stdio by default)."""
    if directory is not None:
        os.chdir(directory)
    if workers > 1 and transport != "http":
        raise click.ClickException("--workers needs --transport http")
    if transport == "stdio":
        given = [
            flag
            for flag, value in (("--host", host), ("--port", port), ("--path", mount))
            if value is not None
        ]
        if given:
            raise click.ClickException(
                f"{', '.join(given)} applies to --transport http; stdio serves on stdin and stdout"
            )
    if reload and transport == "stdio":
        raise click.ClickException(
            "--reload needs --transport http: a stdio client's session ends with its server"
        )
    if workers > 1 and not hasattr(os, "fork"):
        raise click.ClickException("--workers needs a POSIX system (fork)")
    settings = _settings(
        config,
        **{
            "http.host": host,
            "http.port": port,
            "http.path": mount,
            "server.log_level": log_level,
            "server.log_format": log_format,
        },
    )
    from . import log

    if transport == "stdio":
        from .transports.stdio import protect_stdout

        protect_stdout()  # before any plugin is imported: stdout is the protocol's alone
    log.configure(settings.server.log_level, settings.server.log_format)
    runner = _runner(settings, extra, strict_plugins)
    processors = runner.host.log_processors()
    if processors:
        log.configure(settings.server.log_level, settings.server.log_format, processors)
    if transport not in runner.transports():
        raise click.ClickException(
            f"unknown transport {transport!r}; available: {', '.join(sorted(runner.transports()))}"
        )
    if reload:
        from .reload import child_command, supervise, watch_paths

        sys.exit(supervise(child_command(sys.argv[1:]), watch_paths(runner, settings.source)))
    if workers > 1:
        from .transports.http.workers import serve_workers

        with _port_bound(settings):
            status = serve_workers(runner, workers, _run)
        sys.exit(status)
    if transport == "stdio" and sys.stdin.isatty():
        click.echo(
            "mcp-runner: serving MCP on stdin and stdout, waiting for a client"
            " (an MCP client starts this command itself; Ctrl-D or Ctrl-C ends it)",
            err=True,
        )
    with contextlib.suppress(KeyboardInterrupt), _port_bound(settings):
        _run(runner.serve(transport))


@contextlib.contextmanager
def _port_bound(settings: Settings) -> Any:
    """Within it, an HTTP port that cannot be bound (in use, an address not of this machine,
    a host name that does not resolve: the bind's `CannotListen`) is told in one line, and the
    command exits with `EXIT_BIND`."""
    try:
        yield
    except OSError as exc:
        from .transports.http.server import CannotListen  # loaded already when it is raised

        if not isinstance(exc, CannotListen):
            raise
        from . import log

        http = settings.http
        message = f"cannot listen on {http.host}:{http.port}: {exc.strerror}"
        log.announce(
            f"mcp-runner: {message}", message, level="error", host=http.host, port=http.port
        )
        sys.exit(EXIT_BIND)


def _run(coro: Any) -> Any:
    """Run on uvloop when it is installed (it is, but for Windows), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


@cli.command()
@_common
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--wait",
    type=float,
    default=15.0,
    show_default=True,
    help="Seconds to let sub-entries (proxied servers) start before reporting them; 0 reports them unstarted.",
)
def plugins(
    config: str | None,
    extra: tuple[str, ...],
    strict_plugins: bool | None,
    as_json: bool,
    wait: float,
) -> None:
    """List discovered plugins: version, contributions, hooks and status."""
    from .runner import Runner

    settings = _settings(config)
    runner = Runner(settings, extra=list(extra))
    runner.host.warn = lambda message: None  # shown in the table instead
    runner.start()
    if runner.host.collect_status(runner) and wait > 0:
        _run(_probe(runner, wait))
    records = [r.described() for r in runner.host.records.values()]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
    else:
        for r in records:
            origin = f"{r.distribution or r.source} {r.version or ''}".strip()
            status = r.status if r.status != "failed" else f"FAILED in {r.phase}: {r.error}"
            click.echo(f"{r.name:<16} {origin:<32} {status}")
            if r.status == "ok":
                click.echo(
                    f"{'':<16} tools {r.tools}, resources {r.resources}, prompts {r.prompts}; "
                    f"import {r.import_ms:.1f} ms; hooks: {', '.join(h.removeprefix('mcp_runner_') for h in r.hooks) or '-'}"
                )
            for entry in r.backends or ():
                line = f"{'':<16} - {entry.get('name', '?')}: {entry.get('summary') or entry.get('state')}"
                if entry.get("error"):
                    line += f" ({entry['error']})"
                elif "tools" in entry:
                    line += f" - tools {entry['tools']}, resources {entry.get('resources', 0)}, prompts {entry.get('prompts', 0)}"
                click.echo(line)
    if runner.host.failures() and (strict_plugins or settings.server.strict_plugins):
        sys.exit(1)


async def _probe(runner: Any, wait: float) -> None:
    """Serve nothing, but enter the lifespans so plugins with sub-entries start them."""
    async with runner.lifespan():
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            runner.host.collect_status(runner)
            starting = any(
                e.get("state") == "starting" for r in runner.host.active() for e in r.backends or ()
            )
            if not starting or asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.1)


@cli.command()
@_common
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tools(
    config: str | None, extra: tuple[str, ...], strict_plugins: bool | None, as_json: bool
) -> None:
    """Print the composed tools: plugin, description and input schema."""
    runner = _runner(_settings(config), extra, strict_plugins)
    items = [dict(t.wire(), plugin=t.plugin) for t in runner.registry.tools.values()]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        click.echo(f"{item['name']}  [{item['plugin']}]")
        if item.get("description"):
            click.echo(f"    {item['description']}")
        schema = item["inputSchema"]
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            mark = "" if name in required else "?"
            text = f"      {name}{mark}: {_type_name(prop, schema.get('$defs', {}))}"
            if prop.get("description"):
                text += f" - {prop['description']}"
            click.echo(text)


def _type_name(prop: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> str:
    """A JSON schema as one short type: ``integer``, ``array[string]``, ``Point{x: integer}``."""
    ref = prop.get("$ref", "")
    if ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        return name + _fields(defs.get(name, {}), defs, depth)
    if "anyOf" in prop or "oneOf" in prop:
        return " | ".join(
            _type_name(alt, defs, depth) for alt in prop.get("anyOf") or prop["oneOf"]
        )
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array[{_type_name(prop['items'], defs, depth)}]"
    if kind == "object" and prop.get("properties"):
        return "object" + _fields(prop, defs, depth)
    if "enum" in prop:
        return " | ".join(json.dumps(value) for value in prop["enum"])
    return str(kind or "any")


def _fields(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> str:
    """An object's fields as ``{x: integer, y?: integer}``; nested deeper, names only (``{x, y?}``)."""
    required = set(schema.get("required", ()))
    fields = [
        f"{name}{'' if name in required else '?'}"
        + ("" if depth >= 1 else f": {_type_name(field, defs, depth + 1)}")
        for name, field in schema.get("properties", {}).items()
    ]
    return "{" + ", ".join(fields) + "}" if fields else ""


def _signature(name: str, schema: dict[str, Any]) -> str:
    """A tool's arguments as a call: ``multiply(a: integer, b: integer)``."""
    required = set(schema.get("required", ()))
    defs = schema.get("$defs", {})
    params = [
        f"{arg}{'' if arg in required else '?'}: {_type_name(prop, defs)}"
        for arg, prop in schema.get("properties", {}).items()
    ]
    return f"{name}({', '.join(params)})"


def _near(name: str, known: dict[str, Any]) -> str:
    """The suggestion for a name the server did not find: the nearest of `known`, unless
    `name` is one of them (then the error is about something else)."""
    return "" if name in known else _did_you_mean(name, known)


def _did_you_mean(name: str, known: Any) -> str:
    """``; did you mean 'x'?`` for the nearest of `known`, or nothing."""
    near = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _key_values(pairs: tuple[str, ...], as_json: bool) -> dict[str, Any]:
    """``KEY=VALUE`` arguments as a dict; values parsed as JSON when `as_json` and they parse."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="ARGUMENTS")
        values[key] = value
        if as_json:
            with contextlib.suppress(ValueError):
                values[key] = json.loads(value)
    return values


@cli.command()
@_common
@click.argument("tool")
@click.argument("arguments", nargs=-1, metavar="KEY=VALUE...")
@click.option("--json-args", default=None, help="Arguments as one JSON object.")
def call(
    config: str | None,
    extra: tuple[str, ...],
    strict_plugins: bool | None,
    tool: str,
    arguments: tuple[str, ...],
    json_args: str | None,
) -> None:
    """Call one tool in process and print its result.

    Values are parsed as JSON when they can be (3, true, [1,2]) and taken as strings otherwise.
    """
    args: dict[str, Any] = {}
    if json_args:
        try:
            args = json.loads(json_args)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--json-args") from None
        if not isinstance(args, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--json-args")
    args.update(_key_values(arguments, as_json=True))
    runner = _runner(_settings(config), extra, strict_plugins)
    tools = runner.registry.tools

    def check() -> None:
        if tool not in tools:
            return  # the server answers, and `_near` suggests
        schema = tools[tool].wire()["inputSchema"]
        if schema.get("additionalProperties") is True:
            return
        _refuse_unknown(tool, args, schema.get("properties", {}), _signature(tool, schema))

    params = {"name": tool, "arguments": args}
    result = _run(_answer(runner, "tools/call", params, check, lambda: _near(tool, tools)))
    structured = result.get("structuredContent")
    if structured is not None:
        click.echo(json.dumps(structured, indent=2))
    else:
        for block in result.get("content", []):
            click.echo(block["text"] if block.get("type") == "text" else json.dumps(block))
    if result.get("isError"):
        sys.exit(1)


def _refuse_unknown(name: str, args: dict[str, Any], accepted: Any, takes: str) -> None:
    """Refuse the first of `args` that `name` does not accept, with the nearest accepted
    name and what it takes (`takes`)."""
    for key in args:
        if key not in accepted:
            raise click.ClickException(
                f"{name} has no argument {key!r}{_did_you_mean(key, accepted)} - {takes}"
            )


@cli.command()
@_common
@click.argument("uri")
def read(config: str | None, extra: tuple[str, ...], strict_plugins: bool | None, uri: str) -> None:
    """Read one resource in process and print its contents."""
    runner = _runner(_settings(config), extra, strict_plugins)
    resources = runner.registry.resources
    params = {"uri": uri}
    result = _run(_answer(runner, "resources/read", params, None, lambda: _near(uri, resources)))
    for content in result.get("contents", []):
        if "text" in content:
            click.echo(content["text"])
        else:
            sys.stdout.buffer.write(base64.b64decode(content.get("blob", "")))
            sys.stdout.buffer.flush()


@cli.command()
@_common
@click.argument("name")
@click.argument("arguments", nargs=-1, metavar="KEY=VALUE...")
def prompt(
    config: str | None,
    extra: tuple[str, ...],
    strict_plugins: bool | None,
    name: str,
    arguments: tuple[str, ...],
) -> None:
    """Render one prompt in process and print its messages.

    Values are taken as strings, as prompts receive them.
    """
    args = _key_values(arguments, as_json=False)
    runner = _runner(_settings(config), extra, strict_plugins)
    prompts = runner.registry.prompts

    def check() -> None:
        if name not in prompts:
            return  # the server answers, and `_near` suggests
        accepted = {a["name"] for a in prompts[name].wire().get("arguments", ())}
        _refuse_unknown(name, args, accepted, f"it takes: {', '.join(sorted(accepted)) or 'none'}")

    params = {"name": name, "arguments": args}
    result = _run(_answer(runner, "prompts/get", params, check, lambda: _near(name, prompts)))
    for message in result.get("messages", []):
        content = message.get("content", {})
        text = content["text"] if content.get("type") == "text" else json.dumps(content)
        click.echo(f"[{message.get('role', '?')}]\n{text}")


async def _answer(
    runner: Any,
    method: str,
    params: dict[str, Any],
    check: Callable[[], None] | None,
    near: Callable[[], str],
) -> dict[str, Any]:
    """Answer one request in process, inside the plugins' lifespans (so proxied servers have
    started and their components are composed). `check` runs first and may refuse; an error
    answer is printed as ``Error: ...`` (with `near`'s suggestion) and exits with status 1."""
    async with runner.lifespan():
        if check is not None:
            check()
        answer: dict[str, Any] = await runner.request(method, params)
        if "error" in answer:
            raise click.ClickException(answer["error"]["message"] + near())
    result: dict[str, Any] = answer["result"]
    return result


@cli.command()
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write it (default: ./mcp-runner-NAME).",
)
def new(name: str, directory: str | None) -> None:
    """Write a plugin distribution skeleton that installs with pip and serves at once."""
    from .scaffold import write_plugin

    try:
        target = write_plugin(name, Path(directory) if directory else None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {target}")
    click.echo(f"  pip install -e {target}   # then: mcp-runner tools")


def main() -> None:
    """The ``mcp-runner`` console script."""
    cli()


if __name__ == "__main__":
    main()
