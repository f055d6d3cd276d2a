"""``auth = "passthrough"`` end to end: ``mcp-runner serve --transport http`` with JWT and
static-token auth, bridging an API (uvicorn on 127.0.0.1) that answers with the Authorization
header it received. The caller's token reaches an API only when its audience names that API,
never without ``auth = "passthrough"``, and never a log line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_helpers import served_app

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "auth"))

from authkit import ISSUER, HttpServer, Keys, claims

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BILLING = "https://billing.example.com"
MCP = "https://mcp.example.com/mcp"  # this server's resource URI: every JWT's first audience
STATIC = "static-token-for-passthrough-0123456789"
TOOL = "received_authorization"


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """The echo API served by uvicorn on 127.0.0.1."""
    with served_app("echo_app:app") as url:
        yield url


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def srv(
    echo_url: str, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    """Three APIs on the echo app: billing (passthrough, audience BILLING), echo (passthrough,
    audience its base URL) and plain (no passthrough)."""
    home = tmp_path_factory.mktemp("passthrough")
    (home / "key.pem").write_bytes(keys.rsa.as_pem(private=False))
    spec = f"{echo_url}/openapi.json"
    config = home / "mcp-runner.toml"
    config.write_text(
        f"""
[server]
log_level = "debug"

[auth]
resource = "{MCP}"

[[auth.tokens]]
token = "{STATIC}"
subject = "ci-bot"

[auth.jwt]
key_file = "{home / "key.pem"}"
issuer = "{ISSUER}"

[openapi.apis.billing]
spec = "{spec}"
namespace = "billing"
auth = "passthrough"
audience = "{BILLING}"

[openapi.apis.echo]
spec = "{spec}"
namespace = "echo"
auth = "passthrough"

[openapi.apis.plain]
spec = "{spec}"
namespace = "plain"
"""
    )
    server = HttpServer(config, home, env={"MCP_RUNNER_PLUGINS": "openapi,auth_demo,auth_locked"})
    yield server
    server.stop()


def call(srv: HttpServer, tool: str, token: str) -> dict[str, Any]:
    answer = srv.modern("tools/call", {"name": tool, "arguments": {}}, token, name=tool)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def jwt_for(keys: Keys, *audiences: str) -> str:
    return keys.mint(claims(list(audiences)))


def test_the_token_reaches_the_api_its_audience_names(
    srv: HttpServer, keys: Keys, echo_url: str
) -> None:
    token = jwt_for(keys, MCP, BILLING)
    result = call(srv, f"billing_{TOOL}", token)
    assert result["structuredContent"] == {"authorization": f"Bearer {token}"}
    # the default audience is the API's base URL
    both = jwt_for(keys, MCP, echo_url)
    assert call(srv, f"echo_{TOOL}", both)["structuredContent"] == {
        "authorization": f"Bearer {both}"
    }


def test_a_token_meant_for_another_api_is_not_sent(
    srv: HttpServer, keys: Keys, echo_url: str
) -> None:
    token = jwt_for(keys, MCP, BILLING)
    result = call(srv, f"echo_{TOOL}", token)
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert "not passed to echo" in text and f"does not name {echo_url}" in text
    assert token not in text
    # a token for the MCP server alone goes nowhere
    alone = jwt_for(keys, MCP)
    assert call(srv, f"billing_{TOOL}", alone)["isError"] is True


def test_a_token_without_an_audience_is_never_passed_on(srv: HttpServer) -> None:
    result = call(srv, f"billing_{TOOL}", STATIC)  # static tokens have no aud
    assert result["isError"] is True and "audience" in result["content"][0]["text"]


def test_without_passthrough_nothing_of_the_caller_is_forwarded(
    srv: HttpServer, keys: Keys, echo_url: str
) -> None:
    token = jwt_for(keys, MCP, BILLING, echo_url)
    assert call(srv, f"plain_{TOOL}", token)["structuredContent"] == {"authorization": None}


def test_a_legacy_session_forwards_each_requests_own_token(srv: HttpServer, keys: Keys) -> None:
    first = jwt_for(keys, MCP, BILLING)
    session = srv.initialize(first)
    answer = srv.request("tools/call", {"name": f"billing_{TOOL}", "arguments": {}}, first, session)
    assert answer.json()["result"]["structuredContent"] == {"authorization": f"Bearer {first}"}
    refreshed = keys.mint(claims([MCP, BILLING], jti="refreshed"))
    answer = srv.request(
        "tools/call", {"name": f"billing_{TOOL}", "arguments": {}}, refreshed, session, id=2
    )
    assert answer.json()["result"]["structuredContent"] == {"authorization": f"Bearer {refreshed}"}


def test_no_token_reaches_a_log_line(srv: HttpServer, keys: Keys) -> None:
    token = jwt_for(keys, MCP, BILLING)
    call(srv, f"billing_{TOOL}", token)
    call(srv, f"plain_{TOOL}", token)
    call(srv, f"billing_{TOOL}", STATIC)
    logged = srv.stderr
    assert "tools/call" in logged or TOOL in logged  # debug logging is on and writes
    assert token not in logged and STATIC not in logged
    assert token.split(".")[2] not in logged  # not even the signature
