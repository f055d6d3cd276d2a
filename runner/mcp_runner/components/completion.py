"""Completions: the values offered for a prompt argument or a resource-template variable, from a
registered `Completer` or from the choices of the parameter's type."""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from ..context import Context
from .components import Component
from .schema import is_context


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
        """A completer from a function of ``(value)`` or ``(value, arguments)``."""
        try:
            hints = typing.get_type_hints(fn)
        except Exception:
            hints = {}
        context_param = None
        positional = 0
        for name, param in inspect.signature(fn).parameters.items():
            if is_context(hints.get(name)):
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
        """The completions of `value`, given the other `arguments` already filled in."""
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
