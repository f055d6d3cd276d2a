"""The MCP method table for both protocol eras, independent of any transport.

A transport hands a connection (`protocol.connection`) its decoded messages; the connection
admits each request and asks `Engine.handle` for the answer, a plain dict the transport
encodes once. The engine resolves the component a request names, runs the middleware chain
and the method, and turns what goes wrong into JSON-RPC errors.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from . import versions
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    UNSUPPORTED_VERSION,
    McpError,
    invalid_params,
)
from .inputs import InputRequired, input_required_result, take_inputs
from .jsonrpc import notification, response
from .notify import Listener, Notifier
from .observers import Observers
from .session import CLIENT_REQUEST_TIMEOUT, LEVEL_RANK, NO_LOGS, Request, Send, Session
from .state import StateSigner
from .tasks import EXTENSION, TaskLimits, Tasks, missing_extension, negotiated, owner_of
from .versions import META_CLIENT_CAPABILITIES, META_LOG_LEVEL, META_PROTOCOL_VERSION

if TYPE_CHECKING:
    from .catalog import Catalog, ServedPrompt, ServedResource, ServedTool

Method = Callable[[Request], Awaitable[dict[str, Any]]]
#: The innermost step of the middleware chain, and the chain itself: a request to its result.
Handler = Callable[[Request], Awaitable[Any]]
ErrorMapper = Callable[[Request, BaseException], Any]

LIST_TTL_MS = 60_000
# What a plugin's code may raise; SystemExit and KeyboardInterrupt from a tool must not end
# the server (signals reach it through the transport's handlers, not as exceptions here).
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)
#: What this server offers, in `initialize` and `server/discover` alike.
SERVER_CAPABILITIES: dict[str, Any] = {
    "tools": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "prompts": {"listChanged": True},
    "logging": {},
    "completions": {},
    "extensions": {EXTENSION: {}},
}
LEGACY_ONLY = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)


class Engine:
    """Answers MCP requests from the composed registry."""

    def __init__(
        self,
        registry: Catalog,
        *,
        name: str = "mcp-runner",
        version: str = "0",
        instructions: str | None = None,
        chain: Callable[[Handler], Handler] | None = None,
        map_error: ErrorMapper | None = None,
        tool_timeout: Callable[[Any], float | None] | None = None,
        visible: Callable[[Request, Any], bool] | None = None,
        host: Any = None,
        state_secrets: Sequence[bytes] = (),
        client_request_timeout: float = CLIENT_REQUEST_TIMEOUT,
        tasks: TaskLimits | None = None,
        observers: Observers | None = None,
    ) -> None:
        """`chain` wraps the engine's method call in the middleware (built once, here); `host`
        is what plugins reach as `Context.runner`; `observers` are told of every request's
        start and end (by the connection that runs it)."""
        self.registry = registry
        self.host = host
        self.server_info = {"name": name, "version": version}
        self.instructions = instructions
        self.map_error = map_error or _default_error
        self.tool_timeout = tool_timeout or (lambda tool: tool.timeout)
        self.visible = visible  # which components a request may see (auth); None: all
        #: The request observers' methods, or None when there is no observer (nothing timed).
        self.observers = observers
        self.signer = StateSigner(state_secrets)
        #: Seconds a legacy session's server-to-client request waits for its answer.
        self.client_request_timeout = client_request_timeout
        #: Why `initialize` is refused (legacy sessions cannot be served here), or None.
        self.legacy_refusal: str | None = None
        self.notifier = Notifier()
        #: Tool calls running as tasks, and where their records are kept.
        self.tasks = Tasks(tasks or TaskLimits(), self.notifier)
        common: dict[str, Method] = {
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "resources/list": self._resources_list,
            "resources/templates/list": self._templates_list,
            "resources/read": self._resources_read,
            "prompts/list": self._prompts_list,
            "prompts/get": self._prompts_get,
            "completion/complete": self._complete,
            "tasks/get": self.tasks.get,
            "tasks/update": self.tasks.update,
            "tasks/cancel": self.tasks.cancel,
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
        self._dispatch = chain(self._call_handler) if chain is not None else None
        registry.subscribe(self.notifier.list_changed)

    def session(
        self, transport: str, outbound: Send | None = None, id: str | None = None
    ) -> Session:
        """A new client session; with an `outbound` it hears of list and resource changes."""
        session = Session(transport, outbound, id, host=self.host)
        self.notifier.add_session(session)
        return session

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
            req.error = req.failure = exc
            return {"jsonrpc": "2.0", "id": req.id, "error": exc.to_error()}
        except InputRequired as needed:
            return response(req.id, input_required_result(req, needed, self.signer))
        except asyncio.CancelledError:
            raise
        except PLUGIN_FAILURES as exc:
            req.failure = exc
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

    def _call_handler(self, req: Request) -> Awaitable[Any]:
        # The chain's innermost step: the method's own awaitable, with no frame of its own.
        if req.handler is None:
            raise self._no_method(req)
        return req.handler(req)

    def _no_method(self, req: Request) -> McpError:
        if req.modern and req.method in LEGACY_ONLY:
            why = f"Method not found: {req.method} was removed in protocol {req.version}"
        elif not req.modern and req.method in self.modern_methods:
            why = (
                f"Method not found: {req.method} needs protocol {versions.LATEST} (_meta envelope)"
            )
        else:
            why = f"Method not found: {req.method}"
        return McpError(METHOD_NOT_FOUND, why)

    def _check_envelope(self, req: Request) -> None:
        meta = req.meta
        version = meta.get(META_PROTOCOL_VERSION)
        caps = meta.get(META_CLIENT_CAPABILITIES)
        if not isinstance(version, str) or not isinstance(caps, dict):
            missing = [
                key
                for key, ok in (
                    (META_PROTOCOL_VERSION, isinstance(version, str)),
                    (META_CLIENT_CAPABILITIES, isinstance(caps, dict)),
                )
                if not ok
            ]
            raise _bad_envelope(f"Invalid params: _meta needs {', '.join(missing)}")
        if version not in versions.MODERN_VERSIONS:
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
            raise _bad_envelope(f"Invalid params: unknown log level {level!r}")

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
        if self.legacy_refusal is not None:
            raise McpError(INVALID_REQUEST, self.legacy_refusal)
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
            "capabilities": SERVER_CAPABILITIES,
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
            "capabilities": SERVER_CAPABILITIES,
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
        if isinstance(uris, list) and all(isinstance(u, str) for u in uris):
            # Only URIs a resource serves and the caller may read, as resources/subscribe checks.
            visible = self.visible
            readable = []
            for uri in uris:
                found = self.registry.find_resource(uri)
                if found is not None and (visible is None or visible(req, found[0])):
                    readable.append(uri)
            if readable:
                honoured["resourceSubscriptions"] = readable
        task_ids = wanted.get("taskIds")
        if isinstance(task_ids, list) and negotiated(req):
            # Only the caller's own tasks, as tasks/get would find them.
            owner = owner_of(req)
            owned = [
                task_id
                for task_id in task_ids
                if isinstance(task_id, str) and await self.tasks.find(task_id, owner) is not None
            ]
            if owned:
                honoured["taskIds"] = owned
        tag = {versions.META_SUBSCRIPTION_ID: req.id}
        await req.outlet.send(
            notification(
                "notifications/subscriptions/acknowledged",
                {"_meta": tag, "notifications": honoured},
            )
        )
        key = id(req)
        self.notifier.add_listener(key, Listener(req.id, honoured, req.outlet.send))
        try:
            await _forever(req)
        except asyncio.CancelledError:
            if req.cancelled_by_client:
                raise
            # The server is ending the subscription (shutdown): answer the listen request.
        finally:
            self.notifier.remove_listener(key)
        return {"_meta": tag}

    # ------------------------------------------------------------------------------------------
    # Tools

    async def _tools_list(self, req: Request) -> dict[str, Any]:
        return self._page(req, "tools", "tools")

    def _tools_call(self, req: Request) -> Awaitable[dict[str, Any]]:
        # A plain function returning the call's awaitable: no frame of its own per call.
        tool = cast("ServedTool | None", req.target)
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
        if req.modern:
            take_inputs(req, self.signer)
        support = tool.task
        if support != "never":
            if negotiated(req):
                return self.tasks.call(
                    req, lambda: self._run_tool(req, tool, arguments), tool.defer_task
                )
            if support == "required":
                raise missing_extension(f"Tool {tool.name!r} runs only as a task")
        return self._run_tool(req, tool, arguments)

    async def _run_tool(
        self, req: Request, tool: ServedTool, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """The tool's result within its timeout; its failures as isError results."""
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
        resource = cast("ServedResource", req.target)
        take_inputs(req, self.signer)
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
        prompt = cast("ServedPrompt | None", req.target)
        if prompt is None:
            raise invalid_params(f"Unknown prompt: {_required_str(req, 'name')!r}")
        arguments = req.params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise invalid_params(f"prompts/get {prompt.name}: arguments must be an object")
        take_inputs(req, self.signer)
        result: dict[str, Any] = await prompt.get(arguments, req)
        return result

    async def _complete(self, req: Request) -> dict[str, Any]:
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
        if completer is not None:
            values = await completer.complete(value, context_args, req)
        else:  # the choices of a Literal or Enum argument that start with the value
            values = [c for c in choices or () if c.startswith(value)]
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


async def _forever(req: Request) -> None:
    await asyncio.get_running_loop().create_future()


def _required_str(req: Request, key: str) -> str:
    value = req.params.get(key)
    if not isinstance(value, str):
        raise invalid_params(f"{req.method}: params.{key} must be a string")
    return value


def _error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _timed_out(exc: TimeoutError) -> bool:
    return exc.__cause__ is None or isinstance(exc.__cause__, asyncio.CancelledError)


def _seconds(value: float) -> str:
    return f"{value:g} s" if math.isfinite(value) else "never"


def _default_error(req: Request, exc: BaseException) -> Any:
    return f"{type(exc).__name__}: {exc}"


def _bad_envelope(message: str) -> McpError:
    """A malformed 2026-07-28 `_meta` envelope: -32602, and HTTP 400 on that wire."""
    err = McpError(INVALID_PARAMS, message)
    err.http_status = 400
    return err
