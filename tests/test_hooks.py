"""One test per hook in `mcp_runner.hookspecs`, named ``test_hook_<name>``.

Each test registers a small plugin (a `Plugin`, or an object with ``@hookimpl`` methods)
through ``Runner(plugins={...}, entry_points=False)`` and shows that the hook takes effect.
tests/test_docs.py checks that every hook has its test here and its section in docs/hooks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import click
import pluggy
import pytest
from click.testing import CliRunner
from mcp_runner import Context, McpError, Middleware, Plugin, Runner, ToolError, hookimpl
from mcp_runner.config import Settings
from mcp_runner.protocol.session import DirectOutlet, Request
from pydantic import BaseModel, Field

hookspec = pluggy.HookspecMarker("mcp_runner")

LEGACY = "2025-11-25"


def start(plugins: dict[str, Any], settings: Settings | None = None) -> Runner:
    return Runner(settings or Settings(), plugins=plugins, entry_points=False).start()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def echo_plugin(name: str = "echo") -> Plugin:
    plugin = Plugin(name)

    @plugin.tool
    def echo(text: str) -> str:
        """Return the text."""
        return text

    return plugin


def tool_names(runner: Runner) -> set[str]:
    answer = run(runner.request("tools/list"))
    return {tool["name"] for tool in answer["result"]["tools"]}


def silence_warnings(runner: Runner) -> Runner:
    runner.host.warn = lambda message: None
    return runner


# ---------------------------------------------------------------------------------------------
# Loading


def weather_providers(settings: Any) -> list[str]:  # type: ignore[empty-body]
    """Forecast providers to try, in order."""


# Hook specifications a plugin publishes for plugins of its own (normally a module of theirs).
WeatherSpecs = types.ModuleType("weather_hookspecs")
WeatherSpecs.weather_providers = hookspec(weather_providers)  # type: ignore[attr-defined]


class PublishesSpecs:
    def __init__(self) -> None:
        self.manager: pluggy.PluginManager | None = None

    @hookimpl
    def mcp_runner_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        self.manager = pluginmanager
        pluginmanager.add_hookspecs(WeatherSpecs)


class ProvidesWeather:
    @hookimpl
    def weather_providers(self, settings: Any) -> list[str]:
        return ["met.no"]


def test_hook_addhooks() -> None:
    """A plugin publishes hook specs through the historic hook; later plugins implement them."""
    publisher = PublishesSpecs()
    runner = start({"weather": publisher})
    host = runner.host
    assert host.records["weather"].status == "ok"
    assert "mcp_runner_addhooks" in host.records["weather"].hooks
    assert host.pm.hook.mcp_runner_addhooks.spec.opts["historic"]

    # What the host owes the hook: one historic call, so that every plugin registered before
    # and after it publishes its specs.
    if publisher.manager is None:
        host.pm.hook.mcp_runner_addhooks.call_historic(kwargs={"pluginmanager": host.pm})
    assert publisher.manager is host.pm
    assert host.pm.hook.weather_providers.spec is not None

    host.pm.register(ProvidesWeather(), name="metno")
    assert publisher.manager.hook.weather_providers(settings=runner.settings) == [["met.no"]]


def test_addhooks_is_called_by_the_host() -> None:
    publisher = PublishesSpecs()
    runner = start({"weather": publisher, "metno": ProvidesWeather()})
    assert publisher.manager is runner.host.pm
    assert runner.host.pm.hook.weather_providers(settings=runner.settings) == [["met.no"]]


class ForecastSettings(BaseModel):
    units: str = Field(default="metric", pattern="^(metric|imperial)$")
    days: int = Field(default=3, ge=1, le=14)


class RetentionSettings(BaseModel):
    days: int = Field(default=30, ge=1)


class AuditHooks:
    """A module-style plugin declaring its own table and a top-level one."""

    def __init__(self) -> None:
        self.seen: Any = None

    @hookimpl
    def mcp_runner_add_config(self, config: Any) -> None:
        config.add_section("retention", RetentionSettings)

    @hookimpl
    def mcp_runner_register(self, registry: Any, settings: Any) -> None:
        self.seen = settings


def forecast_plugin() -> Plugin:
    plugin = Plugin("forecast", settings=ForecastSettings)

    @plugin.tool
    def settings_in_use(ctx: Context) -> str:
        return f"{ctx.settings.units} {ctx.settings.days}"

    return plugin


class Greeting:
    """Not a plugin: an object that implements no hook (as an ASGI app is)."""

    def __init__(self, words: str) -> None:
        self.words = words


class AdaptsGreetings:
    """Turns a `Greeting` into a plugin serving it; leaves anything else."""

    @hookimpl
    def mcp_runner_adapt_plugin(self, name: str, obj: object) -> object | None:
        if not isinstance(obj, Greeting):
            return None
        plugin = Plugin(name, description="an adapted greeting")

        @plugin.tool(name=f"{name}_greet")
        def greet() -> str:
            return obj.words

        return plugin


def test_hook_adapt_plugin() -> None:
    """An object that is no plugin is adapted by a plugin loaded after it; the first answer
    wins; an object no adapter takes is registered as it is."""
    plain = object()
    runner = start({"hello": Greeting("hi there"), "plain": plain, "adapter": AdaptsGreetings()})
    hello = runner.host.records["hello"]
    assert (hello.status, hello.description, hello.tools) == ("ok", "an adapted greeting", 1)
    assert run(runner.call_tool("hello_greet"))["content"][0]["text"] == "hi there"
    assert runner.host.records["plain"].obj is plain  # no adapter took it
    assert list(runner.host.records) == [
        "errors",
        "logging",
        "transports",
        "auth",
        "proxy",
        "health",
        "metrics",
        "access_log",
        "tracing",
        "hello",
        "plain",
        "adapter",
    ]

    class Broken:
        @hookimpl
        def mcp_runner_adapt_plugin(self, name: str, obj: object) -> object | None:
            raise RuntimeError("cannot adapt")

    runner = silence_warnings(
        start({"hello": Greeting("hi"), "broken": Broken(), "adapter": AdaptsGreetings()})
    )
    broken = runner.host.records["broken"]
    assert (broken.status, broken.phase) == ("failed", "adapt_plugin")
    assert runner.host.records["hello"].tools == 1  # the next adapter answered


def test_hook_add_config() -> None:
    """Sections are validated by the models plugins declare; a bad field fails that plugin."""
    settings = Settings(
        plugins={
            "forecast": {"units": "imperial", "days": 7, "namespace": "wx", "timeout": 5},
            "audit": {"path": "/var/log/audit"},
        },
        retention={"days": 7},
    )
    audit = AuditHooks()
    runner = start({"forecast": forecast_plugin(), "audit": audit}, settings)

    record = runner.host.records["forecast"]
    assert record.status == "ok"
    assert isinstance(record.settings, ForecastSettings)  # the common keys were removed first
    assert (record.settings.units, record.settings.days) == ("imperial", 7)
    result = run(runner.call_tool("wx_settings_in_use"))
    assert result["content"][0]["text"] == "imperial 7"

    assert isinstance(runner.settings.section("retention"), RetentionSettings)
    assert runner.settings.section("retention").days == 7
    assert audit.seen == {"path": "/var/log/audit"}  # no model: the raw table

    bad = Settings(plugins={"forecast": {"units": "kelvin"}}, retention={"days": 7})
    runner = silence_warnings(
        Runner(
            bad, plugins={"forecast": forecast_plugin(), "echo": echo_plugin()}, entry_points=False
        )
    ).start()
    record = runner.host.records["forecast"]
    assert (record.status, record.phase) == ("failed", "config")
    assert "[plugins.forecast]" in record.error and "units" in record.error
    assert tool_names(runner) == {"echo"}  # the other plugin serves

    bad_top = Settings(retention={"days": 0})
    runner = silence_warnings(
        Runner(bad_top, plugins={"audit": AuditHooks()}, entry_points=False)
    ).start()
    record = runner.host.records["audit"]
    assert (record.status, record.phase) == ("failed", "config")
    assert record.error.startswith("[retention]: days:")


@dataclass
class FakeEntryPoint:
    name: str
    obj: Any
    value: str = "tests:fake"
    dist: Any = None

    def load(self) -> Any:
        return self.obj


def test_hook_add_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Plugins add click commands to `mcp-runner`; one failing leaves the CLI working."""
    from mcp_runner import cli as cli_module
    from mcp_runner import plugins as plugins_module

    @click.command("weather-cache")
    @click.option("--clear", is_flag=True, help="Delete every cached forecast.")
    def weather_cache(clear: bool) -> None:
        """Show or clear the forecast cache."""
        click.echo(f"cleared={clear}")

    class Commands:
        @hookimpl
        def mcp_runner_add_commands(self, cli: click.Group) -> None:
            cli.add_command(weather_cache)

    class Broken:
        @hookimpl
        def mcp_runner_add_commands(self, cli: click.Group) -> None:
            raise RuntimeError("no commands today")

    entry_points = [FakeEntryPoint("broken", Broken()), FakeEntryPoint("weather", Commands())]
    monkeypatch.setattr(plugins_module, "_entry_points", lambda: entry_points)
    monkeypatch.chdir(tmp_path)  # no mcp-runner.toml
    for key in [k for k in __import__("os").environ if k.startswith("MCP_RUNNER_")]:
        monkeypatch.delenv(key)
    cli = cli_module.cli
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    monkeypatch.setattr(cli, "_plugins_loaded", False)

    result = CliRunner().invoke(cli, ["weather-cache", "--clear"])
    assert result.exit_code == 0, result.output
    assert "cleared=True" in result.output

    listing = CliRunner().invoke(cli, ["--help"])
    assert listing.exit_code == 0
    assert "weather-cache" in listing.output and "serve" in listing.output


