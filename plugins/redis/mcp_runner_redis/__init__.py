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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .backend import RedisBackend

__all__ = ["RedisBackend", "RedisPlugin", "RedisSettings", "plugin"]


class RedisSettings(BaseModel):
    """The ``[plugins.redis]`` table (``MCP_RUNNER_PLUGINS__REDIS__URL`` and so on)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis:// or rediss:// (TLS) URL; redis-py's query options apply",
    )
    key_prefix: str = Field("mcp-runner:", description="prefix of every key and channel")
    operation_timeout: float = Field(
        2.0, gt=0, description="seconds a store operation may take before the request fails"
    )
    tls_ca_file: str | None = Field(
        None, description="rediss://: CA certificates (PEM) to verify the server's by"
    )
    tls_cert_file: str | None = Field(
        None, description="rediss://: this client's certificate (PEM), for mutual TLS"
    )
    tls_key_file: str | None = Field(None, description="rediss://: the key of tls_cert_file")
    tls_verify: bool = Field(
        True, description="rediss://: check the server's certificate and host name"
    )

    @model_validator(mode="after")
    def _tls_needs_rediss(self) -> RedisSettings:
        tls_set = [name for name in TLS_KEYS if getattr(self, name) is not None]
        if (tls_set or not self.tls_verify) and not self.url.startswith("rediss://"):
            named = ", ".join(tls_set or ["tls_verify"])
            raise ValueError(f"{named} apply to TLS: the url must start with rediss://")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    def connection_options(self) -> dict[str, Any]:
        """redis-py's TLS options for these settings (none for a redis:// url)."""
        if not self.url.startswith("rediss://"):
            return {}
        options: dict[str, Any] = {
            "ssl_cert_reqs": "required" if self.tls_verify else "none",
            "ssl_check_hostname": self.tls_verify,
        }
        if self.tls_ca_file is not None:
            options["ssl_ca_certs"] = self.tls_ca_file
        if self.tls_cert_file is not None:
            options["ssl_certfile"] = self.tls_cert_file
            options["ssl_keyfile"] = self.tls_key_file
        return options


TLS_KEYS = ("tls_ca_file", "tls_cert_file", "tls_key_file")


class RedisPlugin(Plugin):
    """The ``redis`` plugin: offers `RedisBackend` as the state backend, and its readiness."""

    backend: RedisBackend | None = None  # the one offered, once the HTTP endpoint is built

    @hookimpl
    def mcp_runner_state_backend(self, settings: RedisSettings) -> RedisBackend:
        """The Redis backend, configured by ``[plugins.redis]``."""
        self.backend = RedisBackend(
            settings.url,
            settings.key_prefix,
            settings.operation_timeout,
            **settings.connection_options(),
        )
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
