"""Who a proxied call reaches an HTTP backend as: nothing of the caller by default; the
backend's own static credentials (settings or an environment variable) when configured; the
caller's own token with ``forward_token``, and only a token whose audience names the backend.

Real processes and HTTP: the backends are ``mcp-runner serve --transport http`` with the auth
test plugin (``whoami``), checking JWTs from a local JWKS server and a static token; the proxy
in front authenticates its own callers' JWTs."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_runner.builtin import proxy
from mcp_runner.builtin.proxy.config import ServerConfig
from mcp_runner.client import Client, McpClientError
from mcp_runner.testing import make_runner
from mcp_runner.transports.http import McpHttpApp, Router

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES / "auth"))
sys.path.insert(0, str(FIXTURES / "proxy"))
from authkit import ISSUER, AuthorizationServer, HttpServer, Keys, claims  # noqa: E402
from helpers import eventually  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
FRONT = "http://127.0.0.1/mcp"  # the proxy's own resource URI (served in process)
PROXY_TOKEN = "proxy-own-token-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def authz(keys: Keys) -> Iterator[AuthorizationServer]:
    with AuthorizationServer(keys) as server:
        yield server


@pytest.fixture(scope="module")
def secured(authz: AuthorizationServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A backend that takes JWTs meant for it, and the proxy's static token (subject proxy)."""
    home = tmp_path_factory.mktemp("secured")
    (home / "mcp-runner.toml").write_text(
        f'[auth]\n\n[[auth.tokens]]\ntoken = "{PROXY_TOKEN}"\nsubject = "proxy"\n\n'
        f'[auth.jwt]\njwks_url = "{authz.url}/jwks.json"\nissuer = "{ISSUER}"\n'
    )
    server = HttpServer(home / "mcp-runner.toml", home)
    yield server.url
    server.stop()


@asynccontextmanager
async def front(
    authz: AuthorizationServer, backend: dict[str, Any], token: str
) -> AsyncIterator[tuple[Any, Client]]:
    """The proxy, authenticating its callers' JWTs, served over HTTP in process; a client of
    it presenting `token`."""
    runner = make_runner(
        settings={
            "auth": {
                "resource": FRONT,
                "jwt": {"jwks_url": f"{authz.url}/jwks.json", "issuer": ISSUER},
            },
            "proxy": {"servers": {"api": backend}},
        }
    )
    app = Router(McpHttpApp(runner), "/mcp")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
    async with runner.lifespan(), http:
        client = Client.http(
            FRONT, http_client=http, headers={"Authorization": f"Bearer {token}"}, era="modern"
        )
        async with client:
            yield runner, client


def whoami(result: Any) -> Any:
    assert not result.is_error, result.text
    return result.structured_content["subject"]


def state(runner: Any) -> dict[str, Any]:
    return next(e for e in proxy.mcp_runner_status(runner) or [] if e["name"] == "api")


async def test_nothing_is_forwarded_by_default(
    authz: AuthorizationServer, keys: Keys, secured: str
) -> None:
    caller = keys.mint(claims([FRONT, secured]))  # even a token meant for the backend
    async with front(authz, {"url": secured, "startup_timeout": 5}, caller) as (runner, _):
        await eventually(lambda: state(runner)["state"] != "starting")
        entry = state(runner)
        assert entry["state"] == "restarting" and "credentials" not in entry, entry
        assert "this server needs an access token" in entry["error"]


async def test_static_credentials_from_an_environment_variable(
    authz: AuthorizationServer,
    keys: Keys,
    secured: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", PROXY_TOKEN)
    caller = keys.mint(claims([FRONT, secured]))
    async with front(authz, {"url": secured, "bearer_token_env": "API_TOKEN"}, caller) as (
        runner,
        client,
    ):
        assert whoami(await client.call_tool("api_whoami")) == "proxy"  # not the caller
        assert state(runner)["credentials"] == ["bearer token from $API_TOKEN"]


async def test_static_bearer_token_from_the_settings(
    authz: AuthorizationServer, keys: Keys, secured: str
) -> None:
    caller = keys.mint(claims(FRONT))
    async with front(authz, {"url": secured, "bearer_token": PROXY_TOKEN}, caller) as (_, client):
        assert whoami(await client.call_tool("api_whoami")) == "proxy"


async def test_the_callers_token_only_when_meant_for_the_backend(
    authz: AuthorizationServer, keys: Keys, secured: str
) -> None:
    backend = {"url": secured, "bearer_token": PROXY_TOKEN, "forward_token": True}
    meant = keys.mint(claims([FRONT, secured], sub="alice"))
    async with front(authz, backend, meant) as (runner, client):
        assert state(runner)["era"] == "modern"
        assert state(runner)["credentials"] == [
            "bearer token (bearer_token)",
            f"the caller's token, when its audience is {secured}",
        ]
        assert whoami(await client.call_tool("api_whoami")) == "alice"
    not_meant = keys.mint(claims(FRONT, sub="mallory"))  # its audience is the proxy alone
    async with front(authz, backend, not_meant) as (_, client):
        refused = await client.call_tool("api_whoami")
        assert refused.is_error
        assert refused.text == (
            "Backend 'api' takes each caller's own token, and this request has none meant for "
            f"it (a bearer token whose audience names {secured!r})"
        )
    # `audience`: the name the tokens use for the backend, when it is not the url reached
    other = {**backend, "audience": "https://api.example.com"}
    async with front(authz, other, meant) as (_, client):
        refused = await client.call_tool("api_whoami")  # meant for the url, not the name
        assert refused.is_error and "'https://api.example.com'" in refused.text
    named = keys.mint(claims([FRONT, "https://api.example.com"], sub="bob"))
    async with front(authz, other, named) as (_, client):
        with pytest.raises(McpClientError) as info:  # forwarded: this backend has its url
            await client.call_tool("api_whoami")  # for its audience, so it says no itself
        assert "not meant for this server" in info.value.message


async def test_a_missing_variable_fails_the_backend_with_the_reason(
    authz: AuthorizationServer, keys: Keys, secured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    backend = {"url": secured, "bearer_token_env": "NO_SUCH_TOKEN"}
    async with front(authz, backend, keys.mint(claims(FRONT))) as (runner, _):
        entry = state(runner)
        assert entry["state"] == "failed"
        assert entry["error"] == "bearer_token_env: the variable NO_SUCH_TOKEN is not set"


def test_credential_settings_are_checked() -> None:
    for bad, why in [
        ({"command": "x", "bearer_token": "t"}, "only for a Streamable HTTP server"),
        ({"url": "http://h/mcp", "bearer_token": "t", "bearer_token_env": "T"}, "not both"),
        (
            {"url": "http://h/mcp", "bearer_token": "t", "headers": {"authorization": "x"}},
            "give one",
        ),
        ({"url": "http://h/mcp", "audience": "a"}, "forward_token"),
        ({"url": "http://h/mcp", "forward_token": True, "era": "legacy"}, "bound to one caller"),
    ]:
        with pytest.raises(ValueError, match=why):
            ServerConfig.model_validate(bad)
    secret = ServerConfig.model_validate({"url": "http://h/mcp", "bearer_token": "s3cret"})
    assert "s3cret" not in repr(secret) and "s3cret" not in json.dumps(
        secret.model_dump(mode="json")
    )
