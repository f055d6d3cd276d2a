"""A JSON Schema 2020-12 validator compiled once into plain functions, for the schemas this
plugin generates: arguments are checked before any request is sent, answers against the
output schema before they become ``structuredContent``.

It covers the assertion keywords (``type``, ``enum``, ``const``, the numeric, string, array and
object bounds, ``pattern``, ``properties``/``required``/``additionalProperties``/
``patternProperties``, ``items``/``prefixItems``, ``allOf``/``anyOf``/``oneOf``/``not``,
``if``/``then``/``else`` and local ``$ref``s); ``format`` is an annotation, as 2020-12 has it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any, str, list[str]], None]
"""A compiled schema: ``check(value, path, problems)`` appends what is wrong to `problems`."""

MAX_PROBLEMS = 5

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def _accept(value: Any, path: str, problems: list[str]) -> None:
    return None


def _reject(value: Any, path: str, problems: list[str]) -> None:
    problems.append(f"{path or 'value'}: not allowed here")


class Validator:
    """Compiles schemas that share one `$defs` table; ``validator.errors(value)`` lists the
    problems of a value (empty when it is valid)."""

    def __init__(self, schema: dict[str, Any] | bool) -> None:
        self.root = schema
        self.defs: dict[str, Any] = (schema.get("$defs") or {}) if isinstance(schema, dict) else {}
        self._compiled: dict[str, Check] = {}
        self.check = self.compile(schema)

    def errors(self, value: Any) -> list[str]:
        """What is wrong with `value` (at most `MAX_PROBLEMS` problems), or an empty list."""
        problems: list[str] = []
        self.check(value, "", problems)
        return problems[:MAX_PROBLEMS]

    # -- compiling --------------------------------------------------------------------------------
    def compile(self, schema: Any) -> Check:
        """One schema as a `Check`."""
        if schema is True or schema == {}:
            return _accept
        if schema is False:
            return _reject
        if not isinstance(schema, dict):
            return _accept
        checks: list[Check] = []
        ref = schema.get("$ref")
        if isinstance(ref, str):
            checks.append(self._ref(ref))
        if "type" in schema:
            checks.append(_type(schema["type"]))
        if "enum" in schema:
            checks.append(_enum(schema["enum"]))
        if "const" in schema:
            checks.append(_enum([schema["const"]]))
        checks.extend(_numeric(schema))
        checks.extend(_string(schema))
        checks.extend(self._array(schema))
        checks.extend(self._object(schema))
        checks.extend(self._combinators(schema))
        if not checks:
            return _accept
        if len(checks) == 1:
            return checks[0]

        def check_all(value: Any, path: str, problems: list[str]) -> None:
            for check in checks:
                check(value, path, problems)
                if len(problems) >= MAX_PROBLEMS:
                    return

        return check_all

    def _ref(self, ref: str) -> Check:
        if ref == "#":
            return lambda value, path, problems: self.check(value, path, problems)
        if not ref.startswith("#/$defs/"):
            return _accept  # not generated here
        name = ref[len("#/$defs/") :].replace("~1", "/").replace("~0", "~")
        compiled = self._compiled

        def check_ref(value: Any, path: str, problems: list[str]) -> None:
            check = compiled.get(name)
            if check is None:  # compiled on first use, so recursive schemas terminate
                compiled[name] = _accept
                check = compiled[name] = self.compile(self.defs.get(name, True))
            check(value, path, problems)

        return check_ref

    def _array(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        prefix = [self.compile(s) for s in schema.get("prefixItems", ())]
        items = self.compile(schema["items"]) if "items" in schema else None
        low, high = schema.get("minItems"), schema.get("maxItems")
        unique = schema.get("uniqueItems") is True
        if not (prefix or items or low is not None or high is not None or unique):
            return checks

        def check_array(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, list):
                return
            if low is not None and len(value) < low:
                problems.append(f"{path or 'value'}: fewer than {low} items")
            if high is not None and len(value) > high:
                problems.append(f"{path or 'value'}: more than {high} items")
            if unique and len({_key(v) for v in value}) != len(value):
                problems.append(f"{path or 'value'}: items are not unique")
            for index, item in enumerate(value):
                check = prefix[index] if index < len(prefix) else items
                if check is not None:
                    check(item, f"{path}[{index}]", problems)
                    if len(problems) >= MAX_PROBLEMS:
                        return

        checks.append(check_array)
        return checks

    def _object(self, schema: dict[str, Any]) -> list[Check]:
        props = {k: self.compile(v) for k, v in (schema.get("properties") or {}).items()}
        required = tuple(schema.get("required") or ())
        patterns = [
            (re.compile(p), self.compile(s))
            for p, s in (schema.get("patternProperties") or {}).items()
        ]
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is True else self.compile(extra)
        low, high = schema.get("minProperties"), schema.get("maxProperties")
        if not (
            props or required or patterns or extra_check or low is not None or high is not None
        ):
            return []

        def check_object(value: Any, path: str, problems: list[str]) -> None:
            if not isinstance(value, dict):
                return
            for name in required:
                if name not in value:
                    problems.append(f"{_join(path, name)}: required")
            if low is not None and len(value) < low:
                problems.append(f"{path or 'value'}: fewer than {low} properties")
            if high is not None and len(value) > high:
                problems.append(f"{path or 'value'}: more than {high} properties")
            for name, item in value.items():
                check = props.get(name)
                matched = check is not None
                if check is not None:
                    check(item, _join(path, name), problems)
                for pattern, pattern_check in patterns:
                    if pattern.search(name):
                        matched = True
                        pattern_check(item, _join(path, name), problems)
                if not matched and extra_check is not None:
                    if extra is False:
                        problems.append(f"{_join(path, name)}: unexpected property")
                    else:
                        extra_check(item, _join(path, name), problems)
                if len(problems) >= MAX_PROBLEMS:
                    return

        return [check_object]

    def _combinators(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = [self.compile(s) for s in schema.get("allOf", ())]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                checks.append(_branches([self.compile(s) for s in schema[key]], key == "oneOf"))
        if "not" in schema:
            negated = self.compile(schema["not"])

            def check_not(value: Any, path: str, problems: list[str]) -> None:
                found: list[str] = []
                negated(value, path, found)
                if not found:
                    problems.append(f"{path or 'value'}: matches a schema it must not")

            checks.append(check_not)
        if "if" in schema:
            condition = self.compile(schema["if"])
            then = self.compile(schema.get("then", True))
            otherwise = self.compile(schema.get("else", True))

            def check_if(value: Any, path: str, problems: list[str]) -> None:
                found: list[str] = []
                condition(value, path, found)
                (otherwise if found else then)(value, path, problems)

            checks.append(check_if)
        return checks


def _type(kind: str | list[str]) -> Check:
    names = [kind] if isinstance(kind, str) else list(kind)
    tests = [_TYPES[n] for n in names if n in _TYPES]
    wanted = " or ".join(names)

    def check_type(value: Any, path: str, problems: list[str]) -> None:
        for test in tests:
            if test(value):
                return
        problems.append(f"{path or 'value'}: expected {wanted}, got {_shown(value)}")

    return check_type


def _enum(options: list[Any]) -> Check:
    keys = {_key(o) for o in options}

    def check_enum(value: Any, path: str, problems: list[str]) -> None:
        if _key(value) not in keys:
            shown = ", ".join(repr(o) for o in options[:8]) + (", ..." if len(options) > 8 else "")
            problems.append(f"{path or 'value'}: must be one of {shown} (got {_shown(value)})")

    return check_enum


def _numeric(schema: dict[str, Any]) -> list[Check]:
    bounds = [
        (schema.get("minimum"), lambda v, b: v >= b, "at least"),
        (schema.get("maximum"), lambda v, b: v <= b, "at most"),
        (schema.get("exclusiveMinimum"), lambda v, b: v > b, "more than"),
        (schema.get("exclusiveMaximum"), lambda v, b: v < b, "less than"),
    ]
    active = [
        (b, test, text)
        for b, test, text in bounds
        if isinstance(b, int | float) and not isinstance(b, bool)
    ]
    step = schema.get("multipleOf")
    if not active and not isinstance(step, int | float):
        return []

    def check_number(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        for bound, test, text in active:
            if not test(value, bound):
                problems.append(f"{path or 'value'}: must be {text} {bound} (got {value})")
        if isinstance(step, int | float) and step > 0:
            quotient = value / step
            if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
                problems.append(f"{path or 'value'}: must be a multiple of {step}")

    return [check_number]


def _string(schema: dict[str, Any]) -> list[Check]:
    low, high = schema.get("minLength"), schema.get("maxLength")
    raw = schema.get("pattern")
    try:
        pattern = re.compile(raw) if isinstance(raw, str) else None
    except re.error:
        pattern = None  # an ECMA-262 construct Python lacks: not checked here; the API will be
    if low is None and high is None and pattern is None:
        return []

    def check_string(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            return
        if low is not None and len(value) < low:
            problems.append(f"{path or 'value'}: shorter than {low} characters")
        if high is not None and len(value) > high:
            problems.append(f"{path or 'value'}: longer than {high} characters")
        if pattern is not None and not pattern.search(value):
            problems.append(f"{path or 'value'}: does not match {raw!r}")

    return [check_string]


def _branches(branches: list[Check], exactly_one: bool) -> Check:
    def check_branches(value: Any, path: str, problems: list[str]) -> None:
        matched = 0
        first: list[str] = []
        for branch in branches:
            found: list[str] = []
            branch(value, path, found)
            if not found:
                matched += 1
                if not exactly_one:
                    return
            elif not first:
                first = found
        if matched == 1 or (matched and not exactly_one):
            return
        if matched > 1:
            problems.append(f"{path or 'value'}: matches more than one of the allowed shapes")
        else:
            problems.append(
                f"{path or 'value'}: matches none of the allowed shapes"
                + (f" (first: {first[0]})" if first else "")
            )

    return check_branches


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _key(value: Any) -> Any:
    """A hashable stand-in with JSON equality: 1 == 1.0, but True is not 1."""
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, list):
        return ("array", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _key(v)) for k, v in value.items())))
    return ("string", value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
