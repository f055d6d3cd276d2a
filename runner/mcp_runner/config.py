"""Settings: `mcp-runner.toml`, then `MCP_RUNNER_*` environment variables, then the command line.

::

    [server]                 # MCP_RUNNER_<FIELD>, e.g. MCP_RUNNER_LOG_LEVEL=debug
    enable = ["files"]       # allow list (MCP_RUNNER_PLUGINS=files,sqlite)
    disable = ["sqlite"]     # deny list  (MCP_RUNNER_DISABLE=sqlite)

    [http]                   # MCP_RUNNER_HTTP__PORT=9000
    port = 9000

    [plugins.files]          # MCP_RUNNER_PLUGINS__FILES__ROOTS='["/srv"]'
    namespace = "fs"         # keys every plugin has: namespace, enabled
    roots = ["/srv"]         # the rest is validated by the plugin's own settings model
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

CONFIG_FILE = "mcp-runner.toml"
ENV_PREFIX = "MCP_RUNNER_"
PLUGIN_KEYS = ("namespace", "enabled", "scopes", "timeout")
HOST_TABLES = ("server", "http", "tasks", "plugins")
"""The top-level tables the host reads itself; plugins add others (``config.add_section``)."""
#: The shortest `requestState` key accepted, in bytes (HMAC-SHA256's own key size).
MIN_STATE_SECRET_BYTES = 32


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, section and field."""


class ServerSettings(BaseModel):
    """The ``[server]`` table: identity, plugin selection, limits, logging, ``requestState``
    keys; every transport reads it."""

    model_config = ConfigDict(extra="forbid")

    name: str = "mcp-runner"
    version: str | None = None
    instructions: str | None = None
    enable: list[str] | None = None
    disable: list[str] = Field(default_factory=list)
    on_conflict: Literal["error", "prefix"] = "error"
    strict_plugins: bool = False
    page_size: int = Field(default=500, ge=1)
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "warning"
    log_format: Literal["auto", "console", "json"] = "auto"
    mask_error_details: bool = False
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_in_flight: int = Field(default=1024, ge=1)
    tool_timeout: float | None = Field(default=None, gt=0)
    shutdown_grace: float = Field(default=10.0, ge=0)
    worker_threads: int = Field(default=64, ge=1)
    state_secret: SecretStr | None = None
    state_secrets: list[SecretStr] = Field(default_factory=list)
    client_request_timeout: float = Field(default=300.0, gt=0)

    @field_validator("state_secret", "state_secrets")
    @classmethod
    def _long_enough(cls, value: SecretStr | list[SecretStr] | None) -> Any:
        for secret in value if isinstance(value, list) else [value] if value else []:
            if len(secret.get_secret_value().encode()) < MIN_STATE_SECRET_BYTES:
                raise ValueError(
                    f"a state secret must be at least {MIN_STATE_SECRET_BYTES} bytes; make one with"
                    ' python -c "import secrets; print(secrets.token_urlsafe(32))"'
                )
        return value

    @model_validator(mode="after")
    def _one_ring(self) -> ServerSettings:
        if self.state_secret is not None and self.state_secrets:
            raise ValueError(
                "set state_secrets (the key ring) or state_secret (a ring of one), not both"
            )
        return self

    def state_keys(self) -> list[bytes]:
        """The `requestState` key ring: the first key seals, every key opens (empty: a random
        key per process)."""
        ring = self.state_secrets or ([self.state_secret] if self.state_secret else [])
        return [secret.get_secret_value().encode() for secret in ring]


class HttpSettings(BaseModel):
    """The ``[http]`` table: where the HTTP transport listens and what it accepts."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    path: str = "/mcp"
    allowed_hosts: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    session_idle_timeout: float = Field(default=3600.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=1)
    sse_buffer: int = Field(default=1000, ge=1)
    body_timeout: float = Field(default=30.0, gt=0)  # a request body must arrive within it: 408
    forwarded_allow_ips: list[str] = Field(default_factory=list)  # proxies trusted for Forwarded

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """uvicorn's form too: ``"10.0.0.1,10.1.0.0/16"``."""
        return (
            [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        )


class TasksSettings(BaseModel):
    """The ``[tasks]`` table: how long tool calls run as tasks are kept, and how many."""

    model_config = ConfigDict(extra="forbid")

    ttl: float = Field(default=3600.0, gt=0)  # seconds a task is kept after its last change
    max_ttl: float = Field(default=86_400.0, gt=0)  # the longest ttl a client may ask for
    poll_interval: float = Field(default=1.0, gt=0)  # seconds between polls, suggested
    max_per_principal: int = Field(default=1000, ge=1)  # tasks kept per principal
    max_result_bytes: int = Field(default=10 * 1024 * 1024, ge=1)  # larger results fail


class PluginConfig(BaseModel):
    """The keys every plugin's table has, beside the plugin's own settings."""

    model_config = ConfigDict(extra="allow")

    namespace: str | None = None
    enabled: bool = True
    scopes: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0)