# ---------------------------------------------------------------------------------------------
# Composition


def greeting_tool(greeting: str) -> Any:
    def greet(name: str) -> str:
        """Greet someone."""
        return f"{greeting}, {name}!"

    return greet


class GreetingHooks:
    @hookimpl
    def mcp_runner_register(self, registry: Any, settings: Any) -> None:
        registry.add_tool(greeting_tool(settings["greeting"]), name="greet")

        def welcome(name: str) -> str:
            return f"Welcome {name}"

        registry.add_prompt(welcome)
        registry.instructions = "greetings: be polite."


class HalfRegisters:
    @hookimpl
    def mcp_runner_register(self, registry: Any, settings: Any) -> None:
        registry.add_tool(greeting_tool("Hi"), name="half_greet")
        registry.add_resource(lambda: "x", "half://thing", name="thing")
        raise RuntimeError("database missing")


def test_hook_register() -> None:
    """Contributions are staged and merged whole: a plugin that raises leaves nothing behind."""
    settings = Settings(plugins={"greeting": {"greeting": "Hello", "namespace": "g"}})
    runner = silence_warnings(
        Runner(
            settings,
            plugins={"greeting": GreetingHooks(), "half": HalfRegisters()},
            entry_points=False,
        )
    ).start()

    assert run(runner.call_tool("g_greet", {"name": "Ada"}))["content"][0]["text"] == "Hello, Ada!"
    assert "g_welcome" in runner.registry.prompts
    assert runner.host.records["greeting"].tools == 1
    init = run(
        runner.request(
            "initialize", {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {}}
        )
    )
    assert "greetings: be polite." in init["result"]["instructions"]

    half = runner.host.records["half"]
    assert (half.status, half.phase) == ("failed", "compose")
    assert half.error == "RuntimeError: database missing"
    assert "half_greet" not in runner.registry.tools
    assert "half://thing" not in runner.registry.resources
    assert tool_names(runner) == {"g_greet"}


# ---------------------------------------------------------------------------------------------
# Requests


