"""OpenAPI schemas into self-contained JSON Schema 2020-12.

Each schema a `$ref` names is converted once per API and kept under a stable name; a tool's
schema refers to it as ``#/$defs/<name>`` and carries the `$defs` it reaches (recursive
schemas included). OpenAPI 3.0's dialect is translated: ``nullable``, boolean
``exclusiveMinimum``/``exclusiveMaximum``, ``example``; ``oneOf`` is published as ``anyOf``
(real descriptions have overlapping branches, which "exactly one" would refuse); a
``discriminator`` becomes ``if``/``then`` rules that select the branch by the property's value;
the ``xml`` and ``externalDocs`` keywords are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from .spec import Documents, SpecError

_DROPPED = frozenset({"discriminator", "xml", "externalDocs", "nullable", "example"})
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class Definitions:
    """The named schemas of one API, converted on first use; `schema` converts an inline
    schema and `defs` gives the `$defs` a converted schema needs."""

    def __init__(self, documents: Documents, openapi_30: bool) -> None:
        self.documents = documents
        self.openapi_30 = openapi_30
        self.converted: dict[str, dict[str, Any]] = {}
        self.references: dict[str, frozenset[str]] = {}
        self._names: dict[str, str] = {}  # absolute ref -> name in $defs
        self._taken: set[str] = set()

    # -- converting ------------------------------------------------------------------------------
    def schema(self, node: Any, base: str) -> tuple[dict[str, Any], set[str]]:
        """`node` as JSON Schema 2020-12, and the names of the definitions it refers to."""
        refs: set[str] = set()
        return self._convert(node, base, refs), refs

    def target(self, node: Any, base: str) -> tuple[dict[str, Any], set[str]]:
        """Like `schema`, but a top-level `$ref` is replaced by a copy of what it names (for a
        schema whose shape matters: a request body flattened into arguments, an output)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 32:
            if not self.openapi_30 and len(node) > 1:
                break  # 3.1: siblings of $ref count, keep the reference
            node, base = self.documents.resolve(node["$ref"], base)
            seen += 1
        return self.schema(node, base)

    def _convert(self, node: Any, base: str, refs: set[str]) -> Any:
        if not isinstance(node, dict):
            return node if isinstance(node, bool) else {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = self._define(ref, base)
            refs.add(name)
            out_ref: dict[str, Any] = {"$ref": f"#/$defs/{name}"}
            if self.openapi_30:
                if node.get("nullable") is True:
                    return {"anyOf": [out_ref, {"type": "null"}]}
                return out_ref  # 3.0: siblings of $ref are ignored
            rest = {k: v for k, v in node.items() if k != "$ref"}
            if rest:
                out_ref.update(self._convert(rest, base, refs))
            return out_ref
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED or key.startswith("x-"):
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                target = "$defs" if key == "definitions" else key
                out[target] = {k: self._convert(v, base, refs) for k, v in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                target = "anyOf" if key == "oneOf" else key
                branches = [self._convert(v, base, refs) for v in value]
                if target == "anyOf" and "anyOf" in out:
                    out.setdefault("allOf", []).append({"anyOf": branches})
                else:
                    out[target] = branches
            elif key in _SCHEMA_VALUES:
                if key == "items" and isinstance(value, list):  # draft-4 tuple form
                    out["prefixItems"] = [self._convert(v, base, refs) for v in value]
                else:
                    out[key] = self._convert(value, base, refs)
            elif key == "type" and value == "file":
                out["type"] = "string"
            else:
                out[key] = value
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict) and isinstance(discriminator.get("propertyName"), str):
            out.setdefault("allOf", []).extend(
                self._by_discriminator(node, discriminator, base, refs)
            )
        if self.openapi_30:
            _from_30(node, out)
        elif _example(node) and "examples" not in out:
            out["examples"] = [node["example"]]
        if out.get("format") == "binary" and out.get("type") == "string":
            out.setdefault("contentEncoding", "base64")
        return out

    def _by_discriminator(
        self, node: dict[str, Any], discriminator: dict[str, Any], base: str, refs: set[str]
    ) -> list[dict[str, Any]]:
        """The discriminator as plain 2020-12: for each value of the property, the branch
        it selects (``if``/``then``), so overlapping branches are told apart."""
        mapping = discriminator.get("mapping")
        if not isinstance(mapping, dict):  # implicit: each branch's schema name is its value
            branches = [*node.get("oneOf", ()), *node.get("anyOf", ())]
            mapping = {
                b["$ref"].rsplit("/", 1)[-1]: b["$ref"]
                for b in branches
                if isinstance(b, dict) and isinstance(b.get("$ref"), str)
            }
        prop = discriminator["propertyName"]
        rules = []
        for value, ref in mapping.items():
            if not isinstance(ref, str):
                continue
            if "/" not in ref and "#" not in ref:
                ref = f"#/components/schemas/{ref}"
            name = self._define(ref, base)
            refs.add(name)
            rules.append(
                {
                    "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                    "then": {"$ref": f"#/$defs/{name}"},
                }
            )
        return rules

    def _define(self, ref: str, base: str) -> str:
        absolute = _absolute(ref, base, self.documents.location)
        name = self._names.get(absolute)
        if name is not None:
            return name
        name = self._names[absolute] = self._name_for(ref)
        target, target_base = self.documents.resolve(ref, base)
        if not isinstance(target, dict | bool):
            raise SpecError(f"$ref {ref!r} does not name a schema")
        refs: set[str] = set()
        self.converted[name] = {}  # a placeholder while a recursive schema converts
        self.converted[name] = self._convert(target, target_base, refs)
        self.references[name] = frozenset(refs)
        return name

    def _name_for(self, ref: str) -> str:
        tail = ref.rsplit("/", 1)[-1] or ref.rsplit("#", 1)[0].rsplit("/", 1)[-1]
        base = _NAME.sub("_", tail.replace("~1", "_").replace("~0", "_")).strip("_") or "schema"
        name, n = base, 1
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._taken.add(name)
        return name

    # -- bundling ---------------------------------------------------------------------------------
    def defs(self, names: set[str]) -> dict[str, Any]:
        """The `$defs` that the definitions `names` reach, themselves included."""
        found: dict[str, Any] = {}
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in found:
                continue
            found[name] = self.converted[name]
            stack.extend(self.references.get(name, ()))
        return dict(sorted(found.items()))


def _absolute(ref: str, base: str, root: str) -> str:
    if ref.startswith("#"):
        return base + ref
    from urllib.parse import urljoin

    return urljoin(base or root, ref)


def _from_30(node: dict[str, Any], out: dict[str, Any]) -> None:
    """The 3.0 keywords that mean something else in 2020-12, translated in place."""
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(flag) is True and bound in node:
            out[flag] = out.pop(bound)
        elif isinstance(node.get(flag), bool):
            out.pop(flag, None)
    if _example(node) and "examples" not in out:
        out["examples"] = [node["example"]]
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        elif kind is None and any(k in out for k in ("allOf", "anyOf", "oneOf")):
            inner = {k: out.pop(k) for k in ("allOf", "anyOf") if k in out}
            out["anyOf"] = [inner, {"type": "null"}]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]


def _example(node: dict[str, Any]) -> bool:
    """Whether the schema has an ``example`` worth keeping (not a stray ``$ref`` object)."""
    example = node.get("example")
    return "example" in node and not (isinstance(example, dict) and "$ref" in example)


def nullable(schema: dict[str, Any]) -> bool:
    """Whether a converted schema admits null at its top level."""
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)
