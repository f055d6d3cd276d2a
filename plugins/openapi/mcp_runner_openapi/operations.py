"""An OpenAPI description's operations as what the bridge serves: which are selected, what
each becomes (tool, resource, resource template), its name, its flattened arguments and
their JSON Schema, and the schema of its answer."""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .config import ApiOptions, RouteMap
from .schema import Definitions, nullable
from .spec import Documents, SpecError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
MAX_NAME = 64
LOCATIONS = ("path", "query", "header", "cookie")
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_NOT_WORD = re.compile(r"\W")
_BODY_MEDIA = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
    "application/octet-stream",
)


@dataclass(slots=True)
class Argument:
    """One tool argument and where its value goes in the request."""

    name: str
    location: str  # path, query, header, cookie, body (one property) or payload (the whole body)
    wire: str
    style: str = "form"
    explode: bool = True


@dataclass(slots=True)
class Operation:
    """One operation of the description, ready to serve."""

    method: str
    path: str
    operation_id: str | None
    summary: str | None
    description: str | None
    tags: tuple[str, ...]
    arguments: list[Argument] = field(default_factory=list)
    input_schema: dict[str, Any] = field(default_factory=dict)
    body_media: str | None = None
    output_schema: dict[str, Any] | None = None
    wrap_output: bool = False
    kind: str = "tool"
    name: str = ""

    @property
    def label(self) -> str:
        """``METHOD /path``, as the operation is named in messages."""
        return f"{self.method.upper()} {self.path}"

    def text(self) -> str:
        """The description a client shows: the summary, then the description."""
        parts = [p.strip() for p in (self.summary, self.description) if p and p.strip()]
        if len(parts) == 2 and parts[1].startswith(parts[0]):
            parts = parts[1:]
        return "\n\n".join(parts) or self.label


@dataclass(slots=True)
class Mapping:
    """What one description gives: the operations served, and what was renamed or left
    out, with why (shown by ``mcp-runner plugins`` and logged)."""

    operations: list[Operation]
    notes: list[str]


def map_operations(
    document: dict[str, Any],
    documents: Documents,
    options: ApiOptions,
) -> Mapping:
    """Select, shape and name the operations of `document` by `options`."""
    version = str(document.get("openapi", ""))
    if not version.startswith("3."):
        raise SpecError(
            f"not an OpenAPI 3.x description (openapi: {version or 'missing'}); "
            "Swagger 2.0 must be converted first"
        )
    definitions = Definitions(documents, openapi_30=version.startswith("3.0"))
    notes: list[str] = []
    operations: list[Operation] = []
    root = documents.location
    for path, item in (document.get("paths") or {}).items():
        item, item_base = _deref(item, root, documents)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in METHODS:
            raw = item.get(method)
            if not isinstance(raw, dict):
                continue
            tags = tuple(t for t in raw.get("tags") or () if isinstance(t, str))
            op = Operation(
                method=method,
                path=path,
                operation_id=raw.get("operationId"),
                summary=raw.get("summary"),
                description=raw.get("description"),
                tags=tags,
            )
            if not _selected(op, options):
                continue
            try:
                _shape(op, raw, shared, item_base, definitions, documents)
                _answer(op, raw, item_base, definitions, documents, options.output_schema)
            except (SpecError, RecursionError) as exc:
                notes.append(f"{op.label} left out: {exc}")
                continue
            op.kind = _kind(op, options.routes, options.mode, notes)
            if op.kind != "exclude":
                operations.append(op)
    _name(operations, options, notes)
    return Mapping(operations, notes)


# -- selecting ---------------------------------------------------------------------------------


def matches(op: Operation, selector: str) -> bool:
    """Whether `op` matches a selector: ``tag:NAME``, ``METHOD /path/glob`` (``*`` for any
    method, ``DELETE *`` for every path), ``/path/glob``, or an operationId glob."""
    if selector.startswith("tag:"):
        return selector[4:] in op.tags
    method, _, rest = selector.partition(" ")
    if rest and (method == "*" or method.lower() in METHODS):
        return (method == "*" or method.lower() == op.method) and fnmatch.fnmatchcase(
            op.path, rest.strip()
        )
    if selector.startswith("/"):
        return fnmatch.fnmatchcase(op.path, selector)
    return op.operation_id is not None and fnmatch.fnmatchcase(op.operation_id, selector)


