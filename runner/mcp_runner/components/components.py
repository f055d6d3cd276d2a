"""The served components: `Tool`, `Resource`, `ResourceTemplate` and `Prompt`, each built once
from a plain function and its options, and run per request.

Building (schemas, validators, result converters) happens at composition; a call only
validates its arguments, runs the function and converts what it returned.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..context import Context
from ..protocol.errors import INVALID_PARAMS, McpError
from ..protocol.tasks import TASK_SUPPORT
from ..types import ToolError, ToolResult
from .content import error_result, prompt_message, resource_contents, to_content, to_json_text
from .errors import DefinitionError
from .schema import Signature, describe_validation_error, inspect_function, output_schema_of
from .uritemplate import compile_template, is_template, match_template

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
"""What a tool name may be, as composed: 1 to 64 characters of ``A-Z a-z 0-9 _ . -``."""

TaskSupport = Literal["never", "optional", "required"]
"""Whether a tool's call may run as a task: ``never`` (the default), ``optional`` (when the
client declared the tasks extension) or ``required`` (a client without it is refused)."""

ToolHandler = Callable[[dict[str, Any], Context], Awaitable[Any]]
"""What `Tool.from_schema` serves: ``async def handler(arguments, ctx) -> value``."""

ResourceHandler = Callable[[str, dict[str, Any], Context], Awaitable[Any]]
"""What `Resource.from_handler` serves: ``async def handler(uri, arguments, ctx) -> value``."""


class ToolOptions(TypedDict, total=False):
    """The options of a tool, the same wherever one is added: ``@plugin.tool(...)``,
    ``registry.add_tool(fn, ...)`` and ``runner.add_tool(fn, ...)`` (see `Tool.from_function`)."""

    name: str | None
    title: str | None
    description: str | None
    annotations: dict[str, Any] | BaseModel | None
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | Literal[False] | None
    scopes: Iterable[str]
    timeout: float | None
    meta: dict[str, Any] | None
    task: TaskSupport
    defer_task: bool


class ResourceOptions(TypedDict, total=False):
    """The options of a resource or resource template, the same wherever one is added:
    ``@plugin.resource(uri, ...)``, ``registry.add_resource(fn, uri, ...)`` and
    ``runner.add_resource(fn, uri, ...)`` (see `make_resource`)."""

    name: str | None
    title: str | None
    description: str | None
    mime_type: str | None
    annotations: dict[str, Any] | None
    size: int | None
    meta: dict[str, Any] | None


class PromptOptions(TypedDict, total=False):
    """The options of a prompt, the same wherever one is added: ``@plugin.prompt(...)``,
    ``registry.add_prompt(fn, ...)`` and ``runner.add_prompt(fn, ...)``
    (see `Prompt.from_function`)."""

    name: str | None
    title: str | None
    description: str | None
    meta: dict[str, Any] | None


@dataclass(slots=True, eq=False)
class Component:
    """Common to every served item: the plugin that owns it and that plugin's settings."""

    plugin: str = ""
    settings: Any = None

    def wire(self) -> dict[str, Any]:
        """The item as its list method answers it (``tools/list``, ``resources/list``, ...)."""
        raise NotImplementedError