def test_hook_middleware() -> None:
    """Middleware sees method and params, runs in band order, can short-circuit and wrap."""
    trail: list[str] = []
    seen: list[tuple[str, Any, Any]] = []

    def mark(label: str) -> Any:
        async def mw(request: Any, call_next: Any) -> Any:
            trail.append(label)
            return await call_next(request)

        return mw

    async def observe(request: Any, call_next: Any) -> Any:
        trail.append("observe")
        seen.append((request.method, request.params.get("name"), request.plugin))
        result = await call_next(request)
        if request.method == "tools/call":
            result = {**result, "_meta": {"example.org/wrapped": True}}
        return result

    async def shout(request: Any, call_next: Any) -> Any:  # innermost: rewrites the arguments
        trail.append("plugin-2")
        if request.method == "tools/call":
            arguments = dict(request.params.get("arguments") or {})
            arguments["text"] = arguments.get("text", "").upper()
            request.params = {**request.params, "arguments": arguments}
        return await call_next(request)

    class Chain:
        @hookimpl
        def mcp_runner_middleware(self, settings: Any) -> list[Any]:
            assert isinstance(settings, Settings)
            return [  # deliberately out of order: bands and `order` decide
                Middleware(shout, band="plugin", order=2),
                Middleware(observe, band="observe"),
                Middleware(mark("plugin-1"), band="plugin", order=1),
                Middleware(mark("errors"), band="errors"),
                Middleware(mark("auth"), band="auth", order=5),
            ]

    async def gate(request: Any, call_next: Any) -> Any:  # a bare callable: the plugin band
        if request.method == "tools/call" and request.params.get("name") == "forbidden":
            return {"content": [{"type": "text", "text": "blocked by policy"}], "isError": True}
        if request.method == "prompts/list":
            raise McpError(-32001, "prompts are off")
        return await call_next(request)

    class Gate:
        @hookimpl
        def mcp_runner_middleware(self) -> Any:  # naming no argument is fine too
            return gate

    called: list[str] = []
    plugin = echo_plugin()

    @plugin.tool
    def forbidden() -> str:
        called.append("forbidden")
        return "should not run"

    runner = start({"echo": plugin, "chain": Chain(), "gate": Gate()})

    result = run(runner.call_tool("echo", {"text": "hello"}))
    assert result["content"][0]["text"] == "HELLO"
    assert result["_meta"] == {"example.org/wrapped": True}
    assert trail == ["errors", "observe", "auth", "plugin-1", "plugin-2"]
    assert seen == [("tools/call", "echo", "echo")]

    blocked = run(runner.call_tool("forbidden"))
    assert blocked == {
        "content": [{"type": "text", "text": "blocked by policy"}],
        "isError": True,
        "_meta": {"example.org/wrapped": True},
    }
    assert called == []

    refused = run(runner.request("prompts/list"))
    assert refused["error"] == {"code": -32001, "message": "prompts are off"}

    trail.clear()
    unknown = run(runner.request("no/such/method"))
    assert unknown["error"]["code"] == -32601
    assert trail[:2] == ["errors", "observe"]  # every request passes the chain

    mw = [m for m in runner.host.middleware(runner) if m.fn is gate]
    assert mw and (mw[0].band, mw[0].name) == ("plugin", "gate")


@dataclass
class Caller:
    subject: str
    scopes: list[str] = field(default_factory=list)


class TokenTable:
    def __init__(self, tokens: dict[str, Caller]) -> None:
        self.tokens = tokens
        self.asked: list[str] = []

    async def verify(self, token: str) -> Caller | None:
        self.asked.append(token)
        return self.tokens.get(token)


def test_hook_token_verifiers() -> None:
    """Verifiers reach the host; bearer tokens are checked with them over HTTP."""
    from mcp_runner import http_app
    from starlette.testclient import TestClient

    first = TokenTable({"token-of-ada-0123456789": Caller("ada", ["weather:read"])})
    second = TokenTable({"token-of-bob-0123456789": Caller("bob")})

    class First:
        @hookimpl
        def mcp_runner_token_verifiers(self, settings: Any) -> list[Any]:
            return [first]

    class Second:
        @hookimpl
        def mcp_runner_token_verifiers(self, settings: Any) -> Any:
            return second  # a single verifier needs no list

    class Broken:
        @hookimpl
        def mcp_runner_token_verifiers(self, settings: Any) -> Any:
            raise RuntimeError("no key file")

    plugin = Plugin("whoami")

    @plugin.tool
    def whoami(ctx: Context) -> str:
        return ctx.principal.subject if ctx.principal is not None else "nobody"

    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={"whoami": plugin, "first": First(), "second": Second(), "broken": Broken()},
            entry_points=False,
        )
    ).start()
    verifiers = runner.host.token_verifiers()
    assert first in verifiers and second in verifiers
    broken = runner.host.records["broken"]
    assert (broken.status, broken.phase, broken.error) == (
        "failed",
        "token_verifiers",
        "RuntimeError: no key file",
    )

    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    headers = {"accept": "application/json, text/event-stream", "host": "127.0.0.1:8000"}
    with TestClient(http_app(runner), base_url="http://127.0.0.1:8000") as client:
        refused = client.post("/mcp", json=init, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")

        unknown = client.post(
            "/mcp", json=init, headers={**headers, "authorization": "Bearer not-a-known-token"}
        )
        assert unknown.status_code == 401

        auth = {**headers, "authorization": "Bearer token-of-bob-0123456789"}
        opened = client.post("/mcp", json=init, headers=auth)
        assert opened.status_code == 200, opened.text
        session = {
            **auth,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": LEGACY,
        }
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}},
        }
        answer = client.post("/mcp", json=call, headers=session)
        assert answer.json()["result"]["content"][0]["text"] == "bob"
    assert "token-of-bob-0123456789" in first.asked + second.asked


class Unavailable(Exception):
    pass


class QuotaExceeded(Exception):
    pass


def flaky_plugin() -> Plugin:
    plugin = Plugin("flaky")

    @plugin.tool
    def fetch() -> str:
        raise Unavailable("backend down")

    @plugin.tool
    def crash() -> str:
        raise KeyError("missing")

    @plugin.tool
    def refuse() -> str:
        raise ToolError("not today")

    @plugin.resource("flaky://status")
    def status() -> str:
        raise QuotaExceeded()

    return plugin


class ErrorMapper:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def mcp_runner_handle_error(self, request: Any, exc: BaseException) -> Any:
        self.seen.append((request.method, type(exc).__name__))
        if isinstance(exc, Unavailable):
            return f"Try again later: {exc}"
        if isinstance(exc, QuotaExceeded):
            return McpError(-32000, "quota used up", {"retryAfter": 5})
        return None


