"""RFC 6570 URI templates: compiled once into a regex, then matched against requested URIs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from .errors import DefinitionError

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


def is_template(uri: str) -> bool:
    """Whether `uri` holds a template expression (``{...}``)."""
    return _EXPRESSION.search(uri) is not None


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


def match_template(
    pattern: re.Pattern[str], exploded: dict[str, str], uri: str
) -> dict[str, Any] | None:
    """The percent-decoded variable values of `uri` under a compiled template, or None.

    An exploded variable's value is the list of its items; an absent optional one is left out.
    """
    m = pattern.match(uri)
    if m is None:
        return None
    values: dict[str, Any] = {}
    for name, raw in m.groupdict().items():
        if raw is None:
            continue
        separator = exploded.get(name)
        values[name] = (
            [unquote(v) for v in raw.strip(separator).split(separator)]
            if separator
            else unquote(raw)
        )
    return values