@dataclass(slots=True, eq=False)
class Tool(Component):
    """A tool: a function whose arguments are validated against its ``inputSchema`` and whose
    return value becomes a ``CallToolResult``."""

    name: str = ""
    signature: Signature = None  # type: ignore[assignment]
    description: str | None = None
    title: str | None = None
    annotations: dict[str, Any] | None = None
    input_schema: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    output_adapter: TypeAdapter[Any] | None = None
    wrap_output: bool = False
    scopes: tuple[str, ...] = ()
    timeout: float | None = None
    meta: dict[str, Any] | None = None
    task: TaskSupport = "never"
    defer_task: bool = False

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | BaseModel | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | Literal[False] | None = None,
        scopes: Iterable[str] = (),
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        task: TaskSupport = "never",
        defer_task: bool = False,
    ) -> Tool:
        """A tool from a function and the `ToolOptions`.

        The name defaults to the function's, the description to its docstring's summary, the
        input schema to its parameters' and the output schema to its return annotation's
        (``output_schema=False`` publishes none). With ``task="optional"`` or ``"required"``
        a call runs as a task for a client that declared the tasks extension: at once, or with
        ``defer_task=True`` once the function awaits ``ctx.begin_task()`` (it may ask for input
        before). Raises `DefinitionError`.
        """
        sig = inspect_function(fn)
        tool_name = name or fn.__name__
        _check_task(tool_name, task)
        if not TOOL_NAME.match(tool_name):
            raise DefinitionError(
                f"tool name {tool_name!r} must be 1-64 characters of A-Z a-z 0-9 _ . -"
            )
        adapter, schema, wrapped = (None, None, False)
        if output_schema is None:
            try:
                adapter, schema, wrapped = output_schema_of(
                    sig.hints.get("return", inspect.Signature.empty)
                )
            except Exception as exc:
                raise DefinitionError(
                    f"{tool_name}: no JSON Schema for its return type: {exc}"
                ) from exc
        elif output_schema is not False:
            schema = output_schema
        if isinstance(annotations, BaseModel):
            annotations = annotations.model_dump(exclude_none=True)
        return cls(
            name=tool_name,
            signature=sig,
            description=description or sig.description,
            title=title,
            annotations=dict(annotations) if annotations else None,
            input_schema=input_schema or sig.schema,
            output_schema=schema,
            output_adapter=adapter,
            wrap_output=wrapped,
            scopes=tuple(scopes),
            timeout=timeout,
            meta=meta,
            task=task,
            defer_task=defer_task,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        input_schema: dict[str, Any],
        handler: ToolHandler,
        *,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | BaseModel | None = None,
        output_schema: dict[str, Any] | None = None,
        scopes: Iterable[str] = (),
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        task: TaskSupport = "never",
        defer_task: bool = False,
    ) -> Tool:
        """A tool from a JSON Schema and an async callable, for a tool that is no Python
        function's signature (an API operation, a generated or configured tool).

        ``await handler(arguments, ctx)`` runs each call: `arguments` is the dict the client
        sent, not checked against `input_schema` (which is what ``tools/list`` publishes), and
        `ctx` the request's `Context`. What it returns becomes the result as a tool function's
        return value does (with `output_schema`, a value is the ``structuredContent``; a
        `ToolResult` gives full control), and a `ToolError` it raises an ``isError`` result.
        Raises `DefinitionError` for a name that cannot be served.
        """
        if not TOOL_NAME.match(name):
            raise DefinitionError(
                f"tool name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . -"
            )
        _check_task(name, task)
        if isinstance(annotations, BaseModel):
            annotations = annotations.model_dump(exclude_none=True)
        return SchemaTool(
            name=name,
            description=description,
            title=title,
            annotations=dict(annotations) if annotations else None,
            input_schema=input_schema,
            output_schema=output_schema,
            scopes=tuple(scopes),
            timeout=timeout,
            meta=meta,
            task=task,
            defer_task=defer_task,
            handler=handler,
        )

    def wire(self) -> dict[str, Any]:
        """The tool as ``tools/list`` answers it."""
        out: dict[str, Any] = {"name": self.name}
        if self.title:
            out["title"] = self.title
        out["description"] = self.description or ""
        out["inputSchema"] = self.input_schema
        if self.output_schema is not None:
            out["outputSchema"] = self.output_schema
        if self.annotations:
            out["annotations"] = self.annotations
        if self.meta:
            out["_meta"] = self.meta
        return out

    async def call(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        """Run the tool; argument problems and `ToolError`s become `isError` results."""
        sig = self.signature
        try:
            kwargs = sig.bind(arguments, request, self)
        except ValidationError as exc:
            return error_result(
                f"Invalid arguments for tool {self.name!r}: {describe_validation_error(exc)}"
            )
        try:
            value = await sig.run(kwargs)
        except ToolError as exc:
            return error_result(str(exc))
        return self.to_result(value)

    def to_result(self, value: Any) -> dict[str, Any]:
        """The ``CallToolResult`` for what the function returned: structured content when the
        tool has an output schema (a value that does not match it is an `isError` result),
        content blocks otherwise."""
        if isinstance(value, ToolResult):
            result: dict[str, Any] = {"content": [b for v in value.content for b in to_content(v)]}
            if value.structured_content is not None:
                result["structuredContent"] = value.structured_content
            if value.is_error:
                result["isError"] = True
            if value.meta:
                result["_meta"] = value.meta
            return result
        if self.output_adapter is not None:
            try:
                data = self.output_adapter.dump_python(
                    self.output_adapter.validate_python(value), mode="json"
                )
            except (ValidationError, pydantic_core.PydanticSerializationError) as exc:
                detail = (
                    describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                )
                return error_result(
                    f"Tool {self.name!r} returned a value that does not match its output schema: "
                    f"{detail}"
                )
            text = data if isinstance(data, str) else to_json_text(data)
            structured = {"result": data} if self.wrap_output else data
            return {"content": [{"type": "text", "text": text}], "structuredContent": structured}
        if self.output_schema is not None:  # declared by hand: the value is the structure
            data = pydantic_core.to_jsonable_python(value, fallback=str)
            return {
                "content": [{"type": "text", "text": to_json_text(data)}],
                "structuredContent": data,
            }
        return {"content": to_content(value)}


def _check_task(name: str, task: str) -> None:
    if task not in TASK_SUPPORT:
        raise DefinitionError(
            f"{name}: task must be one of {', '.join(TASK_SUPPORT)}, not {task!r}"
        )


@dataclass(slots=True, eq=False)
class SchemaTool(Tool):
    """A tool that `Tool.from_schema` built: its `handler` takes the arguments as sent."""

    handler: ToolHandler = None  # type: ignore[assignment]

    async def call(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        """Run the handler; a `ToolError` becomes an `isError` result."""
        try:
            value = await self.handler(arguments, Context(request, self))
        except ToolError as exc:
            return error_result(str(exc))
        return self.to_result(value)


@dataclass(slots=True, eq=False)
class Resource(Component):
    """A resource at a fixed URI: a function without arguments whose return value becomes the
    ``contents`` of ``resources/read``."""

    uri: str = ""
    name: str = ""
    signature: Signature = None  # type: ignore[assignment]
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    annotations: dict[str, Any] | None = None
    size: int | None = None
    meta: dict[str, Any] | None = None

    @classmethod
    def from_handler(
        cls,
        uri: str,
        handler: ResourceHandler,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        annotations: dict[str, Any] | None = None,
        size: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Resource:
        """A resource at a fixed URI, or a resource template for an RFC 6570 template, read by
        an async callable instead of a function's parameters (`Tool.from_schema`'s
        counterpart); the options are the `ResourceOptions`.

        ``await handler(uri, arguments, ctx)`` answers each read: `uri` as the client asked
        it, `arguments` the template's variables matched from it (empty for a fixed URI),
        `ctx` the request's `Context`. What it returns becomes the contents as a resource
        function's return value does, and an `McpError` it raises is the client's error.
        Raises `DefinitionError` for a template that cannot be compiled.
        """
        common: dict[str, Any] = dict(
            uri=uri,
            name=name or uri,
            signature=_HANDLER_SIGNATURE,
            title=title,
            description=description,
            mime_type=mime_type,
            annotations=dict(annotations) if annotations else None,
            meta=meta,
            handler=handler,
        )
        if not is_template(uri):
            return HandlerResource(size=size, **common)
        pattern, variables, exploded = compile_template(uri)
        return HandlerTemplate(pattern=pattern, variables=variables, exploded=exploded, **common)

    def wire(self) -> dict[str, Any]:
        """The resource as ``resources/list`` answers it."""
        out: dict[str, Any] = {"uri": self.uri, "name": self.name}
        if self.title:
            out["title"] = self.title
        out["description"] = self.description or ""
        if self.mime_type:
            out["mimeType"] = self.mime_type
        if self.annotations:
            out["annotations"] = self.annotations
        if self.size is not None:
            out["size"] = self.size
        if self.meta:
            out["_meta"] = self.meta
        return out

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        """The ``contents`` for `uri`; `arguments` are a template's variables (raises `McpError`
        ``-32602`` when they do not validate)."""
        sig = self.signature
        try:
            kwargs = sig.bind(arguments, request, self)
        except ValidationError as exc:
            raise McpError(
                INVALID_PARAMS,
                f"Invalid resource URI {uri!r}: {describe_validation_error(exc)}",
                {"uri": uri},
            ) from exc
        return resource_contents(uri, await sig.run(kwargs), self.mime_type)


@dataclass(slots=True, eq=False)
class ResourceTemplate(Resource):
    """A resource template: `uri` is an RFC 6570 template whose variables are the function's
    arguments, matched from the URI a client reads."""

    pattern: re.Pattern[str] = None  # type: ignore[assignment]
    variables: tuple[str, ...] = ()
    exploded: dict[str, str] = field(default_factory=dict)  # variable -> separator

    def wire(self) -> dict[str, Any]:
        """The template as ``resources/templates/list`` answers it."""
        out = Resource.wire(self)
        out["uriTemplate"] = out.pop("uri")
        out.pop("size", None)
        return out

    def match(self, uri: str) -> dict[str, Any] | None:
        """The variables of `uri` if this template matches it, else None."""
        return match_template(self.pattern, self.exploded, uri)


# A handler's resource has no parameters of its own: its variables reach the handler as matched.
_HANDLER_SIGNATURE = Signature(
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
class HandlerResource(Resource):
    """A resource that `Resource.from_handler` built for a fixed URI."""

    handler: ResourceHandler = None  # type: ignore[assignment]

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        """The handler's answer as the ``contents``."""
        value = await self.handler(uri, arguments, Context(request, self))
        return resource_contents(uri, value, self.mime_type)


@dataclass(slots=True, eq=False)
class HandlerTemplate(ResourceTemplate):
    """A resource template that `Resource.from_handler` built: the handler gets its variables."""

    handler: ResourceHandler = None  # type: ignore[assignment]

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        """The handler's answer for the variables matched from `uri`, as the ``contents``."""
        value = await self.handler(uri, arguments, Context(request, self))
        return resource_contents(uri, value, self.mime_type)


def make_resource(
    fn: Callable[..., Any],
    uri: str,
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    mime_type: str | None = None,
    annotations: dict[str, Any] | None = None,
    size: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Resource:
    """A `Resource` for a fixed URI, or a `ResourceTemplate` for an RFC 6570 template, from a
    function and the `ResourceOptions`.

    Raises `DefinitionError` when the function's parameters and the template's variables
    disagree (a fixed URI takes no arguments).
    """
    sig = inspect_function(fn)
    common = dict(
        uri=uri,
        name=name or getattr(fn, "__name__", uri),
        signature=sig,
        title=title,
        description=description or sig.description,
        mime_type=mime_type,
        annotations=dict(annotations) if annotations else None,
        meta=meta,
    )
    if not is_template(uri):
        if sig.params:
            raise DefinitionError(
                f"resource {uri!r}: a fixed URI takes no arguments, but {fn.__name__} has "
                f"{', '.join(sig.params)} (use a URI template such as '{uri}/{{id}}')"
            )
        return Resource(size=size, **common)  # type: ignore[arg-type]
    pattern, variables, exploded = compile_template(uri)
    missing = [
        p for p, param in sig.params.items() if p not in variables and param.default is param.empty
    ]
    unknown = [v for v in variables if v not in sig.params]
    if missing or unknown:
        raise DefinitionError(
            f"resource template {uri!r} and {fn.__name__}() disagree: "
            + "; ".join(
                ([f"parameters not in the template: {', '.join(missing)}"] if missing else [])
                + ([f"template variables not parameters: {', '.join(unknown)}"] if unknown else [])
            )
        )
    return ResourceTemplate(pattern=pattern, variables=variables, exploded=exploded, **common)  # type: ignore[arg-type]


@dataclass(slots=True, eq=False)
class Prompt(Component):
    """A prompt: a function whose parameters are the prompt's arguments and whose return value
    becomes the messages of ``prompts/get``."""

    name: str = ""
    signature: Signature = None  # type: ignore[assignment]
    title: str | None = None
    description: str | None = None
    arguments: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] | None = None

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Prompt:
        """A prompt from a function and the `PromptOptions` (raises `DefinitionError`)."""
        sig = inspect_function(fn)
        props = sig.schema.get("properties", {})
        required = set(sig.schema.get("required", ()))
        arguments = []
        for arg in sig.params:
            entry: dict[str, Any] = {"name": arg}
            if desc := props.get(arg, {}).get("description") or sig.param_docs.get(arg):
                entry["description"] = desc
            entry["required"] = arg in required
            arguments.append(entry)
        prompt_name = name or fn.__name__
        return cls(
            name=prompt_name,
            signature=sig,
            title=title,
            description=description or sig.description,
            arguments=arguments,
            meta=meta,
        )

    def wire(self) -> dict[str, Any]:
        """The prompt as ``prompts/list`` answers it."""
        out: dict[str, Any] = {"name": self.name}
        if self.title:
            out["title"] = self.title
        out["description"] = self.description or ""
        if self.arguments:
            out["arguments"] = self.arguments
        if self.meta:
            out["_meta"] = self.meta
        return out

    async def get(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        """The ``GetPromptResult`` for `arguments` (raises `McpError` ``-32602`` when they do
        not validate)."""
        sig = self.signature
        try:
            kwargs = sig.bind(arguments, request, self)
        except ValidationError as exc:
            raise McpError(
                INVALID_PARAMS,
                f"Invalid arguments for prompt {self.name!r}: {describe_validation_error(exc)}",
            ) from exc
        value = await sig.run(kwargs)
        result: dict[str, Any] = {}
        if self.description:
            result["description"] = self.description
        items = value if isinstance(value, list | tuple) else [value]
        result["messages"] = [prompt_message(item) for item in items]
        return result
