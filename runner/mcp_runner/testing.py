"""Test helpers for plugin authors: your plugin served, and a connected `Client` on it.

In process (fast; no subprocess, no bytes)::

    from mcp_runner.testing import inprocess_client
    from my_plugin import plugin

    async def test_forecast():
        async with inprocess_client(plugin) as client:
            result = await client.call_tool("forecast", {"city": "Oslo"})
            assert not result.is_error

Through a real ``mcp-runner serve`` over stdio or Streamable HTTP (what a user's client sees)::

    from mcp_runner.testing import served_client

    async def test_over_http():
        async with served_client("my_plugin", transport="http", era="modern") as client:
            ...

Installed as a pytest plugin, it also offers the fixtures ``mcp_client`` (the in-process
factory) and ``mcp_served_client`` (the subprocess factory, run in the test's ``tmp_path``).
Both yield factories of async context managers. An ``async def test_...`` that uses these
helpers runs as it is written, on asyncio: it is given anyio's ``anyio`` mark (anyio's pytest
plugin is installed with starlette and httpx) unless it has an async mark already or
pytest-asyncio's auto mode takes it. The markers ``e2e`` and ``slow`` are registered, so
``--strict-markers`` accepts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .client import Client
    from .config import Settings
    from .runner import Runner

#: The fixtures of this module: a test that asks for one uses the helpers.
FIXTURES = frozenset({"mcp_client", "mcp_served_client"})
#: Marks that already say how an async test runs.
ASYNC_MARKS = frozenset({"anyio", "asyncio", "trio"})

#: The URL in the server's banner, plain (``mcp-runner: serving URL``) or JSON
#: (``{"event": "serving", "url": URL, ...}``).
SERVING = re.compile(r'serving(?: |", "url": ")(http://[^\s"]+)')

__all__ = [
    "inprocess_client",
    "make_runner",
    "mcp_client",
    "mcp_served_client",
    "runner_command",
    "served_client",
]


def _plugins(plugins: Any) -> dict[str, Any]:
    if plugins is None:
        return {}
    if isinstance(plugins, dict):
        return dict(plugins)
    items = plugins if isinstance(plugins, list | tuple) else [plugins]
    out: dict[str, Any] = {}
    for item in items:
        name = getattr(item, "name", None)
        if not isinstance(name, str):
            name = getattr(item, "__name__", repr(item)).rsplit(".", 1)[-1]
        out[name] = item
    return out


def make_runner(
    plugins: Any = None,
    *,
    settings: Settings | dict[str, Any] | None = None,
    entry_points: bool = False,
) -> Runner:
    """A started `Runner` with `plugins` (a Plugin, a list of them, or ``{name: plugin}``).

    `settings` is a `Settings` or the dict a ``mcp-runner.toml`` would hold, e.g.
    ``{"plugins": {"weather": {"units": "metric"}}}``. Installed plugins (entry points) are not
    discovered unless ``entry_points=True``.
    """
    from .config import Settings
    from .runner import Runner

    if settings is None:
        settings = Settings()
    elif isinstance(settings, dict):
        settings = Settings.model_validate(settings)
    return Runner(settings, plugins=_plugins(plugins), entry_points=entry_points).start()


@contextlib.asynccontextmanager
async def inprocess_client(
    plugins: Any = None,
    *,
    settings: Settings | dict[str, Any] | None = None,
    runner: Runner | None = None,
    entry_points: bool = False,
    era: str = "legacy",
    **client_options: Any,
) -> AsyncIterator[Client]:
    """A `Client` connected to a `Runner` in this process (its plugin lifespans entered).

    `client_options` go to `Client` (``elicitation=``, ``sampling=``, ``on_log=``, ...).
    """
    from .client import Client

    if runner is None:
        runner = make_runner(plugins, settings=settings, entry_points=entry_points)
    async with Client.inprocess(runner, era=era, **client_options) as client:
        yield client


def runner_command() -> list[str]:
    """How to run the ``mcp-runner`` of the interpreter running the tests."""
    script = Path(sys.executable).with_name("mcp-runner")
    if script.exists():
        return [str(script)]
    found = shutil.which("mcp-runner")
    return [found] if found else [sys.executable, "-m", "mcp_runner"]


def _environment(
    env: dict[str, str] | None,
    only: Iterable[str] | None,
    pythonpath: Iterable[str | os.PathLike[str]],
) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    paths = [str(p) for p in pythonpath]
    if paths:
        out["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [os.environ.get("PYTHONPATH")])])
    if only is not None:
        out["MCP_RUNNER_PLUGINS"] = ",".join(only)
    out.update(env or {})
    return out


@contextlib.asynccontextmanager
async def served_client(
    *plugins: str,
    transport: str = "stdio",
    era: str = "auto",
    config: str | os.PathLike[str] | None = None,
    only: Iterable[str] | None = None,
    env: dict[str, str] | None = None,
    pythonpath: Iterable[str | os.PathLike[str]] = (),
    cwd: str | os.PathLike[str] | None = None,
    args: Iterable[str] = (),
    startup_timeout: float = 30.0,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """A `Client` connected to ``mcp-runner serve`` in a subprocess.

    `plugins` are import paths given as ``--plugin`` (``"my_plugin"``, ``"pkg.mod:plugin"``);
    installed plugins are discovered as usual unless `only` (an allow list of plugin names)
    says otherwise. ``transport="http"`` serves on a free port (``--port 0``) and connects to
    the URL the server announces. The server's stderr goes to ours. `MCP_RUNNER_*` variables
    of this process are not passed on; give settings in `env` or `config`.
    """
    from .client import Client

    command = [
        *runner_command(),
        "serve",
        *(f"--plugin={p}" for p in plugins),
        "--transport",
        transport,
    ]
    if config is not None:
        command += ["--config", str(config)]
    if transport == "http":
        command += ["--port", "0"]
    command += list(args)
    environment = _environment(env, only, pythonpath)
    if transport == "stdio":
        client = Client.stdio(
            command[0],
            command[1:],
            env=environment,
            inherit_env=False,
            cwd=cwd,
            era=era,
            **client_options,
        )
        async with client:
            yield client
        return
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment, cwd=cwd
    )
    try:
        url = await asyncio.to_thread(_announced_url, proc, startup_timeout)
        async with Client.http(url, era=era, **client_options) as client:
            yield client
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


def _announced_url(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """Read the server's stderr until it says where it serves; the rest is copied to ours."""
    assert proc.stderr is not None
    stream = proc.stderr
    found: list[str] = []
    ready = threading.Event()
    seen: list[str] = []

    def pump() -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            if not ready.is_set():
                seen.append(line)
                match = SERVING.search(line)
                if match:
                    found.append(match.group(1))
                    ready.set()
                    continue
            sys.stderr.write(line)
        ready.set()

    threading.Thread(target=pump, daemon=True, name="mcp-runner stderr").start()
    if not ready.wait(timeout) or not found:
        proc.kill()
        raise RuntimeError(
            f"mcp-runner did not announce an HTTP address within {timeout:g} s; it wrote:\n"
            + "".join(seen[-30:])
        )
    return found[0]