def test_hook_handle_error() -> None:
    """A plugin maps its exceptions to a tool error text or a JSON-RPC error; None passes on."""
    mapper = ErrorMapper()
    runner = start({"flaky": flaky_plugin(), "mapper": mapper})

    fetched = run(runner.call_tool("fetch"))
    assert fetched == {
        "content": [{"type": "text", "text": "Try again later: backend down"}],
        "isError": True,
    }

    status = run(runner.request("resources/read", {"uri": "flaky://status"}))
    assert status["error"] == {
        "code": -32000,
        "message": "quota used up",
        "data": {"retryAfter": 5},
    }

    crashed = run(runner.call_tool("crash"))  # passed on to the builtin last resort
    assert crashed["isError"] is True
    text = crashed["content"][0]["text"]
    assert text.startswith("Tool 'crash' failed: KeyError: 'missing' (error id ")

    refused = run(runner.call_tool("refuse"))  # ToolError never reaches the hook
    assert refused["content"][0]["text"] == "not today"

    assert mapper.seen == [
        ("tools/call", "Unavailable"),
        ("resources/read", "QuotaExceeded"),
        ("tools/call", "KeyError"),
    ]

    masked = start({"flaky": flaky_plugin()}, Settings(server={"mask_error_details": True}))
    text = run(masked.call_tool("crash"))["content"][0]["text"]
    assert text.startswith("Tool 'crash' failed (error id ") and "KeyError" not in text


def test_handle_error_mcp_error_for_a_tool_is_a_jsonrpc_error() -> None:
    class Mapper:
        @hookimpl
        def mcp_runner_handle_error(self, request: Any, exc: BaseException) -> Any:
            return McpError(-32000, "mapped") if isinstance(exc, Unavailable) else None

    runner = start({"flaky": flaky_plugin(), "mapper": Mapper()})
    answer = run(runner.request("tools/call", {"name": "fetch", "arguments": {}}))
    assert answer.get("error") == {"code": -32000, "message": "mapped"}


def test_handle_error_a_failing_mapper_does_not_lose_the_answer() -> None:
    class Raises:
        @hookimpl
        def mcp_runner_handle_error(self, request: Any, exc: BaseException) -> Any:
            raise RuntimeError("mapper broken")

    runner = silence_warnings(
        Runner(
            Settings(), plugins={"flaky": flaky_plugin(), "raises": Raises()}, entry_points=False
        )
    ).start()
    answer = run(runner.request("resources/read", {"uri": "flaky://status"}))
    assert answer["error"]["code"] == -32603


def test_hook_log_processors(capsys: pytest.CaptureFixture[str]) -> None:
    """Processors reach the host facade and run in the stderr log pipeline before redaction."""
    import structlog
    from mcp_runner import log

    def add_deployment(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        event["deployment"] = "staging"
        return event

    def leak_token(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        event["token"] = "s3cret"  # redaction runs after plugin processors
        return event

    class Enrich:
        @hookimpl
        def mcp_runner_log_processors(self, settings: Any) -> list[Any]:
            return [add_deployment]

    class Leaky:
        @hookimpl
        def mcp_runner_log_processors(self, settings: Any) -> Any:
            return leak_token

    class Broken:
        @hookimpl
        def mcp_runner_log_processors(self, settings: Any) -> Any:
            raise RuntimeError("bad processor config")

    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={"enrich": Enrich(), "leaky": Leaky(), "broken": Broken()},
            entry_points=False,
        )
    ).start()
    processors = runner.host.log_processors()
    assert add_deployment in processors and leak_token in processors
    assert runner.host.records["broken"].phase == "log_processors"

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        log.configure("info", "json", processors)
        log.get_logger("test").info("hello", plugin="enrich")
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        structlog.reset_defaults()
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    event = json.loads(line)
    assert event["event"] == "hello" and event["deployment"] == "staging"
    assert event["token"] == "[redacted]"


# ---------------------------------------------------------------------------------------------
# Serving


async def serve_memory(runner: Runner, options: dict[str, Any]) -> None:
    """A transport over in-memory lists: answers each message of `inbox` into `outbox`."""
    outbox: list[dict[str, Any]] = options["outbox"]

    async def send(message: dict[str, Any]) -> None:
        outbox.append(message)

    connection = runner.connect("memory", send)
    outlet = DirectOutlet(send)
    runner.ready("memory")
    for message in options["inbox"]:  # one at a time: the answers keep the inbox's order
        outcome = connection.receive(message, outlet)
        if isinstance(outcome, Request):
            outcome = connection.admit(outcome) or await connection.run(outcome)
        if outcome is not None:
            await send(outcome)
    await connection.drain(0)


class MemoryTransport:
    @hookimpl
    def mcp_runner_register_transports(self, register: Any) -> None:
        register("memory", serve_memory)


class ReadyLog:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    @hookimpl
    def mcp_runner_server_ready(self, runner: Runner, transport: str) -> None:
        self.events.append(("ready", transport, runner.started))


def lifespan_plugin(name: str, events: list[Any], fail: bool = False) -> Plugin:
    plugin = Plugin(name)

    @plugin.tool(name=f"{name}_ping")
    def ping() -> str:
        return name

    @plugin.lifespan
    async def life() -> Any:
        events.append(f"enter {name}")
        if fail:
            raise ConnectionError("database unreachable")
        yield
        events.append(f"exit {name}")

    return plugin


def test_hook_register_transports() -> None:
    """A plugin's transport is served by name, inside the lifespans, like stdio and http."""
    events: list[Any] = []
    runner = start(
        {
            "memory": MemoryTransport(),
            "ready": ReadyLog(events),
            "db": lifespan_plugin("db", events),
            "echo": echo_plugin(),
        }
    )
    assert {"stdio", "http", "memory"} <= set(runner.transports())

    outbox: list[dict[str, Any]] = []
    inbox = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {}},
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "over memory"}},
        },
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
    ]
    run(runner.serve("memory", inbox=inbox, outbox=outbox))

    assert [m["id"] for m in outbox] == [1, 2, 3]
    assert outbox[0]["result"]["protocolVersion"] == LEGACY
    assert outbox[1]["result"]["content"][0]["text"] == "over memory"
    assert events == ["enter db", ("ready", "memory", True), "exit db"]

    with pytest.raises(
        ValueError, match=r"unknown transport 'carrier-pigeon'; available: .*memory"
    ):
        run(runner.serve("carrier-pigeon"))


