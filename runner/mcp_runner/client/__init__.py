"""An async MCP client: stdio, Streamable HTTP and in-process transports, both protocol eras.

::

    from mcp_runner.client import Client

    async with Client.stdio("mcp-runner", ["serve"]) as client:
        for tool in await client.list_tools():
            print(tool.name)
        result = await client.call_tool("add", {"a": 1, "b": 2})

The proxy builtin uses it to mount other servers; `mcp_runner.testing` uses it in tests.

Its modules: ``client`` (`Client`: connecting, the MCP methods, requests, dispatching what
arrives), ``outstanding`` (our requests awaiting answers), ``questions`` (answering the
server's sampling, elicitation and roots requests), ``negotiation`` (each era's handshake),
``transport`` (the `Transport` interface and the `Sink` it feeds), the transports ``stdio``,
``http`` (with ``sse``, the event-stream reader) and ``inprocess``; ``types`` (the results)
and ``errors``. The ``oauth`` package (`mcp_runner.client.oauth.OAuth`, imported on its own)
authorizes the HTTP transport: ``Client.http(url, auth=OAuth())``.
"""

from __future__ import annotations

from .client import Client
from .errors import (
    ConnectionClosed,
    Interrupted,
    McpClientError,
    RequestTimeout,
    SessionExpired,
)
from .http import HttpTransport
from .inprocess import InProcessTransport
from .outstanding import Outstanding
from .stdio import StdioTransport
from .tasks import Task, TaskClient
from .transport import Sink, Transport
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
    "SessionExpired",
    "Sink",
    "StdioTransport",
    "Task",
    "TaskClient",
    "Tool",
    "Transport",
]