def _selected(op: Operation, options: ApiOptions) -> bool:
    if options.include and not any(matches(op, s) for s in options.include):
        return False
    return not any(matches(op, s) for s in options.exclude)


def _kind(op: Operation, routes: list[RouteMap], mode: str, notes: list[str]) -> str:
    chosen = next((r.kind for r in routes if matches(op, r.match)), None)
    if chosen is None:
        chosen = "resource" if mode == "resources" else "tool"
        explicit = False
    else:
        explicit = True
    if chosen in ("tool", "exclude"):
        return chosen
    readable = op.method == "get" and all(a.location == "path" for a in op.arguments)
    if not readable:
        if explicit:
            notes.append(
                f"{op.label} stays a tool: only a GET whose arguments are all in the path can be "
                "a resource"
            )
        return "tool"
    return "template" if op.arguments else "resource"


# -- arguments ---------------------------------------------------------------------------------


def _shape(
    op: Operation,
    raw: dict[str, Any],
    shared: list[Any],
    base: str,
    definitions: Definitions,
    documents: Documents,
) -> None:
    """The flattened arguments of `op` and their input schema."""
    params: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for entry in [*shared, *(raw.get("parameters") or [])]:
        param, param_base = _deref(entry, base, documents)
        if not isinstance(param, dict) or param.get("in") not in LOCATIONS:
            continue
        if param["in"] == "header" and str(param.get("name", "")).lower() in _IGNORED_HEADERS:
            continue
        params[(param["in"], str(param["name"]))] = (param, param_base)
    fields: list[tuple[Argument, dict[str, Any], bool]] = []
    refs: set[str] = set()
    for (location, wire), (param, param_base) in params.items():
        schema, found = _param_schema(param, param_base, definitions)
        refs |= found
        if param.get("description") and "description" not in schema:
            schema = {**schema, "description": param["description"]}
        style = param.get("style") or ("form" if location in ("query", "cookie") else "simple")
        explode = param.get("explode", style == "form")
        required = location == "path" or bool(param.get("required"))
        fields.append((Argument(wire, location, wire, style, bool(explode)), schema, required))
    body = raw.get("requestBody")
    if body is not None:
        fields.extend(_body(op, body, base, definitions, documents, refs))
    counts: dict[str, int] = {}
    for argument, _, _ in fields:
        counts[argument.name] = counts.get(argument.name, 0) + 1
    properties: dict[str, Any] = {}
    required_names: list[str] = []
    for argument, schema, required in fields:
        if counts[argument.name] > 1:
            suffix = "body" if argument.location == "payload" else argument.location
            argument.name = f"{argument.name}_{suffix}"
        while argument.name in properties:
            argument.name += "_"
        properties[argument.name] = schema
        if required:
            required_names.append(argument.name)
        op.arguments.append(argument)
    schema_out: dict[str, Any] = {"type": "object", "properties": properties}
    if required_names:
        schema_out["required"] = required_names
    schema_out["additionalProperties"] = False
    if refs:
        schema_out["$defs"] = definitions.defs(refs)
    op.input_schema = schema_out


def _param_schema(
    param: dict[str, Any], base: str, definitions: Definitions
) -> tuple[dict[str, Any], set[str]]:
    if "schema" in param:
        return definitions.schema(param["schema"], base)
    for media in (param.get("content") or {}).values():
        if isinstance(media, dict) and "schema" in media:
            return definitions.schema(media["schema"], base)
    return {"type": "string"}, set()


def _body(
    op: Operation,
    body: Any,
    base: str,
    definitions: Definitions,
    documents: Documents,
    refs: set[str],
) -> list[tuple[Argument, dict[str, Any], bool]]:
    body, body_base = _deref(body, base, documents)
    content = body.get("content") or {} if isinstance(body, dict) else {}
    media = _pick_media(content)
    if media is None:
        return []
    op.body_media = media
    required = bool(body.get("required"))
    raw_schema = (content[media] or {}).get("schema", {})
    schema, found = definitions.target(raw_schema, body_base)
    flat = (
        media.endswith("json") or media.endswith("+json") or media in _BODY_MEDIA[1:3]
    ) and _flattenable(schema)
    if not flat:
        refs |= found
        if body.get("description") and isinstance(schema, dict) and "description" not in schema:
            schema = {**schema, "description": body["description"]}
        return [(Argument("body", "payload", "body"), schema, required)]
    refs |= found
    inner_required = set(schema.get("required") or ()) if required else set()
    out = []
    for name, prop in schema["properties"].items():
        out.append((Argument(name, "body", name), prop, name in inner_required))
    return out


