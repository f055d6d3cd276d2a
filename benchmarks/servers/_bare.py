"""The JSON-RPC answering core shared by the bare baselines (stdlib only).

Just enough MCP to be driven by the benchmark: initialize, ping, tools/list and
tools/call for echo/add (plus generated tools that echo their text), answered with
the same result shapes the real servers send (content + structuredContent), but
with no validation, middleware or dispatch layers. It is the floor under what any
Python MCP server can cost.
"""

from __future__ import annotations

import json
import sys

from _common import generated_tool_names

_dumps = json.JSONEncoder(separators=(",", ":")).encode

MODERN = "2026-07-28"
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")


def _schema(props: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": props, "required": required}


def tool_catalogue(spec: str | None) -> list[dict]:
    tools = [
        {
            "name": "echo",
            "description": "Return the text unchanged.",
            "inputSchema": _schema({"text": {"type": "string"}}, ["text"]),
            "outputSchema": _schema({"result": {"type": "string"}}, ["result"]),
        },
        {
            "name": "add",
            "description": "Add two integers.",
            "inputSchema": _schema(
                {"a": {"type": "integer"}, "b": {"type": "integer"}}, ["a", "b"]
            ),
            "outputSchema": _schema({"result": {"type": "integer"}}, ["result"]),
        },
    ]
    if spec:
        prefix, _, shape = spec.partition(":")
        plugins, _, per = shape.partition("x")
        for name in generated_tool_names(prefix, int(plugins), int(per)):
            tools.append(
                {
                    "name": name,
                    "description": f"Generated benchmark tool {name}: returns its text argument.",
                    "inputSchema": _schema(
                        {"text": {"type": "string"}, "count": {"type": "integer", "default": 1}},
                        ["text"],
                    ),
                    "outputSchema": _schema({"result": {"type": "string"}}, ["result"]),
                }
            )
    return tools


class Answerer:
    def __init__(self, tools_spec: str | None) -> None:
        self.tools = tool_catalogue(tools_spec)
        self.names = {t["name"] for t in self.tools}

    def answer(self, msg: dict) -> dict | None:
        """The JSON-RPC response to one decoded message (None for a notification)."""
        if "id" not in msg:
            return None
        mid = msg["id"]
        method = msg.get("method")
        params = msg.get("params") or {}
        if method == "tools/call":
            name = params.get("name")
            args = params.get("arguments") or {}
            if name == "add":
                value = args["a"] + args["b"]
                text = str(value)
            elif name in self.names:
                value = text = args["text"]
            else:
                return {
                    "jsonrpc": "2.0",
                    "id": mid,
                    "error": {"code": -32602, "message": "Unknown tool"},
                }
            result = {
                "content": [{"type": "text", "text": text}],
                "structuredContent": {"result": value},
                "isError": False,
            }
        elif method == "tools/list":
            result = {"tools": self.tools}
        elif method == "initialize":
            asked = params.get("protocolVersion")
            result = {
                "protocolVersion": asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1],
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "bare", "version": "0"},
            }
        elif method == "ping":
            result = {}
        else:
            return {
                "jsonrpc": "2.0",
                "id": mid,
                "error": {"code": -32601, "message": "Method not found"},
            }
        if (
            method != "initialize"
            and params.get("_meta", {}).get("io.modelcontextprotocol/protocolVersion") == MODERN
        ):
            result["resultType"] = "complete"
        return {"jsonrpc": "2.0", "id": mid, "result": result}

    def answer_bytes(self, raw: bytes) -> bytes | None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return _dumps(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
            ).encode()
        reply = self.answer(msg)
        return None if reply is None else _dumps(reply).encode()


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)
