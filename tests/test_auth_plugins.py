"""A plugin's own token verifier (through the hook), over real HTTP; and stdio credentials from
the environment (MCP_RUNNER_TOKEN)."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "auth"))

import auth_demo
from authkit import StdioClient
from mcp_runner import Runner, hookimpl
from mcp_runner.auth import WELL_KNOWN_PATH, AuthError, Principal
from mcp_runner.config import load_settings
from mcp_runner.transports.http import McpHttpApp, http_app

pytestmark = pytest.mark.e2e

MAGIC = "magic-plugin-token-0123456789"
STATIC = "stdio-static-token-0123456789"


class HeaderVerifier:
    """A plugin's verifier: one magic token, and a refusal with its own reason."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def verify(self, token: str) -> Principal | None:
        self.seen.append(token)
        if token == MAGIC:
            return Principal("plugin-user", frozenset({"secret:read"}), {"via": "plugin"})
        if token.startswith("revoked-"):
            raise AuthError.invalid_token("revoked by the plugin")
        return None


class CustomAuth:
    """A plugin object (not a module, not a `Plugin`) implementing the verifier hook."""

    def __init__(self) -> None:
        self.verifier = HeaderVerifier()

    @hookimpl
    def mcp_runner_token_verifiers(self, settings: Any) -> list[Any]:
        return [self.verifier]


def serve_in_thread(
    runner: Runner, app_for: Any
) -> tuple[str, Any, threading.Thread, socket.socket]:
    """Serve `app_for(runner)` with uvicorn on a thread, on a port bound here; the runner's
    lifespan (the plugins', the auth plugin's included) wraps the serving."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    holder: dict[str, Any] = {}

    async def main() -> None:
        app, close = app_for(runner)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        holder["server"] = server
        async with runner.lifespan():
            await server.serve(sockets=[sock])
        await close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while "server" not in holder or not holder["server"].started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}/mcp", holder["server"], thread, sock


def mcp_endpoint(runner: Runner) -> tuple[Any, Any]:
    """`McpHttpApp` (the plain ASGI endpoint) at /mcp and the metadata paths, as `serve` does."""
    endpoint = McpHttpApp(runner)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"].startswith(WELL_KNOWN_PATH):
            await endpoint.metadata(scope, receive, send)
        else:
            await endpoint(scope, receive, send)

    return app, endpoint.close


@pytest.fixture
def served() -> Iterator[tuple[str, CustomAuth]]:
    custom = CustomAuth()
    runner = Runner(
        load_settings(env={}),
        plugins={"custom_auth": custom, "auth_demo": auth_demo.plugin},
        entry_points=False,
    ).start()
    url, server, thread, sock = serve_in_thread(runner, mcp_endpoint)
    try:
        yield url, custom
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def post(
    url: str, message: dict[str, Any], token: str | None, session: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers["Mcp-Session-Id"] = session
    return httpx.post(url, json=message, headers=headers, timeout=10)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}


def test_a_plugin_verifier_through_the_hook_takes_effect(served: tuple[str, CustomAuth]) -> None:
    url, custom = served
    assert (
        post(url, INITIALIZE, None).status_code == 401
    )  # auth is on: the plugin offered a verifier

    answer = post(url, INITIALIZE, MAGIC)
    assert answer.status_code == 200, answer.text
    session = answer.headers["mcp-session-id"]
    assert (
        post(
            url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, MAGIC, session
        ).status_code
        == 202
    )
    listed = post(url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, MAGIC, session).json()[
        "result"
    ]["tools"]
    names = {t["name"] for t in listed}
    assert "read_secret" in names and "admin_reset" not in names
    who = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}},
        },
        MAGIC,
        session,
    )
    assert who.json()["result"]["structuredContent"]["subject"] == "plugin-user"
    denied = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "admin_reset", "arguments": {}},
        },
        MAGIC,
        session,
    )
    assert (
        denied.status_code == 403
        and 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    )

    refused = post(url, INITIALIZE, "revoked-token-0123")
    assert refused.status_code == 401
    assert 'error_description="revoked by the plugin"' in refused.headers["www-authenticate"]
    unknown = post(url, INITIALIZE, "nobody-knows-this-token")
    assert (
        unknown.status_code == 401
        and 'error="invalid_token"' in unknown.headers["www-authenticate"]
    )
    assert custom.verifier.seen.count(MAGIC) == 1  # later requests were served from the cache

    metadata = httpx.get(
        url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"), timeout=10
    ).json()
    assert metadata["resource"] == url
    assert metadata["scopes_supported"] == ["admin", "secret:read"]


def test_http_app_serves_the_protected_resource_metadata() -> None:
    runner = Runner(
        load_settings(env={}),
        plugins={"custom_auth": CustomAuth(), "auth_demo": auth_demo.plugin},
        entry_points=False,
    ).start()

    def starlette_app(runner: Runner) -> tuple[Any, Any]:
        async def nothing() -> None:
            return None

        return http_app(runner), nothing

    url, server, thread, sock = serve_in_thread(runner, starlette_app)
    try:
        answer = httpx.get(url.replace("/mcp", WELL_KNOWN_PATH + "/mcp"), timeout=10)
        assert answer.status_code == 200
        assert answer.json()["resource"] == url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# ---------------------------------------------------------------------------------------------
# stdio


@pytest.fixture
def stdio_config(tmp_path: Path) -> Path:
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        f"""
[[auth.tokens]]
token = "{STATIC}"
subject = "local-user"
scopes = ["secret:read"]

