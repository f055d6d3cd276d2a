"""JSON-RPC 2.0 framing: parse bytes once, encode plain dicts once.

pydantic-core's JSON (Rust) does the common case. What it refuses (malformed input, lone
surrogates, very deep nesting) or cannot write as JSON (non-finite numbers) goes the stdlib
way, whose results and error messages are the reference. Values that are not JSON types are
written as pydantic writes them (datetimes in ISO 8601, bytes as UTF-8), others as `str()`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json, to_json

from .errors import INVALID_REQUEST, PARSE_ERROR

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

    Nesting is bounded by the interpreter's recursion limit (about 1,000 levels) and integers
    by its 4,300-digit limit: deeper or longer input is malformed for us too.
    """
    try:
        return from_json(data, allow_inf_nan=False, cache_strings="keys")
    except ValueError:
        pass
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    try:
        return _decode(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def response(id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "result": result}


def error(id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": err}


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    if params is None:
        return {"jsonrpc": "2.0", "method": method}
    return {"jsonrpc": "2.0", "method": method, "params": params}


def parse_error(exc: Exception) -> dict[str, Any]:
    return error(None, PARSE_ERROR, f"Parse error: {exc}")


def invalid_request(id: Any, why: str) -> dict[str, Any]:
    return error(id, INVALID_REQUEST, f"Invalid request: {why}")
