"""The files plugin through `mcp_runner.testing`: a real MCP client in front of it, in process
(both protocol eras) and through `mcp-runner serve` over stdio and HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from mcp_runner_files import plugin

pytestmark = pytest.mark.e2e


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "src").mkdir(parents=True)
    (folder / "hello.txt").write_text("one\ntwo\nthree\n")
    (folder / "src" / "app.py").write_text("print('Hello')\n")
    return folder


def settings(root: Path) -> dict[str, Any]:
    return {"plugins": {"files": {"roots": [str(root)]}}}


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_in_process(mcp_client: Any, root: Path, era: str) -> None:
    async def body() -> None:
        async with mcp_client(plugin, settings=settings(root), era=era) as client:
            assert {t.name for t in await client.list_tools()} == {
                "list_roots",
                "list_directory",
                "read_file",
                "search_files",
            }
            read = await client.call_tool("read_file", {"path": "hello.txt"})
            assert not read.is_error and read.structured_content["text"] == "one\ntwo\nthree\n"
            missing = await client.call_tool("read_file", {"path": "nope.txt"})
            assert missing.is_error
            found = await client.call_tool("search_files", {"pattern": "*.py", "query": "hello"})
            assert "src/app.py" in json.dumps(found.structured_content)
            resource = await client.read_resource((root / "hello.txt").as_uri())
            assert resource.text == "one\ntwo\nthree\n"

    asyncio.run(body())


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_served(mcp_served_client: Any, root: Path, tmp_path: Path, transport: str) -> None:
    config = tmp_path / "mcp-runner.toml"
    config.write_text(f"[plugins.files]\nroots = [{json.dumps(str(root))}]\n")

    async def body() -> None:
        async with mcp_served_client(transport=transport, config=config, only=["files"]) as client:
            roots = await client.call_tool("list_roots")
            assert roots.structured_content["result"][0]["path"] == str(root)
            listing = await client.call_tool("list_directory", {"path": "."})
            assert {e["name"] for e in listing.structured_content["entries"]} == {
                "hello.txt",
                "src",
            }

    asyncio.run(body())
