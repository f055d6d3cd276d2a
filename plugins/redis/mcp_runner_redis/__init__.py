"""redis: the state backend that lets replicas of one server share their legacy sessions.

With this plugin installed and ``[plugins.redis] url`` set, every ``mcp-runner serve
--transport http`` replica keeps session records, SSE event logs and its change bus in Redis,
so a load balancer may send any request to any replica. Built on redis-py's asyncio client:
the reference client, maintained by Redis itself, with RESP3, TLS (``rediss://``), pooled
connections and pub/sub in one dependency.
"""

from __future__ import annotations

from typing import Any

from mcp_runner import Plugin, hookimpl
from pydantic import BaseModel, ConfigDict, Field

from .backend import RedisBackend

__all__ = ["RedisBackend", "RedisPlugin", "RedisSettings", "plugin"]


class RedisSettings(BaseModel):
    """The ``[plugins.redis]`` table (``MCP_RUNNER_PLUGINS__REDIS__URL`` and so on)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// (TLS) URL; redis-py's query options apply "
        "(ssl_ca_certs, ssl_cert_reqs, ...)",
    )
    key_prefix: str = Field("mcp-runner:", description="prefix of every key and channel")
    operation_timeout: float = Field(
        2.0, gt=0, description="seconds a store operation may take before the request fails"
    )


class RedisPlugin(Plugin):
    """The ``redis`` plugin: offers `RedisBackend` as the state backend, and its readiness."""

    backend: RedisBackend | None = None  # the one offered, once the HTTP endpoint is built

    @hookimpl
    def mcp_runner_state_backend(self, settings: RedisSettings) -> RedisBackend:
        """The Redis backend, configured by ``[plugins.redis]``."""
        self.backend = RedisBackend(settings.url, settings.key_prefix, settings.operation_timeout)
        return self.backend

    @hookimpl
    def mcp_runner_health_checks(self, runner: Any) -> dict[str, Any] | None:
        """``/readyz`` reports whether Redis answers (and the bus is heard)."""
        return None if self.backend is None else {"redis": self.backend.check}


plugin = RedisPlugin(
    "redis",
    description="Legacy sessions, stream replay and change fan-out shared by replicas, on Redis",
    settings=RedisSettings,
)
