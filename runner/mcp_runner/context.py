"""`Context`: what a tool, resource or prompt may ask of the request that runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .protocol.session import LEVEL_RANK

if TYPE_CHECKING:
    from .components import Component
    from .protocol.session import Request, Session


class Context:
    """Injected into a function that declares a parameter typed `Context`.

    Progress, protocol logging and the client requests (`elicit`, `sample`, `list_roots`)
    work the same in both protocol eras: the runner turns them into what the wire needs.
    """

    __slots__ = ("_component", "_logger", "_request")

    def __init__(self, request: Request, component: Component | None = None) -> None:
        self._request = request
        self._component = component
        self._logger: Any = None

    # -- identity -------------------------------------------------------------------------------
    @property
    def request_id(self) -> Any:
        """The JSON-RPC id of the request."""
        return self._request.id

    @property
    def method(self) -> str:
        """The request's method (``tools/call``, ``resources/read``, ``prompts/get``, ...)."""
        return self._request.method

    @property
    def session(self) -> Session:
        """The client session: protocol version, client info and capabilities."""
        return self._request.session

    @property
    def protocol_version(self) -> str:
        """The protocol version the request speaks."""
        return self._request.version

    @property
    def client_capabilities(self) -> dict[str, Any]:
        """What the client declared it supports (per request on the 2026-07-28 wire)."""
        return self._request.client_capabilities

    @property
    def state(self) -> dict[str, Any]:
        """A dict that survives the input rounds of one 2026-07-28 request (signed, sent back by
        the client); keep it small and JSON-serialisable. Empty on the legacy wire."""
        if self._request.state is None:
            self._request.state = {}
        return self._request.state

    @property
    def plugin(self) -> str:
        """The name of the plugin whose component runs."""
        return self._component.plugin if self._component else ""

    @property
    def settings(self) -> Any:
        """The plugin's validated settings (its `[plugins.<name>]` config section)."""
        return self._component.settings if self._component else None

    @property
    def principal(self) -> Any:
        """Who made the request (set by the auth middleware), or None."""
        return self._request.principal

    @property
    def runner(self) -> Any:
        """The running host: its registry, and `notify_resource_updated()`."""
        return self._request.session.host

    @property
    def logger(self) -> Any:
        """A structlog logger bound to the plugin and request (writes to stderr)."""
        if self._logger is None:
            from .log import get_logger

            self._logger = get_logger("mcp_runner.plugin").bind(
                plugin=self.plugin, request_id=self._request.correlation_id
            )
        return self._logger

    # -- notifications --------------------------------------------------------------------------
    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Send `notifications/progress` when the client asked for progress on this request; in
        a task, set the task's status message (`message`, else ``progress/total``)."""
        job = self._request.job
        if job is not None and job.started:
            await job.progress(progress, total, message)
            return
        token = self._request.progress_token
        if token is None:
            return
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self._request.notify("notifications/progress", params)

    async def log(self, level: str, data: Any, *, logger: str | None = None) -> None:
        """Send `notifications/message` when `level` is at or above the client's level."""
        if LEVEL_RANK[level] < self._request.log_threshold:
            return
        params = {"level": level, "logger": logger or self.plugin or "mcp-runner", "data": data}
        await self._request.notify("notifications/message", params)

    async def debug(self, data: Any, **kw: Any) -> None:
        """`log` at level debug."""
        await self.log("debug", data, **kw)

    async def info(self, data: Any, **kw: Any) -> None:
        """`log` at level info."""
        await self.log("info", data, **kw)

    async def notice(self, data: Any, **kw: Any) -> None:
        """`log` at level notice."""
        await self.log("notice", data, **kw)

    async def warning(self, data: Any, **kw: Any) -> None:
        """`log` at level warning."""
        await self.log("warning", data, **kw)

    async def error(self, data: Any, **kw: Any) -> None:
        """`log` at level error."""
        await self.log("error", data, **kw)

    async def critical(self, data: Any, **kw: Any) -> None:
        """`log` at level critical."""
        await self.log("critical", data, **kw)

    async def close_stream(self) -> None:
        """End this request's HTTP stream now (the client resumes it with Last-Event-ID);
        later messages are delivered on the resumed stream. A no-op on stdio and in a task."""
        job = self._request.job
        if job is None or not job.started:
            await self._request.outlet.close_stream()

    # -- tasks ----------------------------------------------------------------------------------
    @property
    def task_id(self) -> str | None:
        """The id of the task this call runs as, None when it is not (yet) a task."""
        job = self._request.job
        return job.record["taskId"] if job is not None and job.started else None

    async def begin_task(self) -> None:
        """Answer the client with the task now, and run on in the background: for a tool
        declared ``defer_task=True``, after the input it asked for first. A no-op when the
        call already is a task, or cannot be one (the client did not declare the extension)."""
        job = self._request.job
        if job is not None:
            await job.begin()

    # -- asking the client ----------------------------------------------------------------------
    async def elicit(
        self,
        message: str,
        schema: dict[str, Any] | type | None = None,
        *,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Ask the user for input (`elicitation/create`, form mode).

        `schema` is a JSON Schema object or a pydantic model class. Returns the client's
        answer: ``{"action": "accept"|"decline"|"cancel", "content": {...}}``.
        """
        params = {"message": message, "requestedSchema": _schema(schema)}
        return await self._request.ask("elicitation/create", params, key)

    async def elicit_url(
        self, message: str, url: str, elicitation_id: str, *, key: str | None = None
    ) -> dict[str, Any]:
        """Ask the user to visit a URL (`elicitation/create`, URL mode)."""
        params = {"mode": "url", "message": message, "url": url, "elicitationId": elicitation_id}
        return await self._request.ask("elicitation/create", params, key)

    async def sample(
        self,
        messages: str | list[Any],
        *,
        max_tokens: int = 512,
        system_prompt: str | None = None,
        temperature: float | None = None,
        model_preferences: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Ask the client's model for a completion (`sampling/createMessage`)."""
        if isinstance(messages, str):
            messages = [messages]
        wire = [
            m if isinstance(m, dict) else {"role": "user", "content": {"type": "text", "text": m}}
            for m in messages
        ]
        params: dict[str, Any] = {"messages": wire, "maxTokens": max_tokens}
        if system_prompt is not None:
            params["systemPrompt"] = system_prompt
        if temperature is not None:
            params["temperature"] = temperature
        if model_preferences is not None:
            params["modelPreferences"] = model_preferences
        return await self._request.ask("sampling/createMessage", params, key)

    async def list_roots(self, *, key: str | None = None) -> list[dict[str, Any]]:
        """The client's roots (`roots/list`)."""
        result = await self._request.ask("roots/list", {}, key)
        roots: list[dict[str, Any]] = result.get("roots", [])
        return roots

    async def ask_all(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Several client requests at once, by key: ``{key: (method, params)}`` -> ``{key: result}``.

        On the 2026-07-28 wire they travel in one input-required round.
        """
        return await self._request.ask_all(requests)


def _schema(schema: dict[str, Any] | type | None) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "properties": {}}
    if isinstance(schema, dict):
        return schema
    from pydantic import TypeAdapter

    out = TypeAdapter(schema).json_schema()
    out.pop("title", None)
    for prop in out.get("properties", {}).values():
        prop.pop("title", None)
    return out
