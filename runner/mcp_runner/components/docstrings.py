"""Descriptions from docstrings: a function's summary and the text of each of its parameters.

Google style (``Args:`` sections) and Sphinx style (``:param name:``) are understood; the rest
of a docstring is not sent to clients.
"""

from __future__ import annotations

import inspect
import re

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns|Raises|Yields|Examples?|Notes?):\s*$"
)
_GOOGLE_PARAM = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")


def parse(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """(first paragraph, {parameter: description}) from a Google- or Sphinx-style docstring."""
    if not doc:
        return None, {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()) or line.lstrip().startswith(":"):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    in_args = False
    current: str | None = None
    params_indent = 0
    for line in lines:
        stripped = line.strip()
        if m := _SPHINX_PARAM.match(line):
            params[m.group(1)] = m.group(2).strip()
            current = m.group(1)
            continue
        if section := _SECTION.match(stripped):
            in_args = section.group(1) in ("Args", "Arguments", "Parameters", "Params")
            current = None
            continue
        if not in_args:
            continue
        if not stripped:
            current = None
            continue
        indent = len(line) - len(line.lstrip())
        m = _GOOGLE_PARAM.match(line)
        if m and (current is None or indent <= params_indent):
            current = m.group(1).lstrip("*")
            params_indent = indent
            params[current] = m.group(2).strip()
        elif current:
            params[current] = f"{params[current]} {stripped}".strip()
    return (" ".join(summary) or None), params
