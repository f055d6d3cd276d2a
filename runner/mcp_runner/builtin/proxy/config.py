"""The proxy's settings: the ``[proxy]`` table, its servers, and ``mcpServers`` JSON files.

Imported only when a config has a ``[proxy]`` table (a config without one never builds these
models).
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ...config import ConfigError, describe

NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # a server's name, and a namespace
HTTP_TYPES = ("http", "streamable-http", "streamableHttp")  # the `type`s of a url server
# What a server entry of another client's file may carry that we have no use for.
FOREIGN_KEYS = frozenset({"autoApprove", "alwaysAllow", "description", "envFile", "transportType"})


class RestartPolicy(BaseModel):
    """When a backend ends or cannot start: wait, then try again (exponential backoff)."""

    model_config = ConfigDict(extra="forbid")

    initial_delay: float = Field(default=0.5, gt=0)
    max_delay: float = Field(default=30.0, gt=0)
    factor: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.2, ge=0, le=1)
    max_attempts: int | None = Field(default=None, ge=1)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try number `attempt` (1 after the first failure), jittered."""
        base = min(self.max_delay, self.initial_delay * self.factor ** max(0, attempt - 1))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


class ServerConfig(BaseModel):
    """One backend, as in an ``mcpServers`` entry."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["stdio", "http", "streamable-http", "streamableHttp", "sse"] | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token: SecretStr | None = None
    bearer_token_env: str | None = None
    forward_token: bool = False
    audience: str | None = None
    oauth: dict[str, Any] | None = None
    era: Literal["auto", "legacy", "modern"] = "auto"
    lazy: bool | None = None
    namespace: str | None = None
    enabled: bool = True
    disabled: bool = False
    timeout: float | None = Field(default=None, gt=0)
    ping_interval: float = Field(default=10.0, ge=0)
    ping_timeout: float = Field(default=10.0, gt=0)
    restart_unresponsive_after: float | None = Field(default=None, gt=0)
    startup_timeout: float = Field(default=30.0, gt=0)
    log_level: Literal[
        "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
    ] = "info"

    @model_validator(mode="after")
    def _check(self) -> ServerConfig:
        if self.type == "sse":
            raise ValueError(
                "type 'sse' (the 2024-11-05 HTTP+SSE transport) is not supported: give the "
                "server's Streamable HTTP url"
            )
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a stdio server) or `url` (Streamable HTTP)")
        if self.type == "stdio" and self.url is not None:
            raise ValueError("type 'stdio' needs `command`, not `url`")
        if self.type in HTTP_TYPES and self.command is not None:
            raise ValueError(f"type {self.type!r} needs `url`, not `command`")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        self._check_credentials()
        if self.namespace and not NAME.match(self.namespace):
            raise ValueError(
                f"namespace {self.namespace!r} must be characters of A-Z a-z 0-9 _ . -"
            )
        return self

    def _check_credentials(self) -> None:
        given = [
            key
            for key in ("bearer_token", "bearer_token_env", "forward_token", "audience", "oauth")
            if getattr(self, key) is not None and getattr(self, key) is not False
        ]
        if given and self.url is None:
            raise ValueError(f"{', '.join(given)}: only for a Streamable HTTP server (`url`)")
        if self.bearer_token is not None and self.bearer_token_env is not None:
            raise ValueError("give `bearer_token` or `bearer_token_env`, not both")
        bearer = self.bearer_token is not None or self.bearer_token_env is not None
        if bearer and any(k.lower() == "authorization" for k in self.headers):
            raise ValueError("an `Authorization` header and a bearer token: give one")
        if self.audience is not None and not self.forward_token:
            raise ValueError("`audience` is the caller's token's: set `forward_token = true`")
        if self.oauth is not None:
            if (
                bearer
                or self.forward_token
                or any(k.lower() == "authorization" for k in self.headers)
            ):
                raise ValueError(
                    "`oauth` gets the proxy its own token for every request: give no other "
                    "Authorization (bearer_token, bearer_token_env, headers, forward_token)"
                )
            from ...client.oauth import OAuth

            OAuth.from_settings(self.oauth)  # unknown keys, a grant without its client
        if self.forward_token and self.era == "legacy":
            raise ValueError(
                "forward_token needs 2026-07-28 (each request stands alone): a legacy session "
                'is bound to one caller; drop `era = "legacy"`'
            )

    def static_headers(self) -> dict[str, str]:
        """The HTTP headers of every request: ``headers``, and the bearer token of
        ``bearer_token`` or of the variable ``bearer_token_env`` names (`ValueError` when
        that variable is not set)."""
        headers = dict(self.headers)
        token = self.bearer_token.get_secret_value() if self.bearer_token is not None else None
        if self.bearer_token_env is not None:
            token = os.environ.get(self.bearer_token_env)
            if not token:
                raise ValueError(
                    f"bearer_token_env: the variable {self.bearer_token_env} is not set"
                )
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def credentials(self) -> list[str]:
        """What the backend is sent of anyone's identity, in words (never the secrets)."""
        out = [f"header {name}" for name in self.headers]
        if self.bearer_token is not None:
            out.append("bearer token (bearer_token)")
        if self.bearer_token_env is not None:
            out.append(f"bearer token from ${self.bearer_token_env}")
        if self.forward_token:
            out.append(f"the caller's token, when its audience is {self.token_audience}")
        if self.oauth is not None:
            from ...client.oauth import OAuth

            out.append(f"OAuth access token ({OAuth.from_settings(self.oauth).grant})")
        return out

    @property
    def token_audience(self) -> str | None:
        """With ``forward_token``: what a caller's token must name as its audience to be
        forwarded (``audience``, else the server's url)."""
        return (self.audience or self.url) if self.forward_token else None

    @property
    def transport(self) -> str:
        """``"stdio"`` (a command) or ``"http"`` (a url)."""
        return "stdio" if self.command is not None else "http"

    @property
    def prefer(self) -> Literal["legacy", "modern"]:
        """The era ``era = "auto"`` tries first: legacy (``initialize``), where a server may
        ask questions as requests of its own in the middle of a call, as many servers' tools do
        (``ctx.elicit`` of FastMCP refuses to on 2026-07-28). The proxy carries questions
        across eras, so its clients of either era keep that behaviour. With ``forward_token``:
        2026-07-28, whose requests stand alone (a legacy session is bound to one caller)."""
        return "modern" if self.forward_token else "legacy"

    @property
    def active(self) -> bool:
        """Whether the server is to be started (neither disabled nor not enabled)."""
        return self.enabled and not self.disabled

    @property
    def initial_state(self) -> str:
        """Its state before anything started it: ``configured``, or ``disabled``."""
        return "configured" if self.active else "disabled"

    @property
    def target(self) -> str:
        """What it runs or reaches: its url, or its command line."""
        return self.url if self.url is not None else " ".join([self.command or "", *self.args])


