"""The components that forward to a backend (its tools, prompts, resources, resource
templates and completions), and the staging of a backend's listing as those components."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ...client import ConnectionClosed, McpClientError, RequestTimeout
from ...components import (
    TOOL_NAME,
    Completer,
    DefinitionError,
    Prompt,
    Resource,
    ResourceTemplate,
    Signature,
    Tool,
    compile_template,
    error_result,
)
from ...protocol.errors import INTERNAL_ERROR, McpError
from ...registry import PluginRegistry
from .call import BackendDown

if TYPE_CHECKING:
    from .backend import Backend

# A forwarding component takes its arguments as they come: the backend validates them.
_NO_SIGNATURE = Signature(
    fn=None,  # type: ignore[arg-type]
    is_async=True,
    context_param=None,
    params={},
    adapter=None,  # type: ignore[arg-type]
    schema={},
    description=None,
    param_docs={},
    hints={},
)


def _clean(result: dict[str, Any]) -> dict[str, Any]:
    """A backend's result without what belongs to its own wire (era fields, server info)."""
    if "resultType" not in result and "_meta" not in result:
        return result
    out = {k: v for k, v in result.items() if k not in ("resultType", "_meta")}
    meta = result.get("_meta")
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if not k.startswith("io.modelcontextprotocol/")}
        if kept:
            out["_meta"] = kept
    return out


def _protocol_error(backend: Backend, exc: BaseException) -> McpError:
    """The JSON-RPC error our client gets for a failed prompt, read or completion."""
    if isinstance(exc, McpClientError):
        return McpError(exc.code, exc.message, exc.data)
    if isinstance(exc, BackendDown):
        return McpError(INTERNAL_ERROR, str(exc), {"backend": backend.name, "state": backend.state})
    if isinstance(exc, ConnectionClosed):
        return McpError(INTERNAL_ERROR, f"Backend {backend.name!r} dropped the request: {exc}")
    if isinstance(exc, RequestTimeout):
        return McpError(INTERNAL_ERROR, f"Backend {backend.name!r}: {exc}")
    return McpError(INTERNAL_ERROR, f"Backend {backend.name!r}: {type(exc).__name__}: {exc}")


class _Renamed:
    """A backend's tool or prompt: described as the backend does, under our (namespaced) name."""

    __slots__ = ()
    name: str
    raw: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        out = dict(self.raw)
        out["name"] = self.name
        return out


