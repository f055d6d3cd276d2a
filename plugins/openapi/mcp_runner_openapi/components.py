"""The served components of a bridged API: a tool, resource or resource template per
operation, each an ordinary component of the host (namespaces, scopes, timeouts and
middleware apply) whose call is one request to the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp_runner import McpError
from mcp_runner.components import (
    Resource,
    ResourceTemplate,
    Signature,
    Tool,
    compile_template,
    error_result,
)

from .calls import Api, CallFailed, error_text, resource_contents, tool_result
from .operations import Operation
from .validate import Validator

INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

# A bridged component has no Python function: its arguments are checked against its JSON
# Schema by `Validator`, so the host's signature is an empty one.
NO_SIGNATURE = Signature(
    fn=None,  # type: ignore[arg-type]
    is_async=True,
    context_param=None,
    params={},
    adapter=None,  # type: ignore[arg-type]
    schema={},
    description=None,
    param_docs={},
    hints={},
)


@dataclass(slots=True, eq=False)
class OperationTool(Tool):
    """An operation served as a tool: arguments checked against its input schema, then one
    request; the answer checked against its output schema."""

    api: Api = None  # type: ignore[assignment]
    operation: Operation = None  # type: ignore[assignment]
    arguments_validator: Validator | None = None
    output_validator: Validator | None = None

    async def call(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        """Validate, send, and turn the answer into a ``CallToolResult``."""
        validator = self.arguments_validator
        if validator is None:  # compiled on the first call, so start-up stays fast
            validator = self.arguments_validator = Validator(self.input_schema)
            if self.output_schema is not None:
                self.output_validator = Validator(self.output_schema)
        problems = validator.errors(arguments)
        if problems:
            return error_result(f"Invalid arguments for tool {self.name!r}: {'; '.join(problems)}")
        try:
            reply = await self.api.send(self.operation, arguments)
        except CallFailed as exc:
            return error_result(str(exc))
        return tool_result(self.api, self.operation, reply, self.output_validator)


async def _read(
    api: Api, operation: Operation, uri: str, arguments: dict[str, Any]
) -> list[dict[str, Any]]:
    try:
        reply = await api.send(operation, arguments)
    except CallFailed as exc:
        raise McpError(INTERNAL_ERROR, str(exc), {"uri": uri}) from None
    if reply.status == 404:
        raise McpError(RESOURCE_NOT_FOUND, error_text(api, operation, reply), {"uri": uri})
    if reply.status >= 400:
        raise McpError(INTERNAL_ERROR, error_text(api, operation, reply), {"uri": uri})
    return resource_contents(uri, reply)


@dataclass(slots=True, eq=False)
class OperationResource(Resource):
    """A GET operation without arguments served as a resource."""

    api: Api = None  # type: ignore[assignment]
    operation: Operation = None  # type: ignore[assignment]

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        """The answer of the GET as the resource's contents."""
        return await _read(self.api, self.operation, uri, arguments)


@dataclass(slots=True, eq=False)
class OperationTemplate(ResourceTemplate):
    """A GET operation whose arguments are all in its path served as a resource template;
    the template's variables are the path parameters."""

    api: Api = None  # type: ignore[assignment]
    operation: Operation = None  # type: ignore[assignment]

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        """The answer of the GET, its path filled from the URI, as the contents."""
        return await _read(self.api, self.operation, uri, arguments)


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
    """The tool, resource or resource template that serves `operation`."""
    if operation.kind == "tool":
        return OperationTool(
            name=operation.name,
            signature=NO_SIGNATURE,
            description=operation.text(),
            annotations=annotations_of(operation),
            input_schema=operation.input_schema,
            output_schema=operation.output_schema,
            meta={"openapi": {"method": operation.method.upper(), "path": operation.path}},
            api=api,
            operation=operation,
        )
    uri = f"{uri_scheme}://{operation.path.lstrip('/')}"
    common: dict[str, Any] = dict(
        uri=uri,
        name=operation.name,
        signature=NO_SIGNATURE,
        title=operation.summary,
        description=operation.text(),
        api=api,
        operation=operation,
    )
    if operation.kind == "resource":
        return OperationResource(**common)
    pattern, variables, exploded = compile_template(uri)
    return OperationTemplate(pattern=pattern, variables=variables, exploded=exploded, **common)