def test_hook_lifespan() -> None:
    """Lifespans enter before serving in load order and exit in reverse; a failing one leaves
    only its plugin out."""
    events: list[Any] = []

    class Raw:
        @hookimpl
        def mcp_runner_lifespan(self, runner: Runner, settings: Any) -> Any:
            @contextlib.asynccontextmanager
            async def manager() -> Any:
                events.append(("enter raw", settings, runner.registry is not None))
                yield
                events.append("exit raw")

            return manager()

    class Nothing:
        @hookimpl
        def mcp_runner_lifespan(self) -> None:
            return None  # no context manager: nothing to enter

    cfg = Plugin("cfg", settings=ForecastSettings)

    @cfg.lifespan
    async def with_settings(settings: ForecastSettings) -> Any:
        events.append(f"enter cfg {settings.units}")
        yield
        events.append("exit cfg")

    settings = Settings(plugins={"cfg": {"units": "imperial"}, "raw": {"dsn": "x"}})
    runner = silence_warnings(
        Runner(
            settings,
            plugins={
                "a": lifespan_plugin("a", events),
                "b": lifespan_plugin("b", events, fail=True),
                "cfg": cfg,
                "raw": Raw(),
                "nothing": Nothing(),
            },
            entry_points=False,
        )
    ).start()
    assert {"a_ping", "b_ping"} <= set(runner.registry.tools)

    async def serve() -> set[str]:
        async with runner.lifespan():
            events.append("serving")
            return set(runner.registry.tools)

    served = run(serve())
    assert served == {"a_ping"}
    assert events == [
        "enter a",
        "enter b",
        "enter cfg imperial",
        ("enter raw", {"dsn": "x"}, True),
        "serving",
        "exit raw",
        "exit cfg",
        "exit a",
    ]
    record = runner.host.records["b"]
    assert (record.status, record.phase) == ("failed", "lifespan")
    assert record.error == "ConnectionError: database unreachable"
    assert runner.host.records["nothing"].status == "ok"


def test_hook_server_ready() -> None:
    """Called once serving begins, with the transport's name (a plugin's, or http)."""
    from mcp_runner import http_app
    from starlette.testclient import TestClient

    events: list[Any] = []

    class Broken:
        @hookimpl
        def mcp_runner_server_ready(self, runner: Runner, transport: str) -> None:
            raise RuntimeError("cannot announce")

    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={"memory": MemoryTransport(), "ready": ReadyLog(events), "broken": Broken()},
            entry_points=False,
        )
    ).start()
    run(runner.serve("memory", inbox=[], outbox=[]))
    assert events == [("ready", "memory", True)]
    assert runner.host.records["broken"].phase == "server_ready"
    assert runner.host.records["ready"].status == "ok"

    events.clear()
    runner = start({"ready": ReadyLog(events)})
    with TestClient(http_app(runner)):
        assert events == [("ready", "http", True)]
    assert events == [("ready", "http", True)]


class DictBackend:
    """A state backend in a dict, for one process: what a plugin's backend must implement."""

    def __init__(self, name: str) -> None:
        from mcp_runner.transports.http import StateBackend

        class Backend(StateBackend):
            def __init__(self) -> None:
                self.name = name
                self.records: dict[str, Any] = {}
                self.logs: dict[tuple[str, str], list[Any]] = {}
                self.deliver: Any = None

            async def start(self, deliver: Any) -> None:
                self.deliver = deliver

            async def close(self) -> None:
                self.deliver = None

            async def save_session(self, session_id: str, record: Any, ttl: float) -> None:
                self.records[session_id] = json.loads(json.dumps(record))

            async def load_session(self, session_id: str, ttl: float) -> Any:
                return self.records.get(session_id)

            async def keep_sessions(self, session_ids: list[str], ttl: float) -> None:
                pass

            async def delete_session(self, session_id: str) -> None:
                self.records.pop(session_id, None)

            async def append_event(
                self, session_id: str, stream_id: str, event: Any, keep: int, ttl: float
            ) -> None:
                self.logs.setdefault((session_id, stream_id), []).append(event)

            async def events_after(self, session_id: str, stream_id: str, seq: int) -> Any:
                log = self.logs.get((session_id, stream_id))
                return None if log is None else [e for e in log if e[0] > seq]

            async def publish(self, message: Any) -> None:
                self.deliver(json.loads(json.dumps(message)))

        self.backend = Backend()

    @hookimpl
    def mcp_runner_state_backend(self, settings: Any) -> Any:
        return self.backend


def test_hook_state_backend() -> None:
    """The first plugin's backend (in load order) keeps the legacy HTTP sessions: their records
    go there, and a session is found from its record alone. A plugin that raises is failed and
    the next one answers; with no backend, sessions stay in the process."""
    from mcp_runner.transports.http import McpHttpApp, MemorySessionStore, Router
    from starlette.testclient import TestClient

    class Broken:
        @hookimpl
        def mcp_runner_state_backend(self, settings: Any) -> Any:
            raise RuntimeError("no store")

    first, second = DictBackend("first"), DictBackend("second")
    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={"broken": Broken(), "first": first, "second": second, "echo": echo_plugin()},
            entry_points=False,
        )
    ).start()
    assert runner.host.state_backend() is first.backend
    assert runner.host.records["broken"].phase == "state_backend"
    assert isinstance(McpHttpApp(start({"echo": echo_plugin()})).sessions, MemorySessionStore)

    endpoint = McpHttpApp(runner)
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
    with TestClient(Router(endpoint, "/")) as http:
        opened = http.post(
            "/",
            headers=headers,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        )
        session_id = opened.headers["mcp-session-id"]
        record = first.backend.records[session_id]
        assert record["version"] == "2025-11-25" and record["info"] == {"name": "t"}
        # Another replica: the same backend, a session it has never seen.
        replica = McpHttpApp(runner)
        with TestClient(Router(replica, "/")) as other:
            listed = other.post(
                "/",
                headers={**headers, "mcp-session-id": session_id},
                json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            )
            assert listed.status_code == 200, listed.text
            assert [t["name"] for t in listed.json()["result"]["tools"]] == ["echo"]
            assert (
                other.delete("/", headers={**headers, "mcp-session-id": session_id}).status_code
                == 204
            )
        assert session_id not in first.backend.records
        gone = http.post(
            "/",
            headers={**headers, "mcp-session-id": session_id},
            json={"jsonrpc": "2.0", "id": 3, "method": "ping"},
        )
        assert gone.status_code == 404


