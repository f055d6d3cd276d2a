"""How the client answers the server's questions (sampling, elicitation, roots, ping): with the
handlers the caller gave, each declared as a client capability only when given."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from ..protocol.errors import INTERNAL_ERROR, METHOD_NOT_FOUND
from .errors import McpClientError
from .types import RequestInfo

if TYPE_CHECKING:
    from .client import Client

# A sampling or elicitation handler: ``async (params) -> dict`` or ``async (params, RequestInfo)``.
Handler = Callable[..., Awaitable[Any]]


async def maybe_await(value: Any) -> Any:
    """The value a sync or async callback returned (awaited when it is awaitable)."""
    if inspect.isawaitable(value):
        return await value
    return value


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return len(positional)


def _as_wire(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        dumped: dict[str, Any] = value.model_dump(by_alias=True, exclude_none=True, mode="json")
        return dumped
    if is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in asdict(value).items() if v is not None}
    raise TypeError(f"a handler must return a dict, not {type(value).__name__}")


def with_schema_defaults(result: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """An accepted form elicitation's answer with each field the handler left out that has a
    ``default`` in the requested schema filled in with it (SEP-1034)."""
    schema = params.get("requestedSchema")
    props = schema.get("properties") if isinstance(schema, dict) else None
    if result.get("action") != "accept" or not isinstance(props, dict):
        return result
    content = result.get("content")
    content = content if isinstance(content, dict) else {}
    defaults = {
        name: spec["default"]
        for name, spec in props.items()
        if isinstance(spec, dict) and "default" in spec and name not in content
    }
    if not defaults:
        return result
    return {**result, "content": {**content, **defaults}}


class QuestionHandlers:
    """The caller's answers to the server's questions: a `sampling` and an `elicitation`
    handler, and `roots` (a list of roots, dicts or URIs, or a function returning one)."""

    __slots__ = ("elicitation", "roots", "sampling")

    def __init__(
        self,
        sampling: Handler | None,
        elicitation: Handler | None,
        roots: list[Any] | Handler | None,
    ) -> None:
        self.sampling = sampling
        self.elicitation = elicitation
        self.roots = roots

    def capabilities(self) -> dict[str, Any]:
        """The client capabilities these handlers offer."""
        caps: dict[str, Any] = {}
        if self.sampling is not None:
            caps["sampling"] = {}
        if self.elicitation is not None:
            caps["elicitation"] = {}
        if self.roots is not None:
            caps["roots"] = {"listChanged": True}
        return caps

    async def answer(
        self, method: Any, params: dict[str, Any], tag: Any, client: Client
    ) -> dict[str, Any]:
        """The result for one question: a legacy server request or a 2026-07-28 input request
        (`tag`: that of our request it belongs to). Raises `McpClientError` to refuse it."""
        info = RequestInfo(str(method), tag, client)
        if method == "ping":
            return {}
        if method == "roots/list":
            roots = self.roots
            if roots is None:
                raise McpClientError(METHOD_NOT_FOUND, "this client offers no roots")
            if callable(roots):
                roots = await maybe_await(roots(info) if _arity(roots) >= 1 else roots())
            return {
                "roots": [{"uri": r} if isinstance(r, str) else _as_wire(r) for r in roots or ()]
            }
        handler = {
            "sampling/createMessage": self.sampling,
            "elicitation/create": self.elicitation,
        }.get(method)
        if method not in ("sampling/createMessage", "elicitation/create"):
            raise McpClientError(METHOD_NOT_FOUND, f"Method not found: {method}")
        if handler is None:
            raise McpClientError(METHOD_NOT_FOUND, f"this client has no {method} handler")
        result = _as_wire(
            await (handler(params, info) if _arity(handler) >= 2 else handler(params))
        )
        if method == "elicitation/create":
            return with_schema_defaults(result, params)
        return result

    async def answer_inputs(
        self, requests: dict[str, Any], tag: Any, client: Client
    ) -> dict[str, Any]:
        """The ``inputResponses`` of a 2026-07-28 input-required result: every one of its
        ``inputRequests`` answered, concurrently."""
        keys = list(requests)
        answers = await asyncio.gather(
            *(
                self.answer(
                    r.get("method") if isinstance(r, dict) else None,
                    (r.get("params") or {}) if isinstance(r, dict) else {},
                    tag,
                    client,
                )
                for r in requests.values()
            )
        )
        return dict(zip(keys, answers, strict=True))

    async def respond(self, message: dict[str, Any], tag: Any, client: Client) -> dict[str, Any]:
        """The JSON-RPC answer to a legacy server request: its result, or the error a handler
        raised (cancellation propagates: a withdrawn request gets no answer)."""
        request_id = message["id"]
        params = message.get("params")
        try:
            result = await self.answer(
                message["method"], params if isinstance(params, dict) else {}, tag, client
            )
        except McpClientError as exc:
            err: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.data is not None:
                err["data"] = exc.data
            return {"jsonrpc": "2.0", "id": request_id, "error": err}
        except Exception as exc:
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"},
            }
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
