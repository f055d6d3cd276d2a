"""`Runner`: plugins composed into one MCP server, ready for a transport."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Unpack

from .components import Prompt, PromptOptions, Resource, ResourceOptions, Tool, ToolOptions
from .config import Settings, load_settings
from .middleware import build_chain
from .plugins import PluginHost
from .protocol.connection import Connection
from .protocol.engine import Engine
from .protocol.observers import Observers, RequestStats
from .protocol.session import DirectOutlet, Request, Send, Session
from .protocol.tasks import TaskLimits
from .registry import PluginRegistry, Registry


class Runner:
    """Discover plugins, compose them, and serve the result.

    ::

        runner = Runner().start()                 # entry points + builtins
        await runner.serve("stdio")

        runner = Runner(plugins={"demo": plugin}, entry_points=False).start()   # in tests
        await runner.call_tool("add", {"a": 1, "b": 2})
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: dict[str, Any] | None = None,
        extra: list[str] | None = None,
        entry_points: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.host = PluginHost(self.settings, extra, entry_points=entry_points)
        self._objects = plugins or {}
        server = self.settings.server
        self.registry = Registry(page_size=server.page_size, on_conflict=server.on_conflict)
        self.engine: Engine = None  # type: ignore[assignment]
        self.authenticator: Any = None
        self.started = False
        self.live = False  # the plugins' lifespans are entered: serving may begin
        self.draining = False
        """True from the first moment of a graceful shutdown (``/readyz`` answers 503)."""
        self.request_stats = RequestStats()
        """Counts and latencies of every request, kept while a plugin returns them from
        ``mcp_runner_request_observers`` (the builtin ``metrics`` does)."""
        self._timeouts: dict[str, float | None] = {}

    def start(self) -> Runner:
        """Load and compose every plugin (synchronous, once)."""
        if self.started:
            return self
        self.host.load(self._objects)
        self.host.compose(self.registry)
        server = self.settings.server
        instructions = "\n\n".join(filter(None, [server.instructions, *self.registry.instructions]))
        from . import __version__

        verifiers = self.host.token_verifiers()
        if verifiers:
            from .auth import Authenticator

            self.authenticator = Authenticator(verifiers, self.settings)

        middleware = self.host.middleware(self)
        self.engine = Engine(
            self.registry,
            name=server.name,
            version=server.version or __version__,
            instructions=instructions or None,
            chain=functools.partial(build_chain, middleware) if middleware else None,
            map_error=self.host.handle_error,
            tool_timeout=self._tool_timeout,
            visible=self.authenticator.visible if self.authenticator is not None else None,
            host=self,
            state_secrets=server.state_keys(),
            client_request_timeout=server.client_request_timeout,
            tasks=TaskLimits(**self.settings.tasks.model_dump()),
            observers=self._observers(),
        )
        self.started = True
        return self

    def _observers(self) -> Observers | None:
        """The plugins' request observers, or None when there are none."""
        observers = self.host.request_observers(self)
        return Observers(observers, _observer_failed) if observers else None

    def _tool_timeout(self, tool: Tool) -> float | None:
        if tool.timeout is not None:
            return tool.timeout
        try:
            return self._timeouts[tool.plugin]
        except KeyError:
            timeout = self.settings.plugin(tool.plugin).timeout or self.settings.server.tool_timeout
            self._timeouts[tool.plugin] = timeout
            return timeout

    # ------------------------------------------------------------------------------------------
    # Serving

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Runner]:
        """Enter every plugin's lifespan (a failing one leaves its plugin out), exit in reverse."""
        self.start()
        async with contextlib.AsyncExitStack() as stack:
            for record, manager in self.host.lifespans(self):
                try:
                    await stack.enter_async_context(manager)
                except Exception as exc:
                    self.host.fail(record, "lifespan", exc)
            self.live = True
            try:
                yield self
            finally:
                self.live = False

    def transports(self) -> dict[str, Callable[..., Any]]:
        """The transports plugins offer, by name (``stdio``, ``http``, ...)."""
        return self.host.transports()

    async def serve(self, transport: str = "stdio", **options: Any) -> None:
        """Serve on a transport until it ends (stdin closes, or a signal)."""
        self.start()
        serve = self.transports().get(transport)
        if serve is None:
            raise ValueError(
                f"unknown transport {transport!r}; available: {', '.join(sorted(self.transports()))}"
            )
        loop = asyncio.get_running_loop()
        workers = self.settings.server.worker_threads
        loop.set_default_executor(
            ThreadPoolExecutor(workers, thread_name_prefix="mcp-runner-worker")
        )
        async with self.lifespan():
            await serve(self, options)

    def connect(self, transport: str, outbound: Send) -> Connection:
        """A client connection for a transport: a new session (messages not tied to a request
        go to `outbound`) on the one request path, with ``server.max_in_flight``."""
        self.start()
        session = self.engine.session(transport, outbound=outbound)
        return Connection(self.engine, session, self.settings.server.max_in_flight)

    def ready(self, transport: str) -> None:
        """Called by a transport once it is serving."""
        from . import log

        asyncio.get_running_loop().call_later(0.2, log.apply)  # after the first answers
        self.host.server_ready(self, transport)

    # ------------------------------------------------------------------------------------------
    # In-process use (the CLI's `call`, tests)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answer one legacy-era request in process; returns the JSON-RPC response message
        (the request's notifications are dropped)."""
        self.start()
        connection = Connection(self.engine, self._local_session(), max_in_flight=1)
        message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        outcome = connection.receive(message, _NOWHERE)
        if isinstance(outcome, Request):  # answered in a context of its own, as served
            outcome = connection.admit(outcome) or await asyncio.create_task(
                connection.run(outcome)
            )
        assert outcome is not None  # a message with an id is always answered
        return outcome

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a tool in process; returns the `CallToolResult` (or raises on a protocol error)."""
        answer = await self.request("tools/call", {"name": name, "arguments": arguments or {}})
        if "error" in answer:
            from .protocol.errors import McpError

            err = answer["error"]
            raise McpError(err["code"], err["message"], err.get("data"))
        result: dict[str, Any] = answer["result"]
        return result

    def _local_session(self) -> Session:
        session = self.engine.session("inprocess")
        session.version = "2025-11-25"
        session.initialized = True
        return session

    # ------------------------------------------------------------------------------------------
    # Changing the composition at run time (clients are told: list_changed)

    def add_tool(
        self, fn: Callable[..., Any], *, plugin: str = "", **options: Unpack[ToolOptions]
    ) -> Tool:
        """Serve `fn` as a tool from now on, owned by `plugin` (with its settings), with the
        options of ``@plugin.tool``: `PluginRegistry.add_tool` at run time. The name is served
        as given (no namespace); a taken name raises `CompositionError`."""
        record = self.host.records.get(plugin)
        staged = PluginRegistry(plugin, record.settings if record else None)
        tool = staged.add_tool(fn, **options)
        self.registry.install(tool)
        return tool

    def add_prompt(
        self, fn: Callable[..., Any], *, plugin: str = "", **options: Unpack[PromptOptions]
    ) -> Prompt:
        """Serve `fn` as a prompt from now on, as `add_tool` does for a tool."""
        record = self.host.records.get(plugin)
        staged = PluginRegistry(plugin, record.settings if record else None)
        prompt = staged.add_prompt(fn, **options)
        self.registry.install(prompt)
        return prompt

    def add_resource(
        self,
        fn: Callable[..., Any],
        uri: str,
        *,
        plugin: str = "",
        **options: Unpack[ResourceOptions],
    ) -> Resource:
        """Serve `fn` as the resource at `uri` from now on, as `add_tool` does for a tool."""
        record = self.host.records.get(plugin)
        staged = PluginRegistry(plugin, record.settings if record else None)
        resource = staged.add_resource(fn, uri, **options)
        self.registry.install(resource)
        return resource

    def notify_resource_updated(self, uri: str) -> None:
        """Tell subscribed clients that the resource at `uri` changed."""
        self.engine.notifier.resource_updated(uri)


async def _drop(message: dict[str, Any]) -> None:
    return None


_NOWHERE = DirectOutlet(_drop)


def _observer_failed(method: Callable[..., None], exc: Exception) -> None:
    """Report a request observer's method that raised (the request goes on)."""
    from .log import announce

    told = f"request observer {method!r}: {exc!r}"
    announce(f"mcp-runner: warning: {told}", told, level="warning")