# ---------------------------------------------------------------------------------------------
# Reporting


def test_hook_status() -> None:
    """A plugin's sub-entries reach its record (and `mcp-runner plugins`); a failing status
    hook is shown as a failed entry and leaves the plugin loaded."""

    class Pool:
        @hookimpl
        def mcp_runner_status(self, runner: Runner) -> list[dict[str, Any]]:
            return [
                {"name": "replica-1", "state": "ready", "tools": len(runner.registry.tools)},
                {"name": "replica-2", "state": "starting"},
            ]

    class Broken:
        @hookimpl
        def mcp_runner_status(self, runner: Runner) -> Any:
            raise RuntimeError("pool unreachable")

    class Quiet:
        @hookimpl
        def mcp_runner_status(self) -> None:
            return None

    runner = start({"pool": Pool(), "broken": Broken(), "quiet": Quiet(), "echo": echo_plugin()})
    assert runner.host.collect_status(runner) is True
    records = runner.host.records
    assert records["pool"].backends == [
        {"name": "replica-1", "state": "ready", "tools": 1},
        {"name": "replica-2", "state": "starting"},
    ]
    assert records["pool"].as_dict()["backends"][1]["state"] == "starting"
    assert records["broken"].status == "ok"
    assert records["broken"].backends == [
        {"name": "status", "state": "failed", "error": "RuntimeError: pool unreachable"}
    ]
    assert records["quiet"].backends is None and "backends" not in records["quiet"].as_dict()
    assert "mcp_runner_status" in records["pool"].hooks

    assert start({"quiet": Quiet()}).host.collect_status(runner) is False


# ---------------------------------------------------------------------------------------------
# pluggy's options hold on the hooks the host calls


def test_specname_names_the_hook_an_implementation_is_for() -> None:
    events: list[Any] = []

    class Announcer:
        @hookimpl(specname="mcp_runner_server_ready")
        def announce(self, transport: str) -> None:
            events.append(("announced", transport))

        @hookimpl(specname="mcp_runner_register")
        def tools(self, registry: Any) -> None:
            registry.add_tool(greeting_tool("Hey"), name="hey")

    runner = start({"announcer": Announcer(), "memory": MemoryTransport()})
    assert runner.host.records["announcer"].hooks == [
        "mcp_runner_register",
        "mcp_runner_server_ready",
    ]
    assert run(runner.call_tool("hey", {"name": "Ada"}))["content"][0]["text"] == "Hey, Ada!"
    run(runner.serve("memory", inbox=[], outbox=[]))
    assert events == [("announced", "memory")]


def test_a_specname_naming_no_hook_fails_the_plugin() -> None:
    class Misspelt:
        @hookimpl(specname="mcp_runner_server_redy")
        def announce(self) -> None: ...

    runner = silence_warnings(
        Runner(Settings(), plugins={"misspelt": Misspelt()}, entry_points=False)
    ).start()
    record = runner.host.records["misspelt"]
    assert (record.status, record.phase) == ("failed", "register")
    assert record.error == "implements unknown hook(s) mcp_runner_server_redy"


def middleware_marking(label: str, trail: list[str], **hookimpl_options: Any) -> Any:
    async def mark(request: Any, call_next: Any) -> Any:
        trail.append(label)
        return await call_next(request)

    class Marks:
        @hookimpl(**hookimpl_options)
        def mcp_runner_middleware(self) -> Any:
            return mark  # all in the plugin band, order 0: the hook order decides

    return Marks()


def test_tryfirst_and_trylast_order_the_middleware() -> None:
    """tryfirst implementations come first, trylast ones last; load order among equals."""
    trail: list[str] = []
    plugins = {
        "late": middleware_marking("late", trail, trylast=True),
        "plain-1": middleware_marking("plain-1", trail),
        "early": middleware_marking("early", trail, tryfirst=True),
        "plain-2": middleware_marking("plain-2", trail),
        "echo": echo_plugin(),
    }
    runner = start(plugins)
    run(runner.call_tool("echo", {"text": "hi"}))
    assert trail == ["early", "plain-1", "plain-2", "late"]
    names = [m.name for m in runner.host.middleware(runner) if m.band == "plugin"]
    assert names == ["early", "plain-1", "plain-2", "late"]


def test_a_new_style_wrapper_wraps_a_hook_the_host_calls() -> None:
    """A wrapper sees every implementation's answer (as the host reads it) and may change it."""
    trail: list[str] = []
    seen: list[Any] = []

    class Reorders:
        @hookimpl(wrapper=True)
        def mcp_runner_middleware(self, settings: Settings) -> Any:
            assert isinstance(settings, Settings)
            answers = yield
            seen.extend(answers)
            return list(reversed(answers))  # innermost first, for once

    plugins = {
        "one": middleware_marking("one", trail),
        "two": middleware_marking("two", trail),
        "reorders": Reorders(),
        "echo": echo_plugin(),
    }
    runner = start(plugins)
    run(runner.call_tool("echo", {"text": "hi"}))
    assert trail == ["two", "one"]
    assert all(isinstance(mw, Middleware) for answer in seen for mw in answer)
    assert runner.host.records["reorders"].hooks == ["mcp_runner_middleware"]


def test_an_old_style_hookwrapper_wraps_a_per_plugin_hook() -> None:
    """Around each plugin's own call of a per-plugin hook: here, each plugin's register."""
    calls: list[tuple[str, Any]] = []

    class Audits:
        @hookimpl(hookwrapper=True)
        def mcp_runner_register(self, registry: Any) -> Any:
            calls.append(("before", registry.plugin))
            outcome = yield
            calls.append(("after", registry.plugin, len(registry.tools), outcome.get_result()))

    settings = Settings(plugins={"greeting": {"greeting": "Hello"}})
    runner = start(
        {"audits": Audits(), "greeting": GreetingHooks(), "echo": echo_plugin()}, settings
    )
    assert tool_names(runner) == {"greet", "echo"}
    assert calls == [
        ("before", "greeting"),
        ("after", "greeting", 1, []),
        ("before", "echo"),
        ("after", "echo", 1, []),
    ]