[plugins.auth_locked]
scopes = ["locked"]
"""
    )
    return config


def test_stdio_token_from_the_environment(stdio_config: Path, tmp_path: Path) -> None:
    client = StdioClient(stdio_config, tmp_path, env={"MCP_RUNNER_TOKEN": STATIC})
    try:
        client.initialize()
        names = {t["name"] for t in client.request("tools/list")["result"]["tools"]}
        assert "read_secret" in names and not names & {"admin_reset", "locked_tool"}
        who = client.request("tools/call", {"name": "whoami", "arguments": {}})["result"][
            "structuredContent"
        ]
        assert who == {
            "subject": "local-user",
            "scopes": ["secret:read"],
            "env_token": None,
        }  # not passed down
        assert (
            client.request("tools/call", {"name": "read_secret", "arguments": {}})["result"][
                "content"
            ][0]["text"]
            == "the secret"
        )
        denied = client.request("tools/call", {"name": "admin_reset", "arguments": {}})
        assert (
            denied["error"]["code"] == -32003
            and denied["error"]["data"]["error"] == "insufficient_scope"
        )
    finally:
        code, stderr = client.finish()
    assert code == 0, stderr
    assert STATIC not in stderr


def test_stdio_without_a_token_hides_and_refuses_scoped_tools(
    stdio_config: Path, tmp_path: Path
) -> None:
    client = StdioClient(stdio_config, tmp_path)
    try:
        client.initialize()
        names = {t["name"] for t in client.request("tools/list")["result"]["tools"]}
        assert "public_echo" in names and not names & {"read_secret", "admin_reset", "locked_tool"}
        assert (
            client.request("tools/call", {"name": "public_echo", "arguments": {"text": "hi"}})[
                "result"
            ]["content"][0]["text"]
            == "hi"
        )
        denied = client.request("tools/call", {"name": "read_secret", "arguments": {}})
        assert denied["error"]["code"] == -32001
        assert "MCP_RUNNER_TOKEN" in denied["error"]["message"]
        assert client.request("resources/read", {"uri": "locked://data"})["error"]["code"] == -32001
    finally:
        code, stderr = client.finish()
    assert code == 0, stderr


def test_stdio_with_a_refused_token_does_not_start(stdio_config: Path, tmp_path: Path) -> None:
    client = StdioClient(
        stdio_config, tmp_path, env={"MCP_RUNNER_TOKEN": "not-the-right-token-0123456789"}
    )
    code, stderr = client.finish()
    assert code == 1
    assert "MCP_RUNNER_TOKEN was refused" in stderr
    assert "not-the-right-token" not in stderr
