"""The MCP method table for both protocol eras, independent of any transport.

A transport turns bytes into messages and calls `Engine.receive` (or builds a `Request` and
calls `Engine.handle`); the engine answers with plain dicts that the transport encodes once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from ..context import LEVEL_RANK
from ..middleware import Handler, Middleware, build_chain
from . import versions
from .errors import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CAPABILITY,
    RESOURCE_NOT_FOUND,
    UNSUPPORTED_VERSION,
    McpError,
    invalid_params,
)
from .jsonrpc import error, invalid_request, notification, response
from .session import NO_LOGS, Request, Send, Session
from .state import StateSigner
from .versions import META_CLIENT_CAPABILITIES, META_LOG_LEVEL, META_PROTOCOL_VERSION

if TYPE_CHECKING:
    from ..components import Prompt, Resource, Tool
    from ..registry import Registry

Method = Callable[[Request], Awaitable[dict[str, Any]]]
ErrorMapper = Callable[[Request, BaseException], Any]

LIST_TTL_MS = 60_000
# What a plugin's code may raise; SystemExit and KeyboardInterrupt from a tool must not end
# the server (signals reach it through the transport's handlers, not as exceptions here).
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)
# HTTP statuses the 2026-07-28 transport gives these errors, whoever raises them.
MODERN_STATUS = {
    HEADER_MISMATCH: 400,
    MISSING_CAPABILITY: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
LEGACY_ONLY = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)
INPUT_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
_CAPABILITY_OF = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}


class InputRequired(BaseException):
    """Raised inside a 2026-07-28 request that needs answers from the client first."""

    def __init__(self, requests: dict[str, dict[str, Any]], answers: dict[str, Any]) -> None:
        self.requests = requests
        self.answers = answers


class Subscription:
    __slots__ = ("filter", "id", "send")

    def __init__(self, id: Any, filter: dict[str, Any], send: Send) -> None:
        self.id = id
        self.filter = filter
        self.send = send


class Engine:
    """Answers MCP requests from the composed registry."""

    def __init__(
        self,
        registry: Registry,
        *,
        name: str = "mcp-runner",
        version: str = "0",
        instructions: str | None = None,
        middleware: list[Middleware] | None = None,
        map_error: ErrorMapper | None = None,
        tool_timeout: Callable[[Any], float | None] | None = None,
        visible: Callable[[Request, Any], bool] | None = None,
        runner: Any = None,
        state_secret: bytes | None = None,
    ) -> None:
        self.registry = registry
        self.runner = runner
        self.server_info = {"name": name, "version": version}
        self.instructions = instructions
        self.map_error = map_error or _default_error
        self.tool_timeout = tool_timeout or (lambda tool: tool.timeout)
        self.visible = visible  # which components a request may see (auth); None: all
        self.signer = StateSigner(state_secret)
        self.sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self.subscriptions: dict[int, Subscription] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.capabilities: dict[str, Any] = {
            "tools": {"listChanged": True},
            "resources": {"subscribe": True, "listChanged": True},
            "prompts": {"listChanged": True},
            "logging": {},
            "completions": {},
        }
        common: dict[str, Method] = {
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "resources/list": self._resources_list,
            "resources/templates/list": self._templates_list,
            "resources/read": self._resources_read,
            "prompts/list": self._prompts_list,
            "prompts/get": self._prompts_get,
            "completion/complete": self._complete,
        }
        self.legacy_methods: dict[str, Method] = {
            **common,
            "initialize": self._initialize,
            "ping": self._ping,
            "logging/setLevel": self._set_level,
            "resources/subscribe": self._subscribe,
            "resources/unsubscribe": self._unsubscribe,
        }
        self.modern_methods: dict[str, Method] = {
            **common,
            "server/discover": self._discover,
            "subscriptions/listen": self._listen,
        }
        self._dispatch: Handler | None = None
        if middleware:
            self._dispatch = build_chain(middleware, self._call_handler)
        registry.subscribe(self._composition_changed)

    # ------------------------------------------------------------------------------------------
    # Receiving messages

    def session(
        self, transport: str, outbound: Send | None = None, id: str | None = None
    ) -> Session:
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        session = Session(self, transport, outbound, id)
        self.sessions.add(session)
        return session

    def receive(
        self, session: Session, message: Any, send: Send
    ) -> Request | dict[str, Any] | None:
        """Classify one decoded message: a `Request` to run, an error to answer, or None."""
        if not isinstance(message, dict):
            return invalid_request(None, "a JSON-RPC message must be an object")
        method = message.get("method")
        has_id = "id" in message
        msg_id = message.get("id")
        if message.get("jsonrpc") != "2.0":
            return invalid_request(_safe_id(msg_id), 'the "jsonrpc" member must be "2.0"')
        if method is None:
            if has_id and ("result" in message or "error" in message):
                session.resolve(message)
                return None
            return invalid_request(
                _safe_id(msg_id), 'a message needs a "method", or a "result" or "error"'
            )
        if not isinstance(method, str):
            return invalid_request(_safe_id(msg_id), '"method" must be a string')
        params = message.get("params", {})
        if not isinstance(params, dict):
            if not has_id:
                return None
            return invalid_request(_safe_id(msg_id), '"params" must be an object')
        if not has_id:
            self.notification(session, method, params)
            return None
        if isinstance(msg_id, bool) or not isinstance(msg_id, str | int) or msg_id is None:
            return invalid_request(_safe_id(msg_id), '"id" must be a string or an integer')
        meta = params.get("_meta")
        modern = isinstance(meta, dict) and META_PROTOCOL_VERSION in meta
        if modern:
            version = meta[META_PROTOCOL_VERSION]  # type: ignore[index]
        elif method == "initialize":
            # Decided now, not when the handler runs: requests pipelined behind the
            # handshake must already see the session's version.
            version = session.version = versions.negotiate(params.get("protocolVersion"))
        elif session.version is not None:
            version = session.version
        elif method == "ping":
            version = versions.LATEST_LEGACY
        else:
            return error(
                msg_id,
                INVALID_PARAMS,
                f"{method}: missing _meta[{META_PROTOCOL_VERSION!r}]; send `initialize` first "
                f"(protocol {versions.LEGACY_VERSIONS[0]} to {versions.LATEST_LEGACY}) or give "
                f"the version and client capabilities in each request's _meta ({versions.LATEST})",
            )
        return Request(session, msg_id, method, params, send, version, modern)

    async def run_batch(
        self,
        session: Session,
        messages: list[Any],
        send: Send,
        max_in_flight: int,
        headers: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """A JSON-RPC batch (2025-03-26 only; the transport checks the version): every message
        received in order, its requests run side by side, each admitted like any other. Returns
        the answers; a request the client withdrew has none. `initialize` cannot be in one."""
        answers: list[dict[str, Any]] = []
        requests: list[Request] = []
        for message in messages:
            if isinstance(message, dict) and message.get("method") == "initialize":
                answers.append(
                    invalid_request(
                        _safe_id(message.get("id")), "initialize cannot be part of a batch"
                    )
                )
                continue
            outcome = self.receive(session, message, send)
            if isinstance(outcome, dict):
                answers.append(outcome)
            elif outcome is not None:
                refusal = session.admit(outcome, max_in_flight)
                if refusal is not None:
                    answers.append(refusal)
                    continue
                outcome.headers = headers
                requests.append(outcome)
        tasks = [asyncio.ensure_future(self.handle(req)) for req in requests]
        for req, task in zip(requests, tasks, strict=True):
            req.task = task
        try:
            done = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for req in requests:
                if session.in_flight.get(req.id) is req:
                    del session.in_flight[req.id]
        for req, answer in zip(requests, done, strict=True):
            if isinstance(answer, dict):
                answers.append(answer)
            elif req.cancelled_by_client:
                continue
            elif isinstance(answer, asyncio.CancelledError):
                answers.append(
                    error(req.id, INTERNAL_ERROR, "Request cancelled: the server is shutting down")
                )
            else:
                answers.append(error(req.id, INTERNAL_ERROR, f"Internal error: {answer!r}"))
        return answers

    def notification(self, session: Session, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/initialized":
            session.initialized = True
        elif method == "notifications/cancelled":
            target = params.get("requestId")
            request = session.in_flight.get(target) if isinstance(target, str | int) else None
            if request is not None and request.task is not None:
                request.cancelled_by_client = True
                request.task.cancel()
        # notifications/roots/list_changed and notifications/progress need no action here.

    # ------------------------------------------------------------------------------------------
    # Answering requests

    async def handle(self, req: Request) -> dict[str, Any]:
        """Answer one request: a JSON-RPC response or error message (never raises but cancel)."""
        try:
            if req.modern:
                self._check_envelope(req)
                method = self.modern_methods.get(req.method)
            else:
                method = self.legacy_methods.get(req.method)
            if method is not None:
                self.resolve_target(req)
            if self._dispatch is None:
                if method is None:
                    raise self._no_method(req)
                result = await method(req)
            else:
                req.handler = method
                result = await self._dispatch(req)
        except McpError as exc:
            if exc.http_status is not None:
                req.status = exc.http_status
                req.response_headers = exc.http_headers
            elif req.modern and exc.code in MODERN_STATUS:
                req.status = MODERN_STATUS[exc.code]
            return {"jsonrpc": "2.0", "id": req.id, "error": exc.to_error()}
        except InputRequired as needed:
            return response(req.id, self._input_required_result(req, needed))
        except asyncio.CancelledError:
            raise
        except PLUGIN_FAILURES as exc:
            mapped = self.map_error(req, exc)
            err = mapped if isinstance(mapped, McpError) else McpError(INTERNAL_ERROR, str(mapped))
            return {"jsonrpc": "2.0", "id": req.id, "error": err.to_error()}
        if req.modern:
            result.setdefault("resultType", "complete")
            meta = result.get("_meta")
            if meta is None:
                result["_meta"] = {versions.META_SERVER_INFO: self.server_info}
            else:
                meta.setdefault(versions.META_SERVER_INFO, self.server_info)
        return {"jsonrpc": "2.0", "id": req.id, "result": result}

    async def _call_handler(self, req: Request) -> Any:
        if req.handler is None:
            raise self._no_method(req)
        return await req.handler(req)

    def _no_method(self, req: Request) -> McpError:
        if req.modern and req.method in LEGACY_ONLY:
            why = f"Method not found: {req.method} was removed in protocol {req.version}"
        elif not req.modern and req.method in self.modern_methods:
            why = (
                f"Method not found: {req.method} needs protocol {versions.LATEST} (_meta envelope)"
            )
        else:
            why = f"Method not found: {req.method}"
        req.status = 404 if req.modern else 200
        return McpError(METHOD_NOT_FOUND, why)

    def _check_envelope(self, req: Request) -> None:
        meta = req.meta
        version = meta.get(META_PROTOCOL_VERSION)
        caps = meta.get(META_CLIENT_CAPABILITIES)
        if not isinstance(version, str) or not isinstance(caps, dict):
            req.status = 400
            missing = [
                key
                for key, ok in (
                    (META_PROTOCOL_VERSION, isinstance(version, str)),
                    (META_CLIENT_CAPABILITIES, isinstance(caps, dict)),
                )
                if not ok
            ]
            raise McpError(INVALID_PARAMS, f"Invalid params: _meta needs {', '.join(missing)}")
        if version not in versions.MODERN_VERSIONS:
            req.status = 400
            raise McpError(
                UNSUPPORTED_VERSION,
                f"Unsupported protocol version: {version}",
                {"supported": list(versions.SUPPORTED_VERSIONS), "requested": version},
            )
        req.client_capabilities = caps
        level = meta.get(META_LOG_LEVEL)
        if level is None:
            req.log_threshold = NO_LOGS
        elif isinstance(level, str) and level in LEVEL_RANK:
            req.log_threshold = LEVEL_RANK[level]
        else:
            req.status = 400
            raise McpError(INVALID_PARAMS, f"Invalid params: unknown log level {level!r}")

    def resolve_target(self, req: Request) -> None:
        """Set `req.target` (and `req.plugin`) to the tool, prompt or resource the request names,
        None when there is none; a resource template's values go in `req.uri_values`. Methods
        that name no component leave the request as it is."""
        method = req.method
        if method == "tools/call":
            name = req.params.get("name")
            req.target = self.registry.tools.get(name) if isinstance(name, str) else None
        elif method == "prompts/get":
            name = req.params.get("name")
            req.target = self.registry.prompts.get(name) if isinstance(name, str) else None
        elif method == "resources/read":
            uri = req.params.get("uri")
            found = self.registry.find_resource(uri) if isinstance(uri, str) else None
            if found is None:
                req.target = None
            else:
                req.target, req.uri_values = found
        else:
            return
        target = req.target
        if target is not None:
            req.plugin = target.plugin

    # ------------------------------------------------------------------------------------------
    # Lifecycle (legacy)

    async def _initialize(self, req: Request) -> dict[str, Any]:
        params = req.params
        session = req.session
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise invalid_params("initialize: protocolVersion must be a string")
        caps = params.get("capabilities", {})
        info = params.get("clientInfo", {})
        if not isinstance(caps, dict) or not isinstance(info, dict):
            raise invalid_params("initialize: capabilities and clientInfo must be objects")
        session.version = req.version = versions.negotiate(requested)
        session.client_capabilities = caps
        session.client_info = info
        result: dict[str, Any] = {
            "protocolVersion": session.version,
            "capabilities": self.capabilities,
            "serverInfo": self.server_info,
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    async def _ping(self, req: Request) -> dict[str, Any]:
        return {}

    async def _set_level(self, req: Request) -> dict[str, Any]:
        level = req.params.get("level")
        if not isinstance(level, str) or level not in LEVEL_RANK:
            raise invalid_params(
                f"logging/setLevel: level must be one of {', '.join(LEVEL_RANK)}, not {level!r}"
            )
        req.session.log_threshold = LEVEL_RANK[level]
        return {}

    async def _subscribe(self, req: Request) -> dict[str, Any]:
        req.session.subscriptions.add(_required_str(req, "uri"))
        return {}

    async def _unsubscribe(self, req: Request) -> dict[str, Any]:
        req.session.subscriptions.discard(_required_str(req, "uri"))
        return {}

    # ------------------------------------------------------------------------------------------
    # Discovery and subscriptions (2026-07-28)

    async def _discover(self, req: Request) -> dict[str, Any]:
        result: dict[str, Any] = {
            "supportedVersions": list(versions.SUPPORTED_VERSIONS),
            "capabilities": self.capabilities,
            "ttlMs": LIST_TTL_MS,
            "cacheScope": "public",
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    async def _listen(self, req: Request) -> dict[str, Any]:
        wanted = req.params.get("notifications")
        if not isinstance(wanted, dict):
            raise invalid_params("subscriptions/listen: params.notifications must be an object")
        honoured: dict[str, Any] = {
            key: True
            for key in ("toolsListChanged", "promptsListChanged", "resourcesListChanged")
            if wanted.get(key) is True
        }
        uris = wanted.get("resourceSubscriptions")
        if isinstance(uris, list) and all(isinstance(u, str) for u in uris) and uris:
            honoured["resourceSubscriptions"] = list(uris)
        tag = {versions.META_SUBSCRIPTION_ID: req.id}
        await req.send(
            notification(
                "notifications/subscriptions/acknowledged",
                {"_meta": tag, "notifications": honoured},
            )
        )
        key = id(req)
        self.subscriptions[key] = Subscription(req.id, honoured, req.send)
        try:
            await _forever(req)
        except asyncio.CancelledError:
            if req.cancelled_by_client:
                raise
            # The server is ending the subscription (shutdown): answer the listen request.
        finally:
            del self.subscriptions[key]
        return {"_meta": tag}

    def _composition_changed(self, kind: str) -> None:
        method = f"notifications/{kind}/list_changed"
        flag = {
            "tools": "toolsListChanged",
            "prompts": "promptsListChanged",
            "resources": "resourcesListChanged",
        }[kind]
        for session in list(self.sessions):
            if session.initialized and session.outbound is not None:
                self._spawn(session.notify(method))
        for sub in list(self.subscriptions.values()):
            if sub.filter.get(flag):
                params = {"_meta": {versions.META_SUBSCRIPTION_ID: sub.id}}
                self._spawn(sub.send(notification(method, params)))

    def resource_updated(self, uri: str) -> None:
        """Tell every session and listener subscribed to `uri` that it changed."""
        for session in list(self.sessions):
            if uri in session.subscriptions:
                self._spawn(session.notify("notifications/resources/updated", {"uri": uri}))
        for sub in list(self.subscriptions.values()):
            if uri in sub.filter.get("resourceSubscriptions", ()):
                params = {"_meta": {versions.META_SUBSCRIPTION_ID: sub.id}, "uri": uri}
                self._spawn(sub.send(notification("notifications/resources/updated", params)))

    def _spawn(self, coro: Coroutine[Any, Any, Any] | Awaitable[Any]) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # called from a worker thread (a sync tool): hand over to the loop
            if self._loop is None or self._loop.is_closed():
                if isinstance(coro, Coroutine):
                    coro.close()
                return
            self._loop.call_soon_threadsafe(self._spawn, coro)
            return
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------------------------------
    # Tools

    async def _tools_list(self, req: Request) -> dict[str, Any]:
        return self._page(req, "tools", "tools")

    async def _tools_call(self, req: Request) -> dict[str, Any]:
        tool = cast("Tool | None", req.target)
        if tool is None:
            name = req.params.get("name")
            if not isinstance(name, str):
                raise invalid_params("tools/call: params.name must be a string")
            raise invalid_params(f"Unknown tool: {name!r}")
        arguments = req.params.get("arguments")
        if arguments is None:
            arguments = {}
        elif not isinstance(arguments, dict):
            raise invalid_params(f"tools/call {tool.name}: arguments must be an object")
        self._take_inputs(req)
        timeout = self.tool_timeout(tool)
        try:
            if timeout is None:
                return await tool.call(arguments, req)
            async with asyncio.timeout(timeout):
                return await tool.call(arguments, req)
        except McpError:
            raise
        except TimeoutError as exc:
            if timeout is not None and _timed_out(exc):
                return _error_result(f"Tool {tool.name!r} timed out after {_seconds(timeout)}")
            return self._tool_error(req, exc)
        except PLUGIN_FAILURES as exc:
            return self._tool_error(req, exc)

    def _tool_error(self, req: Request, exc: BaseException) -> dict[str, Any]:
        """A tool's exception as an isError result, or the JSON-RPC error a mapper chose."""
        mapped = self.map_error(req, exc)
        if isinstance(mapped, McpError):
            raise mapped
        return _error_result(str(mapped))

    # ------------------------------------------------------------------------------------------
    # Resources

    async def _resources_list(self, req: Request) -> dict[str, Any]:
        return self._page(req, "resources", "resources")

    async def _templates_list(self, req: Request) -> dict[str, Any]:
        return self._page(req, "templates", "resourceTemplates")

    async def _resources_read(self, req: Request) -> dict[str, Any]:
        uri = _required_str(req, "uri")
        if req.target is None:
            if req.modern:  # SEP-2164
                raise McpError(INVALID_PARAMS, f"Resource not found: {uri}", {"uri": uri})
            raise McpError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        resource = cast("Resource", req.target)
        self._take_inputs(req)
        contents = await resource.read(uri, req.uri_values or {}, req)
        result: dict[str, Any] = {"contents": contents}
        if req.modern:
            result["ttlMs"] = 0
            result["cacheScope"] = "private"
        return result

    # ------------------------------------------------------------------------------------------
    # Prompts and completion

    async def _prompts_list(self, req: Request) -> dict[str, Any]:
        return self._page(req, "prompts", "prompts")

    async def _prompts_get(self, req: Request) -> dict[str, Any]:
        prompt = cast("Prompt | None", req.target)
        if prompt is None:
            raise invalid_params(f"Unknown prompt: {_required_str(req, 'name')!r}")
        arguments = req.params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise invalid_params(f"prompts/get {prompt.name}: arguments must be an object")
        self._take_inputs(req)
        result: dict[str, Any] = await prompt.get(arguments, req)
        return result

    async def _complete(self, req: Request) -> dict[str, Any]:
        from ..components import complete

        ref = req.params.get("ref")
        argument = req.params.get("argument")
        if not isinstance(ref, dict) or not isinstance(argument, dict):
            raise invalid_params("completion/complete: ref and argument must be objects")
        kind = ref.get("type")
        key = (
            ref.get("name")
            if kind == "ref/prompt"
            else ref.get("uri")
            if kind == "ref/resource"
            else None
        )
        if not isinstance(key, str):
            raise invalid_params(
                "completion/complete: ref must be a ref/prompt with a name or a ref/resource with a uri"
            )
        name, value = argument.get("name"), argument.get("value", "")
        if not isinstance(name, str) or not isinstance(value, str):
            raise invalid_params("completion/complete: argument needs a string name and value")
        context = req.params.get("context") or {}
        context_args = context.get("arguments") or {} if isinstance(context, dict) else {}
        completer, choices = self.registry.completer(key, name)
        values = await complete(completer, choices, value, context_args, req)
        return {
            "completion": {
                "values": values[:100],
                "total": len(values),
                "hasMore": len(values) > 100,
            }
        }

    # ------------------------------------------------------------------------------------------
    # Helpers

    def _page(self, req: Request, kind: str, field: str) -> dict[str, Any]:
        visible = self.visible
        keep = None if visible is None else (lambda component: visible(req, component))
        items, next_cursor = self.registry.page(kind, req.params.get("cursor"), keep)
        result: dict[str, Any] = {field: items}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        if req.modern:
            result["ttlMs"] = LIST_TTL_MS
            result["cacheScope"] = "public"
        return result

    def _take_inputs(self, req: Request) -> None:
        """Load a 2026-07-28 retry's answers and verified state into the request."""
        if not req.modern:
            return
        responses = req.params.get("inputResponses")
        state = req.params.get("requestState")
        if responses is not None and not isinstance(responses, dict):
            raise invalid_params("inputResponses must be an object keyed by input request")
        answers: dict[str, Any] = {}
        if state is not None:
            body = self.signer.open(state, self._binding(req))
            answers.update(body.get("a", {}))
            req.state = body.get("s")
        if responses:
            answers.update(responses)
        req.input_responses = answers

    def _binding(self, req: Request) -> str:
        target = req.params.get("name") or req.params.get("uri") or ""
        subject = getattr(req.principal, "subject", "") if req.principal is not None else ""
        return f"{req.method}|{target}|{subject}"

    async def input_required(
        self, req: Request, requests: dict[str, tuple[str, dict[str, Any]]], one: bool = False
    ) -> Any:
        """Answers for `requests` from this round, or an input-required round asking for them."""
        if req.method not in INPUT_METHODS:
            raise McpError(INTERNAL_ERROR, f"{req.method} cannot ask the client for input")
        answers = req.input_responses if req.input_responses is not None else {}
        found: dict[str, Any] = {}
        missing: dict[str, dict[str, Any]] = {}
        for key, (method, params) in requests.items():
            capability = _CAPABILITY_OF[method]
            if capability not in req.client_capabilities:
                req.status = 400
                raise McpError(
                    MISSING_CAPABILITY,
                    f"This request needs the client's {capability!r} capability ({method})",
                    {"requiredCapabilities": {capability: {}}},
                )
            answer = answers.get(key)
            if _valid_answer(method, answer):
                found[key] = answer
            else:
                missing[key] = {"method": method, "params": params}
        used = req.state if req.state is not None else {}
        used.setdefault("_answers", {}).update(found)
        req.state = used
        if missing:
            raise InputRequired(missing, used["_answers"])
        return found[next(iter(found))] if one else found

    def _input_required_result(self, req: Request, needed: InputRequired) -> dict[str, Any]:
        user_state = {k: v for k, v in (req.state or {}).items() if k not in ("_answers", "_asked")}
        payload: dict[str, Any] = {"a": needed.answers}
        if user_state:
            payload["s"] = user_state
        return {
            "resultType": "input_required",
            "inputRequests": needed.requests,
            "requestState": self.signer.seal(payload, self._binding(req)),
        }


async def _forever(req: Request) -> None:
    await asyncio.get_running_loop().create_future()


def _valid_answer(method: str, answer: Any) -> bool:
    if not isinstance(answer, dict):
        return False
    if method == "elicitation/create":
        return answer.get("action") in ("accept", "decline", "cancel")
    if method == "sampling/createMessage":
        return isinstance(answer.get("content"), dict | list)
    return isinstance(answer.get("roots"), list)


def _required_str(req: Request, key: str) -> str:
    value = req.params.get(key)
    if not isinstance(value, str):
        raise invalid_params(f"{req.method}: params.{key} must be a string")
    return value


def _safe_id(value: Any) -> Any:
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _timed_out(exc: TimeoutError) -> bool:
    return exc.__cause__ is None or isinstance(exc.__cause__, asyncio.CancelledError)


def _seconds(value: float) -> str:
    return f"{value:g} s" if math.isfinite(value) else "never"


def _default_error(req: Request, exc: BaseException) -> Any:
    return f"{type(exc).__name__}: {exc}"


__all__ = ["INVALID_REQUEST", "Engine", "InputRequired", "Request", "Session", "error", "response"]
