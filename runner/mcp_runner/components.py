"""Tools, resources, resource templates and prompts, compiled once from plain functions.

Compilation (schemas, validators, result converters) happens at composition; a call only
validates its arguments, runs the function and converts what it returned.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, get_args, get_origin
from urllib.parse import unquote

import pydantic_core
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

from . import _docstrings
from .context import Context
from .protocol.errors import INVALID_PARAMS, McpError
from .types import (
    CONTENT_TYPES,
    Audio,
    EmbeddedResource,
    Image,
    Message,
    ResourceLink,
    ToolError,
    ToolResult,
    sniff_mime,
)

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_CONTENT_CLASSES = (Image, Audio, EmbeddedResource, ResourceLink)
_UNSTRUCTURED = {str, bytes, bytearray, Image, Audio, EmbeddedResource, ResourceLink, ToolResult}


class DefinitionError(Exception):
    """A tool, resource or prompt definition that cannot be served (raised at composition)."""


# ---------------------------------------------------------------------------------------------
# Function signatures -> argument validators and JSON Schema


def _is_context(annotation: Any) -> bool:
    if annotation is Context:
        return True
    if get_origin(annotation) is Annotated:
        return _is_context(get_args(annotation)[0])
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_context(a) for a in get_args(annotation) if a is not type(None))
    return False


@dataclass(slots=True)
class Signature:
    """What a function takes: the validator for its arguments and their JSON Schema."""

    fn: Callable[..., Any]
    is_async: bool
    context_param: str | None
    params: dict[str, inspect.Parameter]
    adapter: TypeAdapter[Any]
    schema: dict[str, Any]
    description: str | None
    param_docs: dict[str, str]
    hints: dict[str, Any]

    def bind(self, arguments: Any, request: Any, component: Component) -> dict[str, Any]:
        """Validated keyword arguments, with the `Context` added (raises ValidationError)."""
        kwargs: dict[str, Any] = self.adapter.validate_python(arguments)
        if self.context_param:
            kwargs[self.context_param] = Context(request, component)
        return kwargs


def inspect_function(fn: Callable[..., Any]) -> Signature:
    if not callable(fn):
        raise DefinitionError(f"{fn!r} is not callable")
    target = inspect.unwrap(fn)
    is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise DefinitionError(f"cannot resolve the type hints of {fn.__qualname__}: {exc}") from exc
    description, param_docs = _docstrings.parse(inspect.getdoc(target))
    sig = inspect.signature(fn)
    fields: dict[str, Any] = {}
    params: dict[str, inspect.Parameter] = {}
    defaults: dict[str, Any] = {}
    context_param = None
    for name, p in sig.parameters.items():
        annotation = hints.get(name, Any)
        if _is_context(annotation):
            context_param = name
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DefinitionError(f"{fn.__qualname__}: *args and **kwargs cannot be tool arguments")
        if p.kind is p.POSITIONAL_ONLY:
            raise DefinitionError(f"{fn.__qualname__}: positional-only parameter {name!r}")
        if name in param_docs and not _has_description(annotation):
            annotation = Annotated[annotation, FieldInfo(description=param_docs[name])]
        params[name] = p
        if p.default is inspect.Parameter.empty:
            fields[name] = annotation
        else:
            fields[name] = NotRequired[annotation]
            defaults[name] = p.default
    arguments: Any = TypedDict(f"{fn.__name__}_arguments", fields)  # type: ignore[misc]
    arguments.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        arbitrary_types_allowed=True, extra="ignore"
    )
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(arguments)
        schema = adapter.json_schema()
    except Exception as exc:
        raise DefinitionError(
            f"{fn.__qualname__}: no JSON Schema for its arguments: {exc}"
        ) from exc
    schema.pop("title", None)
    for name, prop in schema.get("properties", {}).items():
        if prop.get("title") == name.replace("_", " ").title():
            del prop["title"]
        if name in defaults:
            with contextlib.suppress(pydantic_core.PydanticSerializationError):
                prop["default"] = pydantic_core.to_jsonable_python(defaults[name])
    schema.setdefault("properties", {})
    return Signature(
        fn, is_async, context_param, params, adapter, schema, description, param_docs, hints
    )


def _has_description(annotation: Any) -> bool:
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in get_args(annotation)[1:])


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problem = f"{where}: {err['msg']}"
        if err["type"] not in ("missing",) and "input" in err:
            shown = repr(err["input"])
            problem += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
        problems.append(problem)
    return "; ".join(problems)


async def _run(sig: Signature, kwargs: dict[str, Any]) -> Any:
    if sig.is_async:
        return await sig.fn(**kwargs)
    value = await asyncio.to_thread(functools.partial(sig.fn, **kwargs))
    if inspect.isawaitable(value):
        value = await value
    return value


# ---------------------------------------------------------------------------------------------
# Results -> wire content


def to_content(value: Any) -> list[dict[str, Any]]:
    """Content blocks for a value returned by a tool (without an output schema)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, _CONTENT_CLASSES):
        return [value.to_content()]
    if isinstance(value, bytes | bytearray):
        return [_bytes_content(bytes(value))]
    if isinstance(value, dict) and value.get("type") in CONTENT_TYPES:
        return [value]
    if isinstance(value, list | tuple) and any(_is_content_like(v) for v in value):
        blocks: list[dict[str, Any]] = []
        for item in value:
            blocks.extend(to_content(item) if _is_content_like(item) else [_json_text(item)])
        return blocks
    return [_json_text(value)]


