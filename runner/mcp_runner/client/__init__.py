"""An async MCP client: stdio, Streamable HTTP and in-process transports, both protocol eras.

::

    from mcp_runner.client import Client

    async with Client.stdio("mcp-runner", ["serve"]) as client:
        for tool in await client.list_tools():
            print(tool.name)
        result = await client.call_tool("add", {"a": 1, "b": 2})

The proxy builtin uses it to mount other servers; `mcp_runner.testing` uses it in tests.
"""

from __future__ import annotations

from .client import Client, Outstanding
from .errors import ConnectionClosed, Interrupted, McpClientError, RequestTimeout
from .http import HttpTransport
from .inprocess import InProcessTransport
from .stdio import StdioTransport
from .transport import Transport
from .types import (
    CallToolResult,
    Completion,
    GetPromptResult,
    LogMessage,
    Progress,
    Prompt,
    PromptArgument,
    PromptMessage,
    ReadResourceResult,
    RequestInfo,
    Resource,
    ResourceContents,
    ResourceTemplate,
    ServerInfo,
    Tool,
)

__all__ = [
    "CallToolResult",
    "Client",
    "Completion",
    "ConnectionClosed",
    "GetPromptResult",
    "HttpTransport",
    "InProcessTransport",
    "Interrupted",
    "LogMessage",
    "McpClientError",
    "Outstanding",
    "Progress",
    "Prompt",
    "PromptArgument",
    "PromptMessage",
    "ReadResourceResult",
    "RequestInfo",
    "RequestTimeout",
    "Resource",
    "ResourceContents",
    "ResourceTemplate",
    "ServerInfo",
    "StdioTransport",
    "Tool",
    "Transport",
]
