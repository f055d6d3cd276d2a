"""mcp_runner.testing as the pytest plugin installed with mcp-runner: an unmarked
``async def`` test that uses the helpers runs on asyncio, one that does not is left alone,
and the markers the docs use are registered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

USES_HELPERS = """
import pytest
from mcp_runner import Plugin
from mcp_runner.testing import inprocess_client

plugin = Plugin("t")


@plugin.tool
def ping() -> str:
    return "pong"


async def test_unmarked():
    async with inprocess_client(plugin) as client:
        assert (await client.call_tool("ping")).text == "pong"


async def test_fixture(mcp_client):
    async with mcp_client(plugin) as client:
        assert (await client.call_tool("ping")).text == "pong"


@pytest.mark.anyio
async def test_already_marked():
    async with inprocess_client(plugin) as client:
        assert (await client.call_tool("ping")).text == "pong"


@pytest.mark.e2e
@pytest.mark.slow
def test_markers_are_known():
    pass
"""

LEAVES_ALONE = """
async def test_not_ours():
    pass
"""


def _pytest(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_async_tests_using_the_helpers_run_as_written(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "test_uses_helpers.py", USES_HELPERS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_other_async_tests_are_left_to_their_own_plugins(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "test_leaves_alone.py", LEAVES_ALONE)
    assert done.returncode != 0
    assert "async def functions are not natively supported" in done.stdout