def test_a_wrapper_that_raises_fails_its_plugin_and_the_others_still_answer() -> None:
    class Breaks:
        @hookimpl(wrapper=True)
        def mcp_runner_middleware(self) -> Any:
            yield
            raise RuntimeError("wrapper broken")

    trail: list[str] = []
    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={
                "breaks": Breaks(),
                "marks": middleware_marking("marks", trail),
                "echo": echo_plugin(),
            },
            entry_points=False,
        )
    ).start()
    record = runner.host.records["breaks"]
    assert (record.status, record.phase, record.error) == (
        "failed",
        "middleware",
        "RuntimeError: wrapper broken",
    )
    run(runner.call_tool("echo", {"text": "hi"}))
    assert trail == ["marks"]  # its middleware was built once, unwrapped


def test_a_raising_implementation_fails_only_its_plugin_on_an_all_plugins_hook() -> None:
    events: list[Any] = []

    class Breaks:
        @hookimpl(tryfirst=True)
        def mcp_runner_server_ready(self) -> None:
            raise RuntimeError("cannot announce")

    class Wraps:
        @hookimpl(wrapper=True)
        def mcp_runner_server_ready(self, transport: str) -> Any:
            events.append(("before", transport))
            yield
            events.append(("after", transport))

    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={
                "memory": MemoryTransport(),
                "breaks": Breaks(),
                "ready": ReadyLog(events),
                "wraps": Wraps(),
                "echo": echo_plugin(),
            },
            entry_points=False,
        )
    ).start()
    run(runner.serve("memory", inbox=[], outbox=[]))
    assert events == [("before", "memory"), ("ready", "memory", True), ("after", "memory")]
    assert {name: r.status for name, r in runner.host.records.items() if r.source != "builtin"} == {
        "memory": "ok",
        "breaks": "failed",
        "ready": "ok",
        "wraps": "ok",
        "echo": "ok",
    }
    assert runner.host.records["breaks"].phase == "server_ready"
    assert tool_names(runner) == {"echo"}


def test_a_raising_implementation_fails_only_its_plugin_on_a_per_plugin_hook() -> None:
    """The failing plugin is unregistered whole: its other hooks are no longer called."""
    events: list[Any] = []

    class Breaks:
        @hookimpl(specname="mcp_runner_register")
        def contribute(self, registry: Any) -> None:
            registry.add_tool(greeting_tool("Hi"), name="half_greet")
            raise RuntimeError("database missing")

        @hookimpl
        def mcp_runner_server_ready(self) -> None:
            events.append("breaks ready")

    class Wraps:
        @hookimpl(wrapper=True)
        def mcp_runner_register(self, registry: Any) -> Any:
            events.append(("composing", registry.plugin))
            return (yield)

    runner = silence_warnings(
        Runner(
            Settings(),
            plugins={
                "wraps": Wraps(),
                "breaks": Breaks(),
                "echo": echo_plugin(),
                "memory": MemoryTransport(),
            },
            entry_points=False,
        )
    ).start()
    record = runner.host.records["breaks"]
    assert (record.status, record.phase, record.error) == (
        "failed",
        "compose",
        "RuntimeError: database missing",
    )
    assert tool_names(runner) == {"echo"}
    assert events == [("composing", "breaks"), ("composing", "echo")]
    run(runner.serve("memory", inbox=[], outbox=[]))
    assert "breaks ready" not in events


def test_a_plugin_may_not_both_wrap_and_implement_one_hook() -> None:
    class Both:
        @hookimpl
        def mcp_runner_middleware(self) -> None:
            return None

        @hookimpl(wrapper=True, specname="mcp_runner_middleware")
        def around(self) -> Any:
            return (yield)

    runner = silence_warnings(Runner(Settings(), plugins={"both": Both()}, entry_points=False))
    record = runner.start().host.records["both"]
    assert (record.status, record.phase) == ("failed", "register")
    assert "both wraps and implements mcp_runner_middleware" in (record.error or "")


# ---------------------------------------------------------------------------------------------
# Operating


def http_get(runner: Runner, path: str, headers: dict[str, str] | None = None) -> Any:
    """GET `path` from the runner's HTTP router, in process."""
    import httpx
    from mcp_runner.transports.http import Router
    from mcp_runner.transports.http.endpoint import McpHttpApp

    router = Router(McpHttpApp(runner), "/mcp")

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=router)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get(path, headers=headers)

    return run(get())


def test_hook_http_routes() -> None:
    """A plugin serves a path beside the MCP endpoint; taking the MCP path fails the plugin."""

    async def version(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"1.2.3"})

    class Routes:
        @hookimpl
        def mcp_runner_http_routes(self, register: Any) -> None:
            register("/version", version)

    class Greedy:
        @hookimpl
        def mcp_runner_http_routes(self, register: Any) -> None:
            register("/mcp", version)

    runner = silence_warnings(start({"routes": Routes(), "greedy": Greedy()}))
    answer = http_get(runner, "/version")
    assert (answer.status_code, answer.text) == (200, "1.2.3")
    assert runner.host.records["greedy"].status == "failed"
    assert "already served" in (runner.host.records["greedy"].error or "")
    assert http_get(runner, "/elsewhere").status_code == 404


