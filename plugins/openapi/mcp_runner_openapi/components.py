"""The served components of a bridged API: a tool, resource or resource template per
operation, each an ordinary component of the host (namespaces, scopes, timeouts and
middleware apply) whose call is one request to the API."""

from __future__ import annotations

from typing import Any

from mcp_runner import Context, EmbeddedResource, McpError, ToolResult
from mcp_runner.components import Resource, Tool

from .calls import Api, CallFailed, error_text, failure, resource_value, tool_result
from .operations import Operation
from .validate import Validator

INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002


class OperationCall:
    """The handler of an operation served as a tool (`Tool.from_schema`): arguments checked
    against its input schema, then one request; the answer checked against its output
    schema."""

    __slots__ = ("api", "arguments_validator", "operation", "output_validator", "tool")

    def __init__(self, api: Api, operation: Operation) -> None:
        self.api = api
        self.operation = operation
        self.tool: Tool | None = None  # the tool it serves, for its name as served
        self.arguments_validator: Validator | None = None
        self.output_validator: Validator | None = None

    async def __call__(self, arguments: dict[str, Any], ctx: Context) -> ToolResult:
        """Validate, send (with the caller's principal, for ``auth = "passthrough"``), and
        turn the answer into the tool's result."""
        operation = self.operation
        validator = self.arguments_validator
        if validator is None:  # compiled on the first call, so start-up stays fast
            validator = self.arguments_validator = Validator(operation.input_schema)
            if operation.output_schema is not None:
                self.output_validator = Validator(operation.output_schema)
        problems = validator.errors(arguments)
        if problems:
            name = self.tool.name if self.tool is not None else operation.name
            return failure(f"Invalid arguments for tool {name!r}: {'; '.join(problems)}")
        try:
            reply = await self.api.send(operation, arguments, ctx.principal)
        except CallFailed as exc:
            return failure(str(exc))
        return tool_result(self.api, operation, reply, self.output_validator)


class OperationRead:
    """The handler of a GET operation served as a resource or a resource template
    (`Resource.from_handler`): the template's variables are its path parameters."""

    __slots__ = ("api", "operation")

    def __init__(self, api: Api, operation: Operation) -> None:
        self.api = api
        self.operation = operation

    async def __call__(self, uri: str, arguments: dict[str, Any], ctx: Context) -> EmbeddedResource:
        """The answer of the GET as the contents; a 404 is "resource not found"."""
        api, operation = self.api, self.operation
        try:
            reply = await api.send(operation, arguments, ctx.principal)
        except CallFailed as exc:
            raise McpError(INTERNAL_ERROR, str(exc), {"uri": uri}) from None
        if reply.status == 404:
            raise McpError(RESOURCE_NOT_FOUND, error_text(api, operation, reply), {"uri": uri})
        if reply.status >= 400:
            raise McpError(INTERNAL_ERROR, error_text(api, operation, reply), {"uri": uri})
        return resource_value(uri, reply)


def annotations_of(operation: Operation) -> dict[str, Any]:
    """Tool annotations from the HTTP method's semantics."""
    method = operation.method
    out: dict[str, Any] = {"openWorldHint": True}
    if operation.summary:
        out["title"] = operation.summary
    if method in ("get", "head", "options"):
        out["readOnlyHint"] = True
    else:
        out["readOnlyHint"] = False
        out["destructiveHint"] = method == "delete"
        out["idempotentHint"] = method in ("put", "delete")
    return out


def component_for(api: Api, operation: Operation, uri_scheme: str) -> Tool | Resource:
    """The tool, resource or resource template that serves `operation` (raises
    `DefinitionError` for a path that no URI template can hold)."""
    if operation.kind == "tool":
        handler = OperationCall(api, operation)
        handler.tool = Tool.from_schema(
            operation.name,
            operation.input_schema,
            handler,
            description=operation.text(),
            annotations=annotations_of(operation),
            output_schema=operation.output_schema,
            meta={"openapi": {"method": operation.method.upper(), "path": operation.path}},
        )
        return handler.tool
    return Resource.from_handler(
        f"{uri_scheme}://{operation.path.lstrip('/')}",
        OperationRead(api, operation),
        name=operation.name,
        title=operation.summary,
        description=operation.text(),
    )
