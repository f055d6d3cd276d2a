"""The builtin ``health`` plugin: ``GET /healthz`` (alive) and ``GET /readyz`` (ready to serve).

``/healthz`` answers 200 whenever the process and its event loop do. ``/readyz`` answers 200
with each component's state when the server is composed, no plugin failed under
``strict_plugins``, every check that plugins contribute (``mcp_runner_health_checks``: the
proxy's backends, a state store) passes, and the server is not draining; otherwise 503 with
the same body, from the first moment of a graceful shutdown.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..hookspecs import hookimpl
from ..protocol.jsonrpc import encode_safely

if TYPE_CHECKING:
    from ..config import ConfigSections
    from ..hookspecs import HealthCheck, RegisterRoute
    from ..runner import Runner


class HealthSettings(BaseModel):
    """The ``[health]`` table."""

    model_config = ConfigDict(defer_build=True)  # built only when a config has the table

    ready_when_degraded: bool = True
    """Whether a ``degraded`` component (a proxy backend down) still lets ``/readyz`` say 200."""
    check_timeout: float = Field(default=2.0, gt=0)
    """Seconds a check may take before it counts as failing."""


@hookimpl
def mcp_runner_add_config(config: ConfigSections) -> None:
    """Validate the ``[health]`` table, when there is one."""
    if config.has_section("health"):
        config.add_section("health", HealthSettings)


@hookimpl
def mcp_runner_http_routes(register: RegisterRoute, runner: Runner) -> None:
    """``/healthz`` and ``/readyz``."""
    register("/healthz", _alive)
    register("/readyz", Readiness(runner))


class Readiness:
    """The ``/readyz`` application: every component's state, 200 when all are ready, else 503."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.settings: HealthSettings = runner.settings.section("health", HealthSettings)
        self.checks: dict[str, HealthCheck] | None = None  # asked of the plugins at first use

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        ready, components = await self.report()
        body = {"status": "ready" if ready else "not ready", "components": components}
        await send_json(send, 200 if ready else 503, body)

    async def report(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        """Whether the server is ready, and each component's state."""
        runner = self.runner
        failed = [record.name for record in runner.host.failures()]
        strict = runner.settings.server.strict_plugins
        components: dict[str, dict[str, Any]] = {
            "server": {
                "state": "failing" if runner.draining else "ok",
                "draining": runner.draining,
            },
            "plugins": {
                "state": "failing" if failed and strict else "ok",
                "loaded": [record.name for record in runner.host.active()],
                "failed": failed,
            },
        }
        if self.checks is None:
            self.checks = runner.host.health_checks(runner)
        if self.checks:
            names = list(self.checks)
            answers = await asyncio.gather(*(self._run(self.checks[name]) for name in names))
            components.update(zip(names, answers, strict=True))
        refused = {"failing"} if self.settings.ready_when_degraded else {"failing", "degraded"}
        ready = not any(c.get("state") in refused for c in components.values())
        return ready, components

    async def _run(self, check: HealthCheck) -> dict[str, Any]:
        try:
            answer = await asyncio.wait_for(check(), self.settings.check_timeout)
        except TimeoutError:
            return {"state": "failing", "error": f"no answer in {self.settings.check_timeout}s"}
        except Exception as exc:
            return {"state": "failing", "error": f"{type(exc).__name__}: {exc}"}
        if not isinstance(answer, dict) or answer.get("state") not in STATES:
            return {"state": "failing", "error": f"a check answered {answer!r}"}
        return answer


STATES = frozenset({"ok", "degraded", "failing"})
"""The states a component may be in."""


async def _alive(scope: Any, receive: Any, send: Any) -> None:
    await send_json(send, 200, {"status": "ok"})


async def send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    """A JSON answer that no cache keeps (the HTTP transport stays unimported until it serves)."""
    data = encode_safely(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
