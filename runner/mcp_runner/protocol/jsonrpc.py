"""JSON-RPC 2.0 framing: parse bytes once, encode plain dicts once.

pydantic-core's JSON (Rust) does the common case. What it refuses (malformed input, lone
surrogates, nesting past its own limit of about 200 levels) or cannot write as JSON (non-finite
numbers) goes the stdlib way, whose results and error messages are the reference. Values that
are not JSON types are written as pydantic writes them (datetimes in ISO 8601, bytes as UTF-8),
others as `str()`. Nesting deeper than `MAX_NESTING` is refused the same way on every Python.
"""

from __future__ import annotations

import json
from array import array
from itertools import accumulate
from typing import Any

from pydantic_core import from_json, to_json

from .errors import INVALID_REQUEST, PARSE_ERROR

MAX_NESTING = 512
"""The deepest a message's arrays and objects may nest (a top-level object is level 1).

Ours, the same on every Python: well inside what the stdlib parser manages under any
interpreter's recursion limit, and above pydantic-core's own (about 200 levels).
"""

_NESTED_TOO_DEEPLY = f"JSON nested too deeply (more than {MAX_NESTING} levels)"

_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
).encode
_encode_ascii = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False).encode


def encode(message: dict[str, Any]) -> bytes:
    """UTF-8 JSON; raises ValueError for what JSON cannot carry (NaN, Infinity)."""
    try:
        data = to_json(message, fallback=str)
    except ValueError:  # e.g. a lone surrogate
        pass
    else:
        if b"NaN" not in data and b"Infinity" not in data:
            return data
    text = _encode(message)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate (from a "\\ud800" escape): keep it escaped
        return _encode_ascii(message).encode()


def encode_safely(message: dict[str, Any]) -> bytes:
    """`encode`, or the error that replaces a message JSON cannot carry."""
    try:
        return encode(message)
    except ValueError as exc:
        return encode(unencodable(message, exc))


def unencodable(message: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """The error that replaces a message that cannot be written as JSON."""
    msg_id = message.get("id")
    return error(
        msg_id if isinstance(msg_id, str | int) else None,
        -32603,
        f"Internal error: the answer could not be encoded as JSON ({exc})",
    )


def loads(data: bytes | str) -> Any:
    """Parse one JSON text; raises ValueError (with the position) when malformed.

    Nesting deeper than `MAX_NESTING` and integers longer than the interpreter's 4,300 digits
    are malformed for us too.
    """
    try:
        message = from_json(data, allow_inf_nan=False, cache_strings="keys")
    except ValueError:
        pass
    else:
        if _fast_parser_unbounded and _nests_deeper(data, MAX_NESTING):
            raise ValueError(_NESTED_TOO_DEEPLY)
        return message
    if _nests_deeper(data, MAX_NESTING):
        raise ValueError(_NESTED_TOO_DEEPLY)
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        return _decode(data)
    except RecursionError:  # only when the caller's own stack is already very deep
        raise ValueError(_NESTED_TOO_DEEPLY) from None


# Brackets as steps of the depth: +1 opening, -1 (a signed byte) closing.
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_MARKS = bytes(set(range(256)) - set(b'[{]}"'))


def _nests_deeper(data: bytes | bytearray | str, limit: int) -> bool:
    """Whether arrays and objects in a JSON text nest deeper than `limit` (1 or more).

    Brackets inside strings do not count. Byte operations that run in C, and a walk over the
    brackets only when there are more than `limit` of them.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Without escaped backslashes, then escaped quotes, every quote opens or closes a string.
    # Of brackets and quotes, drop each two quotes side by side (an empty string, or one
    # string's end and the next one's start): the quotes left still alternate.
    marks = (
        raw.replace(b"\\\\", b"")
        .replace(b'\\"', b"")
        .translate(None, _NOT_MARKS)
        .replace(b'""', b"")
    )
    steps = b"".join(marks.split(b'"')[::2]).translate(_BRACKET_STEPS)
    if b"\x01" * (limit + 1) in steps:  # the usual bomb: a plain run of openings
        return True
    # A deepest opening is always closed at once (one at the very end, by the step appended),
    # so dropping every empty pair lowers the deepest level by exactly one, and often leaves
    # far fewer steps to walk.
    rest = (steps + b"\xff").replace(b"\x01\xff", b"")
    return max(accumulate(array("b", rest), initial=0)) >= limit


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def _parses(data: bytes) -> bool:
    try:
        from_json(data)
    except ValueError:
        return False
    return True


# pydantic-core refuses nesting past about 200 levels, so what it parses needs no depth check;
# should a version of it go deeper than MAX_NESTING, what it parses is checked too.
_fast_parser_unbounded = _parses(b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1))


def response(id: Any, result: Any) -> dict[str, Any]:
    """A JSON-RPC success response."""
    return {"jsonrpc": "2.0", "id": id, "result": result}


def error(id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response (`data` left out when None)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": err}


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-RPC notification (`params` left out when None)."""
    if params is None:
        return {"jsonrpc": "2.0", "method": method}
    return {"jsonrpc": "2.0", "method": method, "params": params}


def parse_error(exc: Exception) -> dict[str, Any]:
    """The error answer to a message that is not JSON (id null)."""
    return error(None, PARSE_ERROR, f"Parse error: {exc}")


def invalid_request(id: Any, why: str) -> dict[str, Any]:
    """The error answer to JSON that is not a valid JSON-RPC request, saying `why`."""
    return error(id, INVALID_REQUEST, f"Invalid request: {why}")
