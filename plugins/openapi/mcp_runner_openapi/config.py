"""The settings of the bridge: one table per API under ``[openapi.apis.<name>]``, the same
keys in the ``[plugins.<name>]`` table of an app published by an entry point, and the
``${VAR}`` environment interpolation of their values."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MiB = 1024 * 1024

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class InterpolationError(ValueError):
    """A ``${VAR}`` names an environment variable that is not set and has no default."""


def interpolate(value: str, environ: dict[str, str] | None = None) -> str:
    """`value` with each ``${VAR}`` (or ``${VAR:-default}``) replaced from the environment."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None:
            return found
        if default is not None:
            return default
        raise InterpolationError(f"environment variable {name} is not set (used as ${{{name}}})")

    return _VARIABLE.sub(substitute, value)


class RouteMap(BaseModel):
    """One per-route override: the operations it matches become ``as`` (``tool``,
    ``resource``, ``template`` or ``exclude``); the first matching map wins."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    match: str = Field(
        description='A selector: "tag:NAME", "METHOD /path/glob", "/path/glob" or an operationId glob.'
    )
    kind: Literal["tool", "resource", "template", "exclude"] = Field(alias="as")


class ApiOptions(BaseModel):
    """How one API is bridged: what is served, how it is named, and how it is called.

    Where the API comes from (``spec`` or ``app``) is in `ApiConfig`; an app published by an
    entry point takes only these options, in its ``[plugins.<name>]`` table.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        default=None, description="Where requests go; default: the spec's first server."
    )
    namespace: str | None = Field(
        default=None, description="Prefix of the tool names (counted in their 64 characters)."
    )
    include: list[str] = Field(
        default_factory=list, description="Selectors of the operations served (default: all)."
    )
    exclude: list[str] = Field(
        default_factory=list, description="Selectors of operations left out."
    )
    mode: Literal["tools", "resources"] = Field(
        default="tools",
        description='"resources" serves GET operations with no query, header or body arguments as resources and templates.',
    )
    routes: list[RouteMap] = Field(default_factory=list, description="Per-route overrides of mode.")
    names: dict[str, str] = Field(
        default_factory=dict, description="operationId -> tool name, replacing the derived name."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with every request (${VAR} interpolated)."
    )
    query: dict[str, str] = Field(
        default_factory=dict,
        description="Query parameters sent with every request (${VAR} interpolated), e.g. an API key.",
    )
    auth: Literal["passthrough"] | None = Field(
        default=None,
        description='"passthrough": send the caller\'s bearer token, only when its audience is this API.',
    )
    audience: str | None = Field(
        default=None,
        description="The URI a caller's token must name in its aud to be passed through (default: base_url).",
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds for one request.")
    max_response_bytes: int = Field(
        default=10 * MiB, ge=1024, description="Largest response body read."
    )
    max_error_chars: int = Field(
        default=2000, ge=100, description="Characters of an error body shown."
    )
    output_schema: bool = Field(
        default=True,
        description="Publish the 2xx response schema and answer structuredContent checked against it.",
    )
    warn_above: int = Field(
        default=200, ge=1, description="Warn when an API serves more tools than this."
    )

    @field_validator("headers", "query")
    @classmethod
    def _interpolated(cls, values: dict[str, str]) -> dict[str, str]:
        return {key: interpolate(value) for key, value in values.items()}

    @field_validator("base_url", "audience")
    @classmethod
    def _interpolated_url(cls, value: str | None) -> str | None:
        return interpolate(value).rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _one_authorization(self) -> ApiOptions:
        if self.auth == "passthrough" and any(k.lower() == "authorization" for k in self.headers):
            raise ValueError(
                'auth = "passthrough" sends the caller\'s token as the Authorization header: '
                "remove Authorization from headers"
            )
        return self


class ApiConfig(ApiOptions):
    """``[openapi.apis.<name>]``: an API from a spec (URL or file, JSON or YAML) or an ASGI
    app called in process (``"module:attribute"``), and its `ApiOptions`."""

    spec: str | None = Field(default=None, description="URL or path of the OpenAPI description.")
    app: str | None = Field(
        default=None, description='An ASGI app, "module:attribute", called in process.'
    )
    max_spec_bytes: int = Field(
        default=50 * MiB, ge=1024, description="Largest spec (or external $ref document) read."
    )

    @field_validator("spec")
    @classmethod
    def _interpolated_spec(cls, value: str | None) -> str | None:
        return interpolate(value) if value is not None else None

    @model_validator(mode="after")
    def _one_source(self) -> ApiConfig:
        if (self.spec is None) == (self.app is None):
            raise ValueError("give exactly one of spec (a URL or file) and app (module:attribute)")
        return self


class OpenApiSettings(BaseModel):
    """The top-level ``[openapi]`` table: ``[openapi.apis.<name>]``, one per API."""

    model_config = ConfigDict(extra="forbid")

    apis: dict[str, ApiConfig] = Field(default_factory=dict)