def _is_content_like(value: Any) -> bool:
    return isinstance(value, (str, bytes, bytearray, *_CONTENT_CLASSES)) or (
        isinstance(value, dict) and value.get("type") in CONTENT_TYPES
    )


def _bytes_content(data: bytes) -> dict[str, Any]:
    mime = sniff_mime(data)
    encoded = base64.b64encode(data).decode()
    if mime.startswith("image/"):
        return {"type": "image", "data": encoded, "mimeType": mime}
    if mime.startswith("audio/"):
        return {"type": "audio", "data": encoded, "mimeType": mime}
    return {"type": "resource", "resource": {"uri": "data:", "mimeType": mime, "blob": encoded}}


def _json_text(value: Any) -> dict[str, Any]:
    return {"type": "text", "text": to_json_text(value)}


def to_json_text(value: Any) -> str:
    return pydantic_core.to_json(value, fallback=str).decode()


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _mentions_content(annotation: Any) -> bool:
    """Whether a return type holds content blocks anywhere (those are content, not data)."""
    if annotation in _UNSTRUCTURED:
        return True
    return _holds_blocks(annotation)


def _holds_blocks(annotation: Any) -> bool:
    if annotation in _CONTENT_CLASSES or annotation is ToolResult:
        return True
    return any(_holds_blocks(arg) for arg in get_args(annotation))


def _output_schema(annotation: Any) -> tuple[TypeAdapter[Any] | None, dict[str, Any] | None, bool]:
    """(adapter, outputSchema, wrapped) for a return annotation; no schema for content returns."""
    if (
        annotation in (inspect.Signature.empty, None, type(None), Any)
        or annotation in _UNSTRUCTURED
    ):
        return None, None, False
    if _mentions_content(annotation):
        return None, None, False
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    schema = adapter.json_schema(mode="serialization")
    if schema.get("type") == "object":
        return adapter, schema, False
    defs = schema.pop("$defs", None)
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {"result": schema},
        "required": ["result"],
    }
    if defs:
        wrapped["$defs"] = defs
    return adapter, wrapped, True


# ---------------------------------------------------------------------------------------------
# Components