# ---------------------------------------------------------------------------------------------
# pytest fixtures (available everywhere once mcp-runner is installed: entry point ``pytest11``)


@pytest.fixture
def mcp_client() -> Any:
    """Factory: ``async with mcp_client(plugin, settings=..., era=...) as client``."""
    return inprocess_client


@pytest.fixture
def mcp_served_client(tmp_path: Path) -> Any:
    """Factory: ``async with mcp_served_client("my_plugin", transport="http") as client``
    (the server runs in the test's ``tmp_path`` unless `cwd` is given)."""

    def factory(*plugins: str, **options: Any) -> Any:
        options.setdefault("cwd", tmp_path)
        return served_client(*plugins, **options)

    return factory


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers the docs' examples and scaffolded tests use."""
    config.addinivalue_line("markers", "e2e: end to end: spawns servers or the CLI")
    config.addinivalue_line("markers", "slow: long-running")


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """Give an unmarked ``async def test_...`` that uses these helpers anyio's mark, before
    anyio's plugin looks for it."""
    if _uses_helpers(collector, name, obj):
        pytest.mark.anyio(obj)
    return (yield)


def _uses_helpers(collector: pytest.Collector, name: str, obj: object) -> bool:
    if not (
        isinstance(collector, pytest.Module | pytest.Class)
        and collector.istestfunction(obj, name)
        and inspect.iscoroutinefunction(obj)
    ):
        return False
    marks = {m.name for m in getattr(obj, "pytestmark", ())}
    if marks & ASYNC_MARKS or any(collector.iter_markers(name="anyio")):
        return False
    if collector.config.pluginmanager.hasplugin("asyncio"):
        with contextlib.suppress(ValueError):
            if collector.config.getini("asyncio_mode") == "auto":
                return False
    if FIXTURES & set(inspect.signature(obj).parameters):
        return True
    module = collector.getparent(pytest.Module)
    helpers = (inprocess_client, served_client, make_runner)
    return module is not None and any(
        value is helper for value in vars(module.obj).values() for helper in helpers
    )