class ProxySettings(BaseModel):
    """The ``[proxy]`` table."""

    model_config = ConfigDict(extra="forbid")

    config_file: str | None = None
    servers: dict[str, ServerConfig] = Field(default_factory=dict)
    lazy: bool = False
    startup_wait: float = Field(default=10.0, ge=0)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    _base: Path | None = PrivateAttr(default=None)

    @field_validator("servers")
    @classmethod
    def _names(cls, servers: dict[str, ServerConfig]) -> dict[str, ServerConfig]:
        for name in servers:
            if not NAME.match(name):
                raise ValueError(
                    f"server name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . - "
                    "(it prefixes the server's tool names)"
                )
        return servers

    def is_lazy(self, server: ServerConfig) -> bool:
        """Whether `server` starts on the first request rather than with the runner."""
        return self.lazy if server.lazy is None else server.lazy

    def namespace(self, name: str) -> str:
        """The prefix of server `name`'s tool and prompt names ("" for none)."""
        server = self.servers[name]
        return name if server.namespace is None else server.namespace

    def describe_server(self, name: str) -> dict[str, Any]:
        """What the config says of server `name`, as ``mcp-runner plugins`` shows it."""
        server = self.servers[name]
        out: dict[str, Any] = {
            "plugin": f"proxy.{name}",
            "namespace": self.namespace(name) or None,
            "transport": server.transport,
            "target": server.target,
            "lazy": self.is_lazy(server),
        }
        sends = server.credentials()
        if sends:
            out["credentials"] = sends
        return out

    @property
    def base_dir(self) -> Path:
        """The directory relative paths (``config_file``, a server's ``cwd``) are read from:
        the config file's, else the working directory."""
        return self._base if self._base is not None else Path.cwd()

    def load(self, config_source: str | None) -> None:
        """Fix `base_dir` (`config_source` is the config file's path, if any) and add the
        servers of ``config_file``; once (later calls do nothing)."""
        if self._base is not None:
            return
        base = Path(config_source).resolve().parent if config_source else Path.cwd()
        self._base = base
        if not self.config_file:
            return
        path = Path(self.config_file).expanduser()
        path = path if path.is_absolute() else base / path
        found = load_servers_file(path)
        both = sorted(set(found) & set(self.servers))
        if both:
            raise ConfigError(
                f"[proxy] server(s) {', '.join(both)} defined both in [proxy.servers] and in "
                f"{str(path)!r}: keep one"
            )
        self.servers.update(found)


def load_servers_file(path: Path) -> dict[str, ServerConfig]:
    """The servers of a JSON file in the ``mcpServers`` format (VS Code's ``servers`` too)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"[proxy] config_file {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"[proxy] config_file {str(path)!r}: not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"[proxy] config_file {str(path)!r}: must hold a JSON object")
    servers = document.get("mcpServers", document.get("servers"))
    if not isinstance(servers, dict):
        raise ConfigError(f'[proxy] config_file {str(path)!r}: no "mcpServers" object')
    out: dict[str, ServerConfig] = {}
    for name, raw in servers.items():
        where = f"[proxy] config_file {str(path)!r}: mcpServers.{name}"
        if not NAME.match(name):
            raise ConfigError(f"{where}: the name must be 1-64 characters of A-Z a-z 0-9 _ . -")
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be an object")
        try:
            out[name] = ServerConfig.model_validate(
                {k: v for k, v in raw.items() if k not in FOREIGN_KEYS}
            )
        except ValidationError as exc:
            raise ConfigError(f"{where}: {describe(exc)}") from None
    return out
