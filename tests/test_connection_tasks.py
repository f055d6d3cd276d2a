"""A request run as a task of its own (stdio, the in-process client): its in-flight slot is
freed however the task ends, even when it is cancelled before it ever ran."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp_runner import Plugin
from mcp_runner.config import Settings
from mcp_runner.protocol.session import DirectOutlet
from mcp_runner.runner import Runner

adder = Plugin("adder")


@adder.tool()
async def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


def _connection(answers: list[dict[str, Any]]) -> Any:
    runner = Runner(Settings(), plugins={"adder": adder}, entry_points=False)

    async def deliver(message: dict[str, Any]) -> None:
        answers.append(message)

    connection = runner.connect("inprocess", deliver)
    connection.session.version, connection.session.initialized = "2025-11-25", True
    return connection, DirectOutlet(deliver)


def _call(request_id: int) -> dict[str, Any]:
    params = {"name": "add", "arguments": {"a": 1, "b": 2}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def test_a_request_cancelled_before_it_ran_frees_its_slot() -> None:
    async def scenario() -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        connection, outlet = _connection(answers)
        assert connection.accept(_call(1), outlet) is None
        in_flight = connection.session.in_flight
        task = in_flight[1].task
        withdraw = {"jsonrpc": "2.0", "method": "notifications/cancelled"}
        connection.accept({**withdraw, "params": {"requestId": 1}}, outlet)  # before it ran
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # the done-callbacks
        assert task.cancelled() and not in_flight
        assert connection.accept(_call(1), outlet) is None  # the id is free again
        await asyncio.sleep(0.05)
        return answers

    answers = asyncio.run(scenario())
    assert [answer["id"] for answer in answers] == [1]  # the withdrawn call got no answer
    assert answers[0]["result"]["content"][0]["text"] == "3"


def test_requests_that_ran_leave_no_slot() -> None:
    async def scenario() -> tuple[int, int]:
        answers: list[dict[str, Any]] = []
        connection, outlet = _connection(answers)
        for request_id in range(1, 65):
            assert connection.accept(_call(request_id), outlet) is None
        while len(answers) < 64:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        return len(answers), len(connection.session.in_flight)

    assert asyncio.run(scenario()) == (64, 0)