def test_hook_http_observers() -> None:
    """Every observer sees each request once answered, refusals included, with the correlation
    id that goes back as X-Request-Id (from X-Request-Id, else traceparent)."""
    seen: list[Any] = []

    class Watch:
        @hookimpl
        def mcp_runner_http_observers(self) -> Any:
            return seen.append

    runner = start({"watch": Watch()})
    answer = http_get(runner, "/nowhere", {"X-Request-Id": "req-42"})
    assert answer.headers["x-request-id"] == "req-42"
    trace = "0af7651916cd43dd8448eb211c80319c"
    traced = http_get(runner, "/healthz", {"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
    assert traced.headers["x-request-id"] == trace
    assert [(a.method, a.path, a.status, a.correlation_id) for a in seen] == [
        ("GET", "/nowhere", 404, "req-42"),
        ("GET", "/healthz", 200, trace),
    ]
    assert seen[1].bytes == len(traced.content) and seen[1].duration > 0


def test_hook_request_observers() -> None:
    """Every observer hears of each request's start and end, with its outcome and duration,
    in the task that runs it (a context variable set at the start reaches the handler); one
    that raises is reported and the requests go on; the runner's request statistics, once
    returned, count every request by method, component and outcome; an object without both
    methods fails its plugin by name."""
    import contextvars

    from mcp_runner.hookspecs import RequestObserver

    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="")
    seen: list[tuple[str, Any, str, str | None]] = []
    plugin = Plugin("work")

    @plugin.tool
    def ok(ctx: Context) -> str:
        """Answer the context variable the observer set."""
        return current.get()

    @plugin.tool
    def refused() -> str:
        """A tool error."""
        raise ToolError("no")

    @plugin.resource("data://crash")
    def crash() -> str:
        """A plugin bug (a tool's would be its isError result)."""
        raise ValueError("boom")

    @plugin.tool
    async def slow() -> str:
        """Waits to be cancelled."""
        await asyncio.sleep(60)
        return "late"

    class Watch(RequestObserver):
        def request_started(self, request: Request) -> None:
            current.set(f"observed {request.id}")
            seen.append(("started", request.id, request.method, None))

        def request_ended(self, request: Request, outcome: Any, seconds: float) -> None:
            assert seconds >= 0 and current.get() == f"observed {request.id}"
            failure = type(request.failure).__name__ if request.failure else None
            seen.append((outcome, request.id, request.method, failure))

    class Broken(RequestObserver):
        def request_ended(self, request: Request, outcome: Any, seconds: float) -> None:
            raise RuntimeError("broken observer")

    class Observers:
        @hookimpl
        def mcp_runner_request_observers(self, runner: Runner) -> Any:
            return [Broken(), Watch(), runner.request_stats]

    class NotAnObserver:
        @hookimpl
        def mcp_runner_request_observers(self) -> Any:
            return print

    runner = silence_warnings(
        start({"work": plugin, "observers": Observers(), "wrong": NotAnObserver()})
    )
    wrong = runner.host.records["wrong"]
    assert wrong.status == "failed" and "request_started and request_ended" in str(wrong.error)

    async def scenario() -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []

        async def outbound(message: dict[str, Any]) -> None:
            answers.append(message)

        connection = runner.connect("test", outbound)
        outlet = DirectOutlet(outbound)
        init = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t"}}
        for number, (method, params) in enumerate(
            [
                ("initialize", init),
                ("tools/call", {"name": "ok"}),
                ("tools/call", {"name": "refused"}),
                ("resources/read", {"uri": "data://crash"}),
                ("tools/call", {"name": "missing"}),
                ("tools/call", {"name": "slow"}),
            ]
        ):
            message = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
            assert connection.accept(message, outlet) is None
            await asyncio.sleep(0.05)
        cancel = {"requestId": 5}
        connection.accept(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel}, outlet
        )
        await asyncio.sleep(0.05)
        return answers

    with contextlib.redirect_stderr(io.StringIO()) as stderr:
        answers = run(scenario())
    ended = [entry for entry in seen if entry[0] != "started"]
    assert [entry[0] for entry in seen if entry[0] == "started"] == ["started"] * 6
    assert ended == [
        ("ok", 0, "initialize", None),
        ("ok", 1, "tools/call", None),
        ("tool_error", 2, "tools/call", None),
        ("exception", 3, "resources/read", "ValueError"),
        ("error", 4, "tools/call", "McpError"),
        ("cancelled", 5, "tools/call", "CancelledError"),
    ]
    assert answers[1]["result"]["content"][0]["text"] == "observed 1"
    series, started = runner.request_stats.measured()  # kept by the request path itself
    counted = {
        (method, getattr(target, "name", None), outcome): sum(histogram[:-1])
        for (method, target, outcome), histogram in series
    }
    assert counted == {
        ("initialize", None, "ok"): 1,
        ("tools/call", "ok", "ok"): 1,
        ("tools/call", "refused", "tool_error"): 1,
        ("resources/read", "crash", "exception"): 1,
        ("tools/call", None, "error"): 1,
        ("tools/call", "slow", "cancelled"): 1,
    }
    assert started == 6 and all(histogram[-1] > 0 for _, histogram in series)
    assert len(answers) == 5  # the withdrawn call has no answer; the others all do
    assert stderr.getvalue().count("broken observer") == 6


def test_hook_health_checks() -> None:
    """/readyz runs every check: failing (or raising) is 503, degraded is 200 unless
    [health] ready_when_degraded is false, and draining is 503; /healthz answers regardless."""
    states = {"store": "ok"}

    class Store:
        @hookimpl
        def mcp_runner_health_checks(self) -> dict[str, Any]:
            async def store() -> dict[str, Any]:
                return {"state": states["store"], "latency_ms": 1}

            async def broken() -> dict[str, Any]:
                raise ConnectionError("refused")

            return {"store": store} if states.get("broken") is None else {"broken": broken}

    runner = start({"store": Store()})
    ready = http_get(runner, "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["components"]["store"] == {"state": "ok", "latency_ms": 1}
    states["store"] = "degraded"
    assert http_get(runner, "/readyz").status_code == 200
    states["store"] = "failing"
    assert http_get(runner, "/readyz").status_code == 503
    assert http_get(runner, "/healthz").json() == {"status": "ok"}
    states["store"] = "ok"
    runner.draining = True  # a graceful shutdown has begun
    draining = http_get(runner, "/readyz")
    assert draining.status_code == 503
    assert draining.json()["components"]["server"] == {"state": "failing", "draining": True}

    strict = start(
        {"store": Store()}, Settings.model_validate({"health": {"ready_when_degraded": False}})
    )
    states["store"] = "degraded"
    assert http_get(strict, "/readyz").status_code == 503

    states["broken"] = "yes"
    refused = http_get(start({"store": Store()}), "/readyz")
    assert refused.status_code == 503
    assert refused.json()["components"]["broken"] == {
        "state": "failing",
        "error": "ConnectionError: refused",
    }


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
