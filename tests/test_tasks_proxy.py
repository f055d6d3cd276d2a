"""The proxy relays a backend's tasks: a backend (`mcp-runner serve` with the conformance
plugin, over stdio) answers a forwarded call with a task, and our client sees it under an id
namespaced by the backend, polls, answers, cancels and collects it through the proxy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_runner.client import Client
from mcp_runner.testing import make_runner

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "proxy"))
from helpers import mcp_runner

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def mounted(tmp_path: Path) -> Any:
    backend = {
        "command": mcp_runner(),
        "args": ["serve"],
        "env": {"MCP_RUNNER_PLUGINS": "conformance", "MCP_RUNNER_TASKS__POLL_INTERVAL": "0.05"},
        "cwd": str(tmp_path),
    }
    runner = make_runner(settings={"proxy": {"servers": {"cf": backend}}})
    assert runner.host.records["proxy"].status == "ok", runner.host.records["proxy"].error
    return runner


async def confirm(params: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"confirm": True}}


async def test_a_backends_task_is_relayed_under_a_namespaced_id(tmp_path: Path) -> None:
    runner = mounted(tmp_path)
    async with Client.inprocess(runner, era="modern", elicitation=confirm) as client:
        task = await client.tasks.start("cf_slow_compute", {"seconds": 0.2, "label": "far"})
        assert task.status == "working" and task.id.startswith("cf:")
        assert (await client.tasks.get(task.id)).id == task.id
        assert (await client.tasks.result(task, timeout=10)).text == "Computed far after 0.2 s"

        asking = await client.tasks.start("cf_confirm_delete", {"filename": "f.txt"})
        done = await client.tasks.wait(asking, timeout=10)  # input answered through the proxy
        assert done.status == "completed" and done.result is not None
        assert done.result.text == "Deleted f.txt"

        long = await client.tasks.start("cf_slow_compute", {"seconds": 30})
        await client.tasks.cancel(long.id)
        assert (await client.tasks.wait(long, timeout=10)).status == "cancelled"

        with pytest.raises(Exception) as unknown:
            await client.tasks.get("cf:no-such-task")
        assert getattr(unknown.value, "code", None) == -32602


async def test_a_client_without_the_extension_gets_the_result(tmp_path: Path) -> None:
    runner = mounted(tmp_path)
    async with Client.inprocess(runner, era="modern") as client:
        result = await client.call_tool("cf_slow_compute", {"seconds": 0.1, "label": "plain"})
        assert not result.is_error and result.text == "Computed plain after 0.1 s"
        assert result.raw.get("resultType") == "complete"