@dataclass(slots=True, eq=False)
class Component:
    """Common to every served item: its owner and how it is described on the wire."""

    plugin: str = ""
    settings: Any = None

    def wire(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(slots=True, eq=False)
class Tool(Component):
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

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | None = None,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | Literal[False] | None = None,
        scopes: typing.Iterable[str] = (),
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Tool:
        sig = inspect_function(fn)
        tool_name = name or fn.__name__
        if not TOOL_NAME.match(tool_name):
            raise DefinitionError(
                f"tool name {tool_name!r} must be 1-64 characters of A-Z a-z 0-9 _ . -"
            )
        adapter, schema, wrapped = (None, None, False)
        if output_schema is None:
            try:
                adapter, schema, wrapped = _output_schema(
                    sig.hints.get("return", inspect.Signature.empty)
                )
            except Exception as exc:
                raise DefinitionError(
                    f"{tool_name}: no JSON Schema for its return type: {exc}"
                ) from exc
        elif output_schema is not False:
            schema = output_schema
        if annotations is not None and hasattr(annotations, "model_dump"):
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
        )

    def wire(self) -> dict[str, Any]:
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
            value = await _run(sig, kwargs)
        except ToolError as exc:
            return error_result(str(exc))
        return self.to_result(value)

    def to_result(self, value: Any) -> dict[str, Any]:
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


@dataclass(slots=True, eq=False)
class Resource(Component):
    uri: str = ""
    name: str = ""
    signature: Signature = None  # type: ignore[assignment]
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    annotations: dict[str, Any] | None = None
    size: int | None = None
    meta: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
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
        sig = self.signature
        try:
            kwargs = sig.bind(arguments, request, self)
        except ValidationError as exc:
            raise McpError(
                INVALID_PARAMS,
                f"Invalid resource URI {uri!r}: {describe_validation_error(exc)}",
                {"uri": uri},
            ) from exc
        return resource_contents(uri, await _run(sig, kwargs), self.mime_type)


def resource_contents(uri: str, value: Any, mime_type: str | None) -> list[dict[str, Any]]:
    if isinstance(value, EmbeddedResource):
        return [value.contents()]
    if isinstance(value, str):
        return [{"uri": uri, "mimeType": mime_type or "text/plain", "text": value}]
    if isinstance(value, bytes | bytearray):
        blob = base64.b64encode(value).decode()
        return [{"uri": uri, "mimeType": mime_type or sniff_mime(bytes(value)), "blob": blob}]
    if isinstance(value, list) and value and all(isinstance(v, EmbeddedResource) for v in value):
        return [v.contents() for v in value]
    return [{"uri": uri, "mimeType": mime_type or "application/json", "text": to_json_text(value)}]


@dataclass(slots=True, eq=False)
class ResourceTemplate(Resource):
    pattern: re.Pattern[str] = None  # type: ignore[assignment]
    variables: tuple[str, ...] = ()
    exploded: dict[str, str] = field(default_factory=dict)  # variable -> separator

    def wire(self) -> dict[str, Any]:
        out = Resource.wire(self)
        out["uriTemplate"] = out.pop("uri")
        out.pop("size", None)
        return out

    def match(self, uri: str) -> dict[str, Any] | None:
        m = self.pattern.match(uri)
        if m is None:
            return None
        values: dict[str, Any] = {}
        for name, raw in m.groupdict().items():
            if raw is None:
                continue
            separator = self.exploded.get(name)
            values[name] = (
                [unquote(v) for v in raw.strip(separator).split(separator)]
                if separator
                else unquote(raw)
            )
        return values