def _flattenable(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and isinstance(schema.get("properties"), dict)
        and bool(schema["properties"])
        and schema.get("type", "object") == "object"
        and not any(k in schema for k in ("allOf", "anyOf", "oneOf", "$ref", "not", "if"))
        and schema.get("additionalProperties", False) is not True
        and not isinstance(schema.get("additionalProperties"), dict)
    )


def _pick_media(content: dict[str, Any]) -> str | None:
    if not content:
        return None
    for wanted in _BODY_MEDIA:
        if wanted in content:
            return wanted
    for media in content:
        if media.endswith("+json"):
            return media
    return next(iter(content))


# -- the answer --------------------------------------------------------------------------------


def _answer(
    op: Operation,
    raw: dict[str, Any],
    base: str,
    definitions: Definitions,
    documents: Documents,
    publish: bool,
) -> None:
    """The output schema of `op`, from its first 2xx JSON response."""
    if not publish:
        return
    responses = raw.get("responses") or {}
    codes = sorted(str(c) for c in responses if str(c).startswith("2"))
    for code in codes:
        response, response_base = _deref(responses[code], base, documents)
        content = (response or {}).get("content") or {}
        media = next((m for m in content if _is_json(m)), None)
        if media is None:
            return  # the first success answer is not JSON: no structured output
        raw_schema = (content[media] or {}).get("schema")
        if not raw_schema:
            return
        schema, refs = definitions.target(raw_schema, response_base)
        if not isinstance(schema, dict):
            return
        objectish = schema.get("type") == "object" or (
            "type" not in schema and "properties" in schema and "$ref" not in schema
        )
        if objectish and not nullable(schema):
            out = {**schema, "type": "object"}
        else:
            out = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
            op.wrap_output = True
        if refs:
            out["$defs"] = {**definitions.defs(refs), **out.get("$defs", {})}
        op.output_schema = out
        return


def _is_json(media: str) -> bool:
    media = media.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# -- naming ------------------------------------------------------------------------------------


def _name(operations: list[Operation], options: ApiOptions, notes: list[str]) -> None:
    """Unique names of at most 64 characters, the namespace included; collisions take a
    numbered suffix in the description's order."""
    prefix = f"{options.namespace}_" if options.namespace else ""
    budget = MAX_NAME - len(prefix)
    if budget < 8:
        raise SpecError(f"namespace {options.namespace!r} leaves no room for tool names")
    taken: set[str] = set()
    for op in operations:
        wanted = (
            options.names.get(op.operation_id or "")
            or _written_name(op)
            or op.operation_id
            or f"{op.method}_{op.path}"
        )
        base = _NAME_CHARS.sub("_", wanted).strip("_.-") or op.method
        name = _fit(base, budget)
        if name != base:
            notes.append(f"{op.label}: {prefix}{base} shortened to {prefix}{name}")
        if name in taken:
            n = 2
            while (candidate := _fit(f"{base}_{n}", budget)) in taken:
                n += 1
            notes.append(f"{op.label}: {prefix}{name} is taken, named {prefix}{candidate}")
            name = candidate
        taken.add(name)
        op.name = prefix + name


def _written_name(op: Operation) -> str | None:
    """The endpoint's own name when the operationId is the one FastAPI generates from it
    (``get_item`` for ``get_item_items__item_id__get``), else None."""
    operation_id = op.operation_id
    if not operation_id:
        return None
    suffix = _NOT_WORD.sub("_", op.path) + "_" + op.method
    if operation_id.endswith(suffix) and len(operation_id) > len(suffix):
        return operation_id[: -len(suffix)]
    return None


def _fit(name: str, budget: int) -> str:
    if len(name) <= budget:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: budget - 9].rstrip('_.-')}_{digest}"


# -- references --------------------------------------------------------------------------------


def _deref(node: Any, base: str, documents: Documents) -> tuple[Any, str]:
    """A parameter, body, response or path item, its `$ref`s followed."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        seen += 1
        if seen > 32:
            raise SpecError(f"$ref cycle at {node['$ref']!r}")
        node, base = documents.resolve(node["$ref"], base)
    return node, base