@dataclass(slots=True, eq=False)
class ProxyTool(_Renamed, Tool):
    """A backend's tool: a call is forwarded; the backend being down is an error result."""

    backend: Backend = None  # type: ignore[assignment]
    remote: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    async def call(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        """Call the tool at the backend, under its own name there."""
        backend = self.backend
        try:
            result = await backend.forward(
                request, self, "tools/call", {"name": self.remote, "arguments": arguments}
            )
            if result.get("resultType") == "task":  # the backend runs it as a task
                relayed = await backend.relay_task(request, result)
                return relayed if relayed.get("resultType") == "task" else _clean(relayed)
        except BackendDown as exc:
            return error_result(str(exc))
        except ConnectionClosed as exc:
            return error_result(
                f"Backend {backend.name!r} dropped the call to {self.remote!r}: {exc}"
            )
        except RequestTimeout as exc:
            return error_result(f"Backend {backend.name!r}: {exc}")
        except McpClientError as exc:
            raise McpError(exc.code, exc.message, exc.data) from None
        return _clean(result)


@dataclass(slots=True, eq=False)
class ProxyPrompt(_Renamed, Prompt):
    """A backend's prompt: ``prompts/get`` is forwarded."""

    backend: Backend = None  # type: ignore[assignment]
    remote: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    async def get(self, arguments: dict[str, Any], request: Any) -> dict[str, Any]:
        """Get the prompt from the backend, under its own name there."""
        params: dict[str, Any] = {"name": self.remote}
        if arguments:
            params["arguments"] = arguments
        try:
            return _clean(await self.backend.forward(request, self, "prompts/get", params))
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise _protocol_error(self.backend, exc) from None


class _ForwardedRead:
    """A backend's resource or template: described as the backend does, read from it."""

    __slots__ = ()
    backend: Backend
    raw: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return dict(self.raw)

    async def read(self, uri: str, arguments: dict[str, Any], request: Any) -> list[dict[str, Any]]:
        backend = self.backend
        try:
            resource = cast("Resource", self)
            result = await backend.forward(request, resource, "resources/read", {"uri": uri})
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise _protocol_error(backend, exc) from None
        contents = result.get("contents")
        return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []


@dataclass(slots=True, eq=False)
class ProxyResource(_ForwardedRead, Resource):
    """A backend's resource, under its own URI."""

    backend: Backend = None  # type: ignore[assignment]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class ProxyTemplate(_ForwardedRead, ResourceTemplate):
    """A backend's resource template, under its own URI template."""

    backend: Backend = None  # type: ignore[assignment]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class ProxyCompleter(Completer):
    """Completion of one argument of a backend's prompt or resource template."""

    backend: Backend = None  # type: ignore[assignment]
    ref: dict[str, Any] = field(default_factory=dict)
    argument: str = ""

    async def complete(self, value: str, arguments: dict[str, Any], request: Any) -> list[str]:
        """The backend's completions of `value` (none while it is not ready)."""
        client = self.backend.client
        if client is None or self.backend.state != "ready":
            return []
        params: dict[str, Any] = {
            "ref": self.ref,
            "argument": {"name": self.argument, "value": value},
        }
        if arguments:
            params["context"] = {"arguments": arguments}
        try:
            result = await client.request(
                "completion/complete", params, timeout=self.backend.config.timeout
            )
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            raise _protocol_error(self.backend, exc) from None
        found = result.get("completion")
        completion: dict[str, Any] = found if isinstance(found, dict) else {}
        return [str(v) for v in completion.get("values") or ()]


def stage(
    backend: Backend, listing: dict[str, list[Any]], completions: bool
) -> tuple[PluginRegistry, list[str]]:
    """A backend's listing (the client's ``tools``, ``prompts``, ``resources`` and
    ``templates``) as a registry of forwarding components, ready to merge; and what was
    skipped, and why. `completions`: the backend offers completion of its arguments."""
    staged = PluginRegistry(backend.plugin)
    skipped: list[str] = []
    namespace = backend.namespace
    timeout = backend.config.timeout
    for t in listing["tools"]:
        final = f"{namespace}_{t.name}" if namespace else t.name
        if not TOOL_NAME.match(final):
            skipped.append(
                f"tool {t.name!r}: {final!r} is not 1-64 characters of A-Z a-z 0-9 _ . -"
            )
            continue
        staged.install(
            ProxyTool(
                name=t.name,
                signature=_NO_SIGNATURE,
                description=t.description,
                title=t.title,
                annotations=t.annotations,
                input_schema=t.input_schema,
                output_schema=t.output_schema,
                meta=t.meta,
                timeout=timeout,
                backend=backend,
                remote=t.name,
                raw=t.raw,
            )
        )
    for p in listing["prompts"]:
        staged.install(
            ProxyPrompt(
                name=p.name,
                signature=_NO_SIGNATURE,
                title=p.title,
                description=p.description,
                arguments=[a for a in p.raw.get("arguments") or () if isinstance(a, dict)],
                meta=p.meta,
                backend=backend,
                remote=p.name,
                raw=p.raw,
            )
        )
        if completions:
            for arg in p.arguments:
                _completer(
                    staged, backend, p.name, {"type": "ref/prompt", "name": p.name}, arg.name
                )
    for r in listing["resources"]:
        staged.install(
            ProxyResource(
                uri=r.uri,
                name=r.name,
                signature=_NO_SIGNATURE,
                title=r.title,
                description=r.description,
                mime_type=r.mime_type,
                annotations=r.annotations,
                size=r.size,
                meta=r.meta,
                backend=backend,
                raw=r.raw,
            )
        )
    for t in listing["templates"]:
        try:
            pattern, variables, exploded = compile_template(t.uri_template)
        except (DefinitionError, re.error) as exc:
            skipped.append(f"resource template {t.uri_template!r}: {exc}")
            continue
        staged.install(
            ProxyTemplate(
                uri=t.uri_template,
                name=t.name,
                signature=_NO_SIGNATURE,
                title=t.title,
                description=t.description,
                mime_type=t.mime_type,
                annotations=t.annotations,
                meta=t.meta,
                pattern=pattern,
                variables=variables,
                exploded=exploded,
                backend=backend,
                raw=t.raw,
            )
        )
        if completions:
            for var in variables:
                ref = {"type": "ref/resource", "uri": t.uri_template}
                _completer(staged, backend, t.uri_template, ref, var)
    return staged, skipped


def _completer(
    staged: PluginRegistry, backend: Backend, key: str, ref: dict[str, Any], argument: str
) -> None:
    completer = ProxyCompleter(fn=None, backend=backend, ref=ref, argument=argument)  # type: ignore[arg-type]
    completer.plugin = backend.plugin
    staged.completions[(key, argument)] = completer