# RFC 6570 expressions: operator -> (prefix, separator, value pattern)
_OPERATORS = {
    "": ("", ",", r"[^/?#&,]+"),
    "+": ("", ",", r".+?"),
    "#": ("#", ",", r".+?"),
    ".": (r"\.", r"\.", r"[^/?#.]+"),
    "/": ("/", "/", r"[^/?#]+"),
    ";": (";", ";", r"[^/?#;]*"),
    "?": (r"\?", "&", r"[^&#]*"),
    "&": ("&", "&", r"[^&#]*"),
}
_EXPRESSION = re.compile(r"\{([+#./;?&]?)([^}]+)\}")


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...], dict[str, str]]:
    """A regex matching the URIs an RFC 6570 template expands to, its variable names, and the
    separator of each exploded (``*``) variable."""
    parts: list[str] = []
    names: list[str] = []
    exploded: dict[str, str] = {}
    pos = 0
    for m in _EXPRESSION.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        op, varlist = m.group(1), m.group(2)
        prefix, sep, value = _OPERATORS[op]
        groups = []
        for raw in varlist.split(","):
            var = raw.strip().rstrip("*").split(":")[0]
            if not var.isidentifier():
                raise DefinitionError(f"URI template {template!r}: bad variable name {raw!r}")
            names.append(var)
            pattern = value
            if raw.strip().endswith("*"):
                if op in ("", "+", "#", "?", "&", ";"):  # a comma-separated list
                    exploded[var] = ","
                    item = value.replace(",", "")
                    pattern = f"{item}(?:,{item})*"
                else:  # path-like: "/a/b", ".a.b"
                    exploded[var] = sep.replace("\\", "")
                    pattern = f"{value}(?:{sep}{value})*"
            if op in ("?", "&", ";"):
                groups.append(f"{var}=(?P<{var}>{pattern})")
            else:
                groups.append(f"(?P<{var}>{pattern})")
        if op in ("?", "&"):
            parts.append(f"(?:{prefix}" + f"(?:{sep})?".join(f"(?:{g})?" for g in groups) + ")?")
        else:
            parts.append(prefix + sep.join(groups))
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(parts) + "$"), tuple(names), exploded


def is_template(uri: str) -> bool:
    return _EXPRESSION.search(uri) is not None


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
        sig = self.signature
        try:
            kwargs = sig.bind(arguments, request, self)
        except ValidationError as exc:
            raise McpError(
                INVALID_PARAMS,
                f"Invalid arguments for prompt {self.name!r}: {describe_validation_error(exc)}",
            ) from exc
        value = await _run(sig, kwargs)
        result: dict[str, Any] = {}
        if self.description:
            result["description"] = self.description
        items = value if isinstance(value, list | tuple) else [value]
        result["messages"] = [prompt_message(item) for item in items]
        return result


def prompt_message(item: Any) -> dict[str, Any]:
    if isinstance(item, Message):
        return {"role": item.role, "content": _single_content(item.content)}
    if isinstance(item, dict) and "role" in item:
        return item
    return {"role": "user", "content": _single_content(item)}


def _single_content(value: Any) -> dict[str, Any]:
    blocks = to_content(value)
    return blocks[0] if len(blocks) == 1 else {"type": "text", "text": to_json_text(value)}


# ---------------------------------------------------------------------------------------------
# Completions


@dataclass(slots=True, eq=False)
class Completer(Component):
    """Completes one argument: ``fn(value)`` or ``fn(value, arguments)``, optionally with a
    ``Context`` parameter; sync functions run in a worker thread."""

    fn: Callable[..., Any] = None  # type: ignore[assignment]
    positional: int = 1
    context_param: str | None = None
    is_async: bool = False

    @classmethod
    def from_function(cls, fn: Callable[..., Any]) -> Completer:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:
            hints = {}
        context_param = None
        positional = 0
        for name, param in inspect.signature(fn).parameters.items():
            if _is_context(hints.get(name)):
                context_param = name
            elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                positional += 1
        return cls(
            fn=fn,
            positional=min(positional, 2),
            context_param=context_param,
            is_async=inspect.iscoroutinefunction(fn),
        )

    async def complete(self, value: str, arguments: dict[str, Any], request: Any) -> list[str]:
        args: list[Any] = [value, arguments][: self.positional]
        kwargs = {self.context_param: Context(request, self)} if self.context_param else {}
        if self.is_async:
            out = await self.fn(*args, **kwargs)
        else:
            out = await asyncio.to_thread(functools.partial(self.fn, *args, **kwargs))
        return [str(v) for v in out]


def choices_of(annotation: Any) -> list[str] | None:
    """The values of a Literal or Enum parameter, offered as completions."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    if get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in get_args(annotation):
            if (found := choices_of(arg)) is not None:
                return found
    return None


async def complete(
    completer: Completer | None,
    choices: list[str] | None,
    value: str,
    arguments: dict[str, Any],
    request: Any,
) -> list[str]:
    if completer is not None:
        return await completer.complete(value, arguments, request)
    if choices is not None:
        return [c for c in choices if c.startswith(value)]
    return []
