"""`mcp-runner new NAME`: a plugin distribution skeleton.

Its tool, resource and prompt are named after the plugin (``<name>_hello``,
``<name>://about``, ``<name>_introduce``), so two skeletons installed side by side compose
without a collision.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import __version__

_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "mcp-runner-{dist}"
version = "0.1.0"
description = "{name}: an mcp-runner plugin"
requires-python = ">=3.11"
dependencies = ["mcp-runner>={host}"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.mcp_runner]
{ep} = "{module}:plugin"

[tool.setuptools]
packages = ["{module}"]
"""

_MODULE = '''"""{name}: an mcp-runner plugin."""

from mcp_runner import Context, Plugin

plugin = Plugin("{ep}", description="{name} tools")


@plugin.tool(name="{ep}_hello")
async def hello(name: str, ctx: Context) -> str:
    """Greet someone by name.

    Args:
        name: Who to greet.
    """
    await ctx.info(f"greeting {{name}}")
    return f"Hello, {{name}}!"


@plugin.resource("{ep}://about")
def about() -> str:
    """What this plugin is."""
    return "{name}: an mcp-runner plugin"


@plugin.prompt(name="{ep}_introduce")
def introduce(topic: str) -> str:
    """Ask for a short introduction to a topic."""
    return f"Give a short introduction to {{topic}}."
'''

_TEST = """from mcp_runner.testing import inprocess_client

from {module} import plugin


async def test_hello():
    # Only this plugin, with default settings: no installed plugins, mcp-runner.toml or
    # MCP_RUNNER_* variables of the machine running the test.
    async with inprocess_client(plugin) as client:
        result = await client.call_tool("{ep}_hello", {{"name": "Ada"}})
        assert result.text == "Hello, Ada!"


async def test_introduce():
    async with inprocess_client(plugin, settings={{"plugins": {{"{ep}": {{}}}}}}) as client:
        prompt = await client.get_prompt("{ep}_introduce", {{"topic": "tides"}})
        assert "tides" in prompt.messages[0].content["text"]
"""

_README = """# mcp-runner-{dist}

An [mcp-runner](https://pypi.org/project/mcp-runner/) plugin.

    pip install -e .
    mcp-runner tools            # shows `{ep}_hello`
    mcp-runner call {ep}_hello name=Ada
    pip install -e '.[test]' && pytest
"""


def write_plugin(name: str, directory: Path | None = None) -> Path:
    """Write a new plugin distribution (pyproject, module with a ``hello`` tool, test,
    README) into `directory` (default ``mcp-runner-<name>``) and return it; `ValueError` for
    a bad name or a directory that is not empty."""
    ep = re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_")
    if not ep or not ep[0].isalpha():
        raise ValueError(f"plugin name {name!r} must start with a letter")
    dist = ep.replace("_", "-")
    module = f"mcp_runner_{ep}"
    target = directory or Path(f"mcp-runner-{dist}")
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} exists and is not empty")
    values = {"name": name, "ep": ep, "dist": dist, "module": module, "host": __version__}
    files = {
        "pyproject.toml": _PYPROJECT,
        f"{module}/__init__.py": _MODULE,
        "tests/test_plugin.py": _TEST,
        "README.md": _README,
    }
    for rel, template in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return target
