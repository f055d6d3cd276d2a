"""The benchmark's mcp-runner plugin: the same two tools every server in the benchmark has."""

from mcp_runner import Plugin

plugin = Plugin("bench", description="Benchmark tools")


@plugin.tool
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@plugin.tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b
