"""A fixture plugin for the replica tests: a resource, and a tool that announces it changed."""

from __future__ import annotations

from mcp_runner import Context, Plugin

plugin = Plugin("scale_demo", description="Announces resource changes from any replica")


@plugin.resource("scale://note", mime_type="text/plain", description="A note that changes")
def note() -> str:
    """The note."""
    return "a note"


@plugin.tool
async def touch(uri: str, ctx: Context) -> str:
    """Tell every subscriber of `uri` that it changed."""
    ctx.runner.notify_resource_updated(uri)
    return f"touched {uri}"
