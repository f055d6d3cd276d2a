"""Tools, resources, resource templates and prompts, compiled once from plain functions.

- `schema`: function signatures into argument validators and JSON Schemas;
- `docstrings`: descriptions from docstrings;
- `content`: return values into content blocks, resource contents and prompt messages;
- `uritemplate`: RFC 6570 templates compiled and matched;
- `components`: the `Tool`, `Resource`, `ResourceTemplate` and `Prompt` classes;
- `completion`: completers and the choices of a parameter's type.
"""

from __future__ import annotations

from .completion import Completer, choices_of
from .components import (
    TOOL_NAME,
    Component,
    Prompt,
    PromptOptions,
    Resource,
    ResourceHandler,
    ResourceOptions,
    ResourceTemplate,
    Tool,
    ToolHandler,
    ToolOptions,
    make_resource,
)
from .content import error_result, to_content
from .errors import DefinitionError
from .schema import Signature
from .uritemplate import compile_template

__all__ = [
    "TOOL_NAME",
    "Completer",
    "Component",
    "DefinitionError",
    "Prompt",
    "PromptOptions",
    "Resource",
    "ResourceHandler",
    "ResourceOptions",
    "ResourceTemplate",
    "Signature",
    "Tool",
    "ToolHandler",
    "ToolOptions",
    "choices_of",
    "compile_template",
    "error_result",
    "make_resource",
    "to_content",
]
