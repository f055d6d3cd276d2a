"""task_demo: tools that run as tasks, for the two-replica tasks test."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp_runner import Context, Plugin

plugin = Plugin("task_demo", description="Tools that run as tasks", version="0.1.0")

NAME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}
#: How many long_job calls this process saw interrupted by a cancellation.
interrupted = 0


@plugin.tool(task="required")
async def long_job(seconds: float, ctx: Context) -> str:
    """Works `seconds`, then answers; always a task

    Args:
        seconds: How long to work
    """
    global interrupted
    await ctx.report_progress(0, 1, "started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        interrupted += 1
        raise
    return f"done after {seconds:g} s"


@plugin.tool(task="required")
async def ask_name(ctx: Context) -> str:
    """Asks for a name inside the task, then greets"""
    answer = await ctx.elicit("What is your name?", NAME_SCHEMA, key="name")
    return f"Hello, {answer.get('content', {}).get('name', 'stranger')}!"


@plugin.tool
def interrupted_here() -> int:
    """How many long_job calls this replica saw cancelled"""
    return interrupted
