"""The ``console`` examples of docs/cli.md, run as written: each ``$`` line through the
real `mcp-runner` command, its output compared with the lines below it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PAGE = Path(__file__).parent.parent / "docs" / "cli.md"
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def examples() -> list[tuple[str, str]]:
    """Each ``$ command`` of the page's console blocks with the output written below it."""
    found: list[tuple[str, str]] = []
    for block in re.findall(r"^```console\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.M | re.S):
        for command, output in re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", block, re.M):
            found.append((command, output))
    return found


def test_the_page_has_examples():
    assert len(examples()) >= 6


@pytest.mark.parametrize(("command", "output"), examples(), ids=[c for c, _ in examples()])
def test_example_runs_as_written(command: str, output: str, tmp_path: Path):
    words = shlex.split(command)
    env = {**os.environ, "MCP_RUNNER_PLUGINS": "sqlite"}  # the plugins the page installs
    env.pop("PYTHONPATH", None)
    while ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "mcp-runner"
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    done = subprocess.run(
        [exe, *words[1:]], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.stdout + done.stderr == output
