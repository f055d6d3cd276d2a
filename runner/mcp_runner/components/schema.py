"""Function signatures into argument validators and JSON Schemas, once, at composition.

`inspect_function` reads a function's parameters, type hints and docstring and builds the
validator of its arguments and their JSON Schema (the ``inputSchema``); `output_schema_of` derives
the ``outputSchema`` of a return annotation; `describe_validation_error` turns a validation
failure into the one line a client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NotRequired, get_args, get_origin

import pydantic_core
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

from ..context import Context
from . import docstrings
from .content import holds_content
from .errors import DefinitionError

if TYPE_CHECKING:
    from .components import Component


def is_context(annotation: Any) -> bool:
    """Whether a parameter's annotation asks for the `Context` (also ``Context | None``)."""
    if annotation is Context:
        return True
    if get_origin(annotation) is Annotated:
        return is_context(get_args(annotation)[0])
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return any(is_context(a) for a in get_args(annotation) if a is not type(None))
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

    async def run(self, kwargs: dict[str, Any]) -> Any:
        """Call the function with bound arguments; a sync function runs in a worker thread."""
        if self.is_async:
            return await self.fn(**kwargs)
        value = await asyncio.to_thread(functools.partial(self.fn, **kwargs))
        if inspect.isawaitable(value):
            value = await value
        return value


def inspect_function(fn: Callable[..., Any]) -> Signature:
    """The `Signature` of a function served as a tool, resource or prompt.

    Raises `DefinitionError` for what cannot be served: ``*args``/``**kwargs``, positional-only
    parameters, unresolvable hints, or a type without a JSON Schema.
    """
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
    description, param_docs = docstrings.parse(inspect.getdoc(target))
    sig = inspect.signature(fn)
    fields: dict[str, Any] = {}
    params: dict[str, inspect.Parameter] = {}
    defaults: dict[str, Any] = {}
    context_param = None
    for name, p in sig.parameters.items():
        annotation = hints.get(name, Any)
        if is_context(annotation):
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


def output_schema_of(
    annotation: Any,
) -> tuple[TypeAdapter[Any] | None, dict[str, Any] | None, bool]:
    """``(adapter, outputSchema, wrapped)`` for a return annotation.

    Content returns (``str``, ``Image``, ``ToolResult``, ...), ``None`` and ``Any`` have no
    schema. A schema that is not an object is wrapped as ``{"result": ...}`` (``wrapped``).
    """
    if annotation in (inspect.Signature.empty, None, type(None), Any) or holds_content(annotation):
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


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each invalid argument, what is wrong and (shortened) what was given."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problem = f"{where}: {err['msg']}"
        if err["type"] not in ("missing",) and "input" in err:
            shown = repr(err["input"])
            problem += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
        problems.append(problem)
    return "; ".join(problems)