class Settings(BaseModel):
    """Every setting: ``[server]``, ``[http]``, the ``[plugins.<name>]`` tables and the
    top-level tables plugins add (`section`); `source` is the config file read, if any."""

    model_config = ConfigDict(extra="allow")

    server: ServerSettings = Field(default_factory=ServerSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    tasks: TasksSettings = Field(default_factory=TasksSettings)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    source: str | None = Field(default=None, exclude=True)
    origins: dict[str, str] = Field(default_factory=dict, exclude=True)
    """Where a dotted key's value came from when not the file: the variable or the flag."""

    def plugin(self, name: str) -> PluginConfig:
        """The keys every plugin's table has (namespace, enabled, scopes, timeout) for `name`."""
        return PluginConfig.model_validate(self.plugins.get(name, {}))

    def plugin_options(self, name: str) -> dict[str, Any]:
        """The plugin's own keys (its table without the common ones)."""
        return {k: v for k, v in self.plugins.get(name, {}).items() if k not in PLUGIN_KEYS}

    def section(self, key: str, model: type[BaseModel] | None = None) -> Any:
        """A top-level table added by a plugin (``config.add_section``), validated; given its
        `model`, that model's defaults when the config has no valid such table."""
        found = (self.model_extra or {}).get(key)
        if model is None or isinstance(found, model):
            return found
        return model.model_construct()


class ConfigSections:
    """Given to ``mcp_runner_add_config``: where a plugin declares the settings it reads."""

    def __init__(self, settings: Settings, plugin: str) -> None:
        self._settings = settings
        self._plugin = plugin
        self.plugin_model: type[BaseModel] | None = None
        self.tables: set[str] = set()
        """The top-level tables this plugin asked about or added: tables it knows."""

    @property
    def settings(self) -> Settings:
        """All settings, as read so far (the config file's location is `settings.source`)."""
        return self._settings

    def has_section(self, key: str) -> bool:
        """Whether the config has a top-level ``[key]`` table."""
        self.tables.add(key)
        return key in (self._settings.model_extra or {})

    def plugin_section(self, model: type[BaseModel]) -> None:
        """Validate this plugin's ``[plugins.<name>]`` table with `model`."""
        self.plugin_model = model

    def add_section(self, key: str, model: type[BaseModel]) -> None:
        """Validate the top-level ``[key]`` table with `model`; read it with ``settings.section``."""
        self.tables.add(key)
        extra = self._settings.model_extra
        assert extra is not None
        raw = extra.get(key, {})
        if isinstance(raw, BaseModel):
            return
        extra[key] = validate_section(model, raw, f"[{key}]")


def validate_section(
    model: type[BaseModel], raw: Any, where: str, origins: Mapping[str, str] | None = None
) -> BaseModel:
    """`raw` validated with `model`; a `ConfigError` naming `where` (or, for a key that came
    from a variable or a flag, that origin: `origins` by key) and each bad field. A key the
    model does not know is an error naming the nearest known one, unless the model keeps
    extra keys (``extra="allow"``)."""
    origins = origins or {}
    if isinstance(raw, Mapping) and model.model_config.get("extra") in (None, "ignore"):
        unknown = [key for key in raw if key not in _field_names(model)]
        if unknown:  # pydantic would drop it silently
            raise ConfigError(_unknown_key(model, str(unknown[0]), origins.get(unknown[0], where)))
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        place = origins.get(key, where)
        if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
            raise ConfigError(_unknown_key(model, key, place)) from None
        raise ConfigError(f"{place}: {describe(exc)}") from None


def _unknown_key(model: type[BaseModel], key: str, place: str) -> str:
    return f"{place}: unknown key {key!r}{nearest(key, _field_names(model))}"


def nearest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name nearest `name`, or "" when none is near."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every key `model` accepts: field names and their string aliases."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names.add(alias)
            elif alias is not None and hasattr(alias, "choices"):
                names.update(c for c in alias.choices if isinstance(c, str))
    return names


def describe(exc: ValidationError) -> str:
    """A pydantic validation error in one line: ``field.path: message; ...``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file: `path` (a `ConfigError` when it is missing), else ``mcp-runner.toml``
    in the working directory, else None."""
    if path is not None:
        found = Path(path)
        if not found.is_file():
            raise ConfigError(f"config file not found: {found}")
        return found
    candidate = Path.cwd() / CONFIG_FILE
    return candidate if candidate.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the config file (if any), overlay the environment and `overrides`, and validate.

    `overrides` uses dotted keys: ``{"server.log_level": "debug", "http.port": 9000}``.
    """
    file = find_config(path)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: {exc}") from None
    origins: dict[str, str] = {}
    for dotted, (variable, value) in _env_overrides(os.environ if env is None else env).items():
        _set(data, dotted, value)
        origins[dotted] = variable
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(data, dotted, value)
            origins[dotted] = "--" + dotted.rsplit(".", 1)[-1].replace("_", "-")
    where = str(file) if file else "settings"
    for key in ("plugins",):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{where}: [{key}] must be a table of plugin tables")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_located(exc, where, origins)) from None
    settings.source = str(file) if file else None
    settings.origins = origins
    return settings


HOST_MODELS: dict[str, type[BaseModel]] = {"server": ServerSettings, "http": HttpSettings}
"""The models of the host's own tables, by table."""


def _located(exc: ValidationError, where: str, origins: Mapping[str, str]) -> str:
    """Each error of `exc` after the variable or flag its value came from, else `where`."""
    parts = []
    for error in exc.errors(include_url=False):
        dotted = ".".join(str(p) for p in error["loc"])
        origin = origins.get(dotted)
        if error["type"] == "extra_forbidden":
            table, key = dotted.rpartition(".")[::2]
            model = HOST_MODELS.get(table)
            hint = nearest(key, model.model_fields) if model is not None else ""
            parts.append(f"{origin or where}: {dotted}: unknown key{hint}")
        else:
            parts.append(f"{origin or where}: {dotted or 'value'}: {error['msg']}")
    return "; ".join(parts)


SERVER_VARIABLES = (*ServerSettings.model_fields, "plugins", "disable")
"""What may follow ``MCP_RUNNER_`` without a ``__`` (lower case)."""


def _env_overrides(env: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """The dotted keys the ``MCP_RUNNER_*`` variables set, each with its variable and value.

    A variable close to a setting's but not one (``MCP_RUNNER_LOG_LEVLE``,
    ``MCP_RUNNER_SERVR__NAME``) is a warning naming the nearest and is ignored; one close to
    nothing is someone else's (``MCP_RUNNER_TOKEN``) and is ignored silently."""
    out: dict[str, tuple[str, Any]] = {}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name == "plugins":
            out["server.enable"] = (key, _names(raw))
        elif name == "disable":
            out["server.disable"] = (key, _names(raw))
        elif "__" in name:
            table, rest = name.split("__", 1)
            near = difflib.get_close_matches(table, HOST_TABLES, n=1, cutoff=0.6)
            if table not in HOST_TABLES and near:
                _ignored(key, f"{ENV_PREFIX}{near[0]}__{rest}".upper())
                continue
            out[".".join(name.split("__"))] = (key, _value(raw))
        elif name in ServerSettings.model_fields:
            out[f"server.{name}"] = (key, _value(raw))
        else:
            near = difflib.get_close_matches(name, SERVER_VARIABLES, n=1, cutoff=0.75)
            if near:
                _ignored(key, f"{ENV_PREFIX}{near[0]}".upper())
    return out


def _ignored(variable: str, meant: str) -> None:
    _warn(f"{variable} is not a setting (did you mean {meant}?); it is ignored")


def _warn(message: str) -> None:
    print(f"mcp-runner: warning: {message}", file=sys.stderr)


def _names(raw: str) -> list[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def _value(raw: str) -> Any:
    """JSON for arrays, objects and quoted strings; anything else stays a string (pydantic
    turns "8000" or "true" into the field's type)."""
    if raw[:1] in ("[", "{", '"'):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
