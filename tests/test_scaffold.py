"""`mcp-runner new`: skeletons named after their plugin compose side by side, and the
skeleton's own tests pass where they are written, whatever the machine's settings."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_runner.scaffold import write_plugin
from mcp_runner.testing import make_runner


def test_two_skeletons_compose_without_a_collision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = []
    for name in ("weather", "news"):
        root = write_plugin(name, tmp_path / name)
        monkeypatch.syspath_prepend(str(root))
        plugins.append(importlib.import_module(f"mcp_runner_{name}").plugin)
    runner = make_runner(plugins)
    assert not runner.host.failures()
    assert {"weather_hello", "news_hello"} <= set(runner.registry.tools)
    assert {"weather_introduce", "news_introduce"} <= set(runner.registry.prompts)
    result = asyncio.run(runner.call_tool("news_hello", {"name": "Ada"}))
    assert result["content"][0]["text"] == "Hello, Ada!"


def test_names_are_refused_or_normalised(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must start with a letter"):
        write_plugin("9lives", tmp_path / "a")
    root = write_plugin("Air Quality", tmp_path / "b")
    assert (root / "mcp_runner_air_quality" / "__init__.py").is_file()
    assert (
        '@plugin.tool(name="air_quality_hello")'
        in (root / "mcp_runner_air_quality" / "__init__.py").read_text()
    )


@pytest.mark.e2e
def test_the_skeletons_tests_pass_under_a_hostile_environment(tmp_path: Path) -> None:
    """The generated async tests run as written (no marker, no conftest) and see only their
    plugin: an allow list, a config file and a typo'd variable of the machine are ignored."""
    root = write_plugin("weather", tmp_path / "weather")
    (root / "mcp-runner.toml").write_text('[server]\nenable = ["files"]\n')
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "MCP_RUNNER_PLUGINS": "sqlite",
        "MCP_RUNNER_SERVER__NAME": "elsewhere",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
