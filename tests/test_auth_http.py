"""Authentication and authorization over real Streamable HTTP.

One `mcp-runner serve --transport http --port 0` subprocess with static tokens, JWTs checked
against a JWKS served by a local authorization server (which also answers RFC 7662
introspection), and scopes on tools and on a whole plugin. Every attack is answered as
RFC 6750 / RFC 9728 and the MCP authorization spec say: status, WWW-Authenticate challenge,
JSON-RPC error body.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "auth"))

from authkit import (
    ISSUER,
    MODERN,
    AuthorizationServer,
    HttpServer,
    Keys,
    challenge,
    claims,
    hs256_with_public_key,
    tampered,
    unsigned,
)

pytestmark = pytest.mark.e2e

WELL_KNOWN = "/.well-known/oauth-protected-resource"
STATIC = "static-token-for-ci-0123456789abcdef"
CLIENT_SECRET = "introspect-secret-123"
UNAUTHORIZED = -32001
FORBIDDEN = -32003

CONFIG = """
[server]
name = "auth-test"
log_level = "info"

[auth]
authorization_servers = ["{as_url}"]

[[auth.tokens]]
token = "{static}"
subject = "ci-bot"
scopes = ["secret:read", "locked"]

[auth.jwt]
jwks_url = "{as_url}/jwks.json"
issuer = "{issuer}"
leeway = 5
jwks_min_refresh_seconds = 1

[auth.introspection]
endpoint = "{as_url}/introspect"
client_id = "mcp-server"
client_secret = "{secret}"
cache_seconds = 30

[plugins.auth_locked]
scopes = ["locked"]
"""


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def authz(keys: Keys) -> Iterator[AuthorizationServer]:
    with AuthorizationServer(keys, client_secret=CLIENT_SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def srv(
    authz: AuthorizationServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    home = tmp_path_factory.mktemp("auth-http")
    config = home / "mcp-runner.toml"
    config.write_text(
        CONFIG.format(as_url=authz.url, static=STATIC, issuer=ISSUER, secret=CLIENT_SECRET)
    )
    server = HttpServer(config, home)
    yield server
    server.stop()


@pytest.fixture
def mint(keys: Keys, srv: HttpServer) -> Callable[..., str]:
    """A JWT for this server (audience = its canonical URI) unless told otherwise."""

    def make(
        key: Any = None, alg: str | None = None, header: dict[str, Any] | None = None, **claim: Any
    ) -> str:
        body = claims(srv.url, **claim)
        return keys.mint(body, key, alg, **(header or {}))

    return make


def assert_unauthorized(
    answer: Any, srv: HttpServer, description: str | None = None
) -> dict[str, str]:
    """401, a Bearer challenge pointing at the metadata, and a JSON-RPC error body."""
    assert answer.status_code == 401, answer.text
    params = challenge(answer)
    assert params["resource_metadata"] == srv.origin + WELL_KNOWN + "/mcp"
    body = answer.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == UNAUTHORIZED
    if description is None:
        assert "error" not in params, params  # no token given: no error code (RFC 6750 §3.1)
    else:
        assert params["error"] == "invalid_token"
        assert description in params["error_description"], params
        assert body["error"]["data"]["error"] == "invalid_token"
        assert description in body["error"]["message"]
    return params


def initialize_message() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }


# ---------------------------------------------------------------------------------------------
# Valid tokens


def test_valid_rsa_and_ec_jwts_are_accepted(
    srv: HttpServer, mint: Callable[..., str], keys: Keys
) -> None:
    rsa = mint()
    session = srv.initialize(rsa)
    assert srv.tool_names(rsa, session) >= {"public_echo", "whoami", "read_secret"}
    ec = mint(key=keys.ec)
    answer = srv.request("tools/call", {"name": "whoami", "arguments": {}}, ec, session)
    assert answer.status_code == 200, answer.text
    who = answer.json()["result"]["structuredContent"]
    assert who == {"subject": "alice", "scopes": ["secret:read"], "env_token": None}


def test_audience_may_be_a_list_containing_this_server(
    srv: HttpServer, mint: Callable[..., str]
) -> None:
    token = mint(
        aud=["https://other.example/api", srv.url + "/"]
    )  # a trailing slash is the same URI
    assert srv.post(initialize_message(), token).status_code == 200


def test_scp_claim_grants_scopes(srv: HttpServer, mint: Callable[..., str]) -> None:
    token = mint(scope=None, scp=["admin", "secret:read"])
    session = srv.initialize(token)
    assert "admin_reset" in srv.tool_names(token, session)


# ---------------------------------------------------------------------------------------------
# Refusals


def test_no_token_is_401_with_a_challenge(srv: HttpServer) -> None:
    answer = srv.post(initialize_message())
    assert_unauthorized(answer, srv)
    assert "access token" in answer.json()["error"]["message"]


def test_every_method_needs_a_token(srv: HttpServer) -> None:
    assert_unauthorized(
        srv.client.get(srv.url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": "x"}), srv
    )
    assert_unauthorized(srv.client.delete(srv.url, headers={"Mcp-Session-Id": "x"}), srv)


ATTACKS: dict[str, tuple[Callable[[Callable[..., str], Keys, HttpServer], str], str]] = {
    "expired": (lambda mint, keys, srv: mint(exp=int(time.time()) - 120), "expired"),
    "not yet valid (nbf)": (
        lambda mint, keys, srv: mint(nbf=int(time.time()) + 600),
        "not valid yet",
    ),
    "issued in the future (iat)": (
        lambda mint, keys, srv: mint(iat=int(time.time()) + 600),
        "issued in the future",
    ),
    "no expiry": (lambda mint, keys, srv: mint(exp=None), "expiry"),
    "wrong audience": (lambda mint, keys, srv: mint(aud="https://other.example/mcp"), "audience"),
    "audience of another local server": (
        lambda mint, keys, srv: mint(aud="http://127.0.0.1:1/mcp"),
        "audience",
    ),
    "no audience": (lambda mint, keys, srv: mint(aud=None), "audience"),
    "wrong issuer": (lambda mint, keys, srv: mint(iss="https://evil.test"), "issuer"),
    "no subject": (lambda mint, keys, srv: mint(sub=None), "subject"),
    "bad signature (attacker key, known kid)": (
        lambda mint, keys, srv: mint(key=keys.attacker),
        "bad signature",
    ),
    "tampered payload (scope escalated)": (
        lambda mint, keys, srv: tampered(mint(), scope="secret:read admin locked"),
        "bad signature",
    ),
    "alg none": (lambda mint, keys, srv: unsigned(claims(srv.url, scope="admin")), "alg none"),
    "alg none, uppercase": (
        lambda mint, keys, srv: unsigned(claims(srv.url)).replace(
            unsigned(claims(srv.url)).split(".")[0], "eyJhbGciOiJOT05FIiwia2lkIjoicnNhLTEifQ"
        ),
        "alg none",
    ),
    "HS256 keyed with the RSA public key": (
        lambda mint, keys, srv: hs256_with_public_key(claims(srv.url, scope="admin"), keys),
        "algorithm HS256 is not accepted",
    ),
    "alg does not match the key (ES256 on the RSA kid)": (
        lambda mint, keys, srv: mint(key=keys.ec, header={"kid": "rsa-1"}),
        "does not match",
    ),
    "jku header pointing elsewhere": (
        lambda mint, keys, srv: mint(header={"jku": "http://127.0.0.1:1/evil.json"}),
        "unsupported",
    ),
    "malformed JWT": (lambda mint, keys, srv: "abc.def.ghi", "malformed"),
    "unknown opaque token": (
        lambda mint, keys, srv: "opaque-never-issued-0123456789",
        "not active",
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_invalid_tokens_are_401_invalid_token(
    attack: str, srv: HttpServer, mint: Callable[..., str], keys: Keys
) -> None:
    make, description = ATTACKS[attack]
    token = make(mint, keys, srv)
    answer = srv.post(initialize_message(), token)
    assert_unauthorized(answer, srv, description)
    assert token not in answer.headers["www-authenticate"] and token not in answer.text


def test_unknown_kid_refetches_the_jwks_rate_limited_and_follows_rotation(
    srv: HttpServer, mint: Callable[..., str], keys: Keys, authz: AuthorizationServer
) -> None:
    assert srv.post(initialize_message(), mint()).status_code == 200  # the JWKS is loaded
    time.sleep(1.1)  # past jwks_min_refresh_seconds
    before = authz.jwks_fetches
    unknown = mint(key=keys.rotated)  # kid ec-2: not published yet
    assert_unauthorized(srv.post(initialize_message(), unknown), srv, "unknown signing key")
    assert authz.jwks_fetches == before + 1  # one refresh attempt
    again = mint(key=keys.rotated, jti="second")
    assert_unauthorized(srv.post(initialize_message(), again), srv, "unknown signing key")
    assert authz.jwks_fetches == before + 1  # rate-limited: no second fetch
    keys.published.append(keys.rotated)  # the authorization server rotates its keys
    try:
        time.sleep(1.1)
        rotated = mint(key=keys.rotated, jti="third")
        assert srv.post(initialize_message(), rotated).status_code == 200
        assert authz.jwks_fetches == before + 2
    finally:
        keys.published.remove(keys.rotated)


def test_token_in_the_query_string_is_refused(srv: HttpServer, mint: Callable[..., str]) -> None:
    token = mint()
    answer = srv.post(initialize_message(), query=f"?access_token={token}")
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert "error" in body and body["id"] is None
    params = challenge(answer)
    assert params["resource_metadata"] == srv.origin + WELL_KNOWN + "/mcp"
    assert params["error"] == "invalid_request"
    assert "query" in body["error"]["message"]
    both = srv.post(initialize_message(), token, query=f"?access_token={token}")
    assert both.status_code == 400  # even with a valid header: never two methods at once


@pytest.mark.parametrize(
    ("authorization", "status"),
    [("Basic YWxpY2U6cGFzcw==", 401), ("Bearer", 400), ("Bearer a b", 400), ('Bearer tok"en', 400)],
)
def test_malformed_authorization_headers(srv: HttpServer, authorization: str, status: int) -> None:
    answer = srv.post(initialize_message(), headers={"Authorization": authorization})
    assert answer.status_code == status, answer.text
    params = challenge(answer)
    assert params["resource_metadata"] == srv.origin + WELL_KNOWN + "/mcp"
    if status == 400:
        assert params["error"] == "invalid_request"
    else:
        assert "error" not in params


# ---------------------------------------------------------------------------------------------
# Scopes


def assert_forbidden(answer: Any, srv: HttpServer, scope: str, request_id: Any = 1) -> None:
    assert answer.status_code == 403, answer.text
    params = challenge(answer)
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == scope
    assert params["resource_metadata"] == srv.origin + WELL_KNOWN + "/mcp"
    body = answer.json()
    assert body["id"] == request_id
    assert body["error"]["code"] == FORBIDDEN
    assert body["error"]["data"]["error"] == "insufficient_scope"


def test_insufficient_scope_hides_and_refuses(srv: HttpServer, mint: Callable[..., str]) -> None:
    token = mint(scope="secret:read")
    session = srv.initialize(token)
    names = srv.tool_names(token, session)
    assert {"public_echo", "whoami", "read_secret"} <= names
    assert not names & {"admin_reset", "locked_tool"}
    prompts = srv.request("prompts/list", {}, token, session).json()["result"]["prompts"]
    assert [p["name"] for p in prompts] == ["greeting"]
    resources = srv.request("resources/list", {}, token, session).json()["result"]["resources"]
    assert [r["uri"] for r in resources] == ["demo://open"]

    ok = srv.request("tools/call", {"name": "read_secret", "arguments": {}}, token, session)
    assert ok.status_code == 200 and ok.json()["result"]["content"][0]["text"] == "the secret"
    assert_forbidden(
        srv.request("tools/call", {"name": "admin_reset", "arguments": {}}, token, session),
        srv,
        "admin",
    )
    # The plugin's configured scopes ([plugins.auth_locked]) cover its tool, prompt, resource.
    assert_forbidden(
        srv.request("tools/call", {"name": "locked_tool", "arguments": {}}, token, session),
        srv,
        "locked",
    )
    assert_forbidden(
        srv.request("prompts/get", {"name": "locked_prompt"}, token, session), srv, "locked"
    )
    assert_forbidden(
        srv.request("resources/read", {"uri": "locked://data"}, token, session), srv, "locked"
    )
    assert_forbidden(
        srv.request("resources/subscribe", {"uri": "locked://data"}, token, session), srv, "locked"
    )


def test_insufficient_scope_on_a_stateless_request(
    srv: HttpServer, mint: Callable[..., str]
) -> None:
    token = mint(scope="secret:read")
    answer = srv.modern(
        "tools/call", {"name": "admin_reset", "arguments": {}}, token, name="admin_reset"
    )
    assert_forbidden(answer, srv, "admin", request_id=7)
    listed = srv.modern("tools/list", {}, token)
    assert listed.status_code == 200, listed.text
    assert "admin_reset" not in {t["name"] for t in listed.json()["result"]["tools"]}


def _listen(
    stack: contextlib.ExitStack, srv: HttpServer, token: str, uris: list[str]
) -> Iterator[dict[str, Any]]:
    """The messages of a 2026-07-28 ``subscriptions/listen`` stream held open in `stack`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    message = {
        "jsonrpc": "2.0",
        "id": "listen",
        "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": uris}, "_meta": meta},
    }
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "subscriptions/listen",
    }
    client = stack.enter_context(httpx.Client(timeout=10.0))
    response = stack.enter_context(
        client.stream("POST", srv.url, content=json.dumps(message), headers=headers)
    )
    assert response.status_code == 200
    return (json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:"))


def test_a_listener_hears_only_the_resources_its_principal_may_read(
    srv: HttpServer, mint: Callable[..., str]
) -> None:
    """subscriptions/listen acknowledges (and delivers) only URIs a resource serves and the
    caller may read, the check resources/subscribe makes: a caller without the locked plugin's
    scope, or naming a URI nothing serves, hears nothing of it."""
    uris = ["locked://data", "nothing://here", "demo://open"]
    with contextlib.ExitStack() as stack:
        narrow = _listen(stack, srv, mint(scope="secret:read", jti="narrow-listen"), uris)
        wide = _listen(stack, srv, mint(scope="locked", jti="wide-listen"), uris)
        assert next(narrow)["params"]["notifications"] == {"resourceSubscriptions": ["demo://open"]}
        assert next(wide)["params"]["notifications"] == {
            "resourceSubscriptions": ["locked://data", "demo://open"]
        }
        toucher = mint(scope="secret:read", jti="toucher")
        for uri in ("locked://data", "nothing://here", "demo://open"):
            call = {"name": "touch", "arguments": {"uri": uri}}
            touched = srv.modern("tools/call", call, toucher, name="touch")
            assert touched.status_code == 200, touched.text
        # The narrow listener's next message is the open resource's: nothing came before it.
        assert next(narrow)["params"]["uri"] == "demo://open"
        assert [next(wide)["params"]["uri"] for _ in range(2)] == ["locked://data", "demo://open"]


def test_all_scopes_see_and_call_everything(srv: HttpServer, mint: Callable[..., str]) -> None:
    token = mint(scope="secret:read admin locked")
    session = srv.initialize(token)
    assert {"admin_reset", "locked_tool", "read_secret"} <= srv.tool_names(token, session)
    for name, text in (("admin_reset", "reset done"), ("locked_tool", "unlocked")):
        answer = srv.request("tools/call", {"name": name, "arguments": {}}, token, session)
        assert answer.status_code == 200 and answer.json()["result"]["content"][0]["text"] == text


def test_a_down_scoped_token_counts_in_an_existing_session(
    srv: HttpServer, mint: Callable[..., str]
) -> None:
    wide = mint(scope="secret:read admin")
    session = srv.initialize(wide)
    assert "admin_reset" in srv.tool_names(wide, session)
    narrow = mint(scope="secret:read", jti="narrow")  # same subject, fewer scopes
    assert "admin_reset" not in srv.tool_names(narrow, session)
    assert_forbidden(
        srv.request("tools/call", {"name": "admin_reset", "arguments": {}}, narrow, session),
        srv,
        "admin",
    )


# ---------------------------------------------------------------------------------------------
# Sessions belong to their principal


def test_a_session_cannot_be_used_with_another_principals_token(
    srv: HttpServer, mint: Callable[..., str]
) -> None:
    alice = mint(sub="alice")
    bob = mint(sub="bob", scope="secret:read admin")
    session = srv.initialize(alice)
    stolen = srv.request("tools/list", {}, bob, session)
    assert stolen.status_code == 404, stolen.text
    assert srv.request("tools/list", {}, STATIC, session).status_code == 404
    get = srv.client.get(
        srv.url,
        headers={
            "Authorization": f"Bearer {bob}",
            "Mcp-Session-Id": session,
            "Accept": "text/event-stream",
        },
    )
    assert get.status_code == 404
    delete = srv.client.delete(
        srv.url, headers={"Authorization": f"Bearer {bob}", "Mcp-Session-Id": session}
    )
    assert delete.status_code == 404
    assert srv.request("tools/list", {}, alice, session).status_code == 200  # still alice's
    assert (
        srv.client.delete(
            srv.url, headers={"Authorization": f"Bearer {alice}", "Mcp-Session-Id": session}
        ).status_code
        == 204
    )


# ---------------------------------------------------------------------------------------------
# Protected resource metadata (RFC 9728)


@pytest.mark.parametrize("path", [WELL_KNOWN, WELL_KNOWN + "/mcp"])
def test_protected_resource_metadata(
    srv: HttpServer, authz: AuthorizationServer, path: str
) -> None:
    answer = srv.client.get(srv.origin + path)  # public: no token needed
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {
        "resource": srv.url,
        "authorization_servers": [authz.url],
        "scopes_supported": ["admin", "locked", "secret:read"],
        "bearer_methods_supported": ["header"],
        "resource_name": "auth-test",
    }


# ---------------------------------------------------------------------------------------------
# Static tokens and introspection


def test_static_token(srv: HttpServer) -> None:
    session = srv.initialize(STATIC)
    who = srv.request("tools/call", {"name": "whoami", "arguments": {}}, STATIC, session).json()[
        "result"
    ]
    assert who["structuredContent"]["subject"] == "ci-bot"
    assert who["structuredContent"]["scopes"] == ["locked", "secret:read"]
    assert "locked_tool" in srv.tool_names(STATIC, session) and "admin_reset" not in srv.tool_names(
        STATIC, session
    )
    near = STATIC[:-1] + ("0" if STATIC[-1] != "0" else "1")
    assert_unauthorized(
        srv.post(initialize_message(), near), srv, "not active"
    )  # last verifier's word


def test_introspected_opaque_tokens(srv: HttpServer, authz: AuthorizationServer) -> None:
    now = int(time.time())
    authz.opaque.update(
        {
            "opaque-alice-0123456789": {
                "active": True,
                "sub": "alice",
                "scope": "secret:read admin",
                "aud": srv.url,
                "exp": now + 300,
                "token_type": "Bearer",
            },
            "opaque-revoked-0123456789": {"active": False},
            "opaque-elsewhere-0123456789": {
                "active": True,
                "sub": "eve",
                "scope": "admin",
                "aud": "https://other.example/mcp",
                "exp": now + 300,
            },
            "opaque-expired-0123456789": {
                "active": True,
                "sub": "old",
                "aud": srv.url,
                "exp": now - 600,
            },
        }
    )
    before = authz.introspections
    session = srv.initialize("opaque-alice-0123456789")
    assert "admin_reset" in srv.tool_names("opaque-alice-0123456789", session)
    who = srv.request(
        "tools/call", {"name": "whoami", "arguments": {}}, "opaque-alice-0123456789", session
    )
    assert who.json()["result"]["structuredContent"]["subject"] == "alice"
    assert authz.introspections == before + 1  # answers are cached
    assert_unauthorized(
        srv.post(initialize_message(), "opaque-revoked-0123456789"), srv, "not active"
    )
    assert_unauthorized(
        srv.post(initialize_message(), "opaque-elsewhere-0123456789"), srv, "audience"
    )
    assert_unauthorized(srv.post(initialize_message(), "opaque-expired-0123456789"), srv, "expired")


def test_introspection_with_wrong_client_credentials_is_503(
    tmp_path: Path, authz: AuthorizationServer
) -> None:
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        CONFIG.format(as_url=authz.url, static=STATIC, issuer=ISSUER, secret="not-the-secret")
    )
    server = HttpServer(config, tmp_path)
    try:
        answer = server.post(initialize_message(), "opaque-some-token-0123456789")
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["message"].startswith("Service unavailable")
        assert "not-the-secret" not in server.stderr
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Last: nothing secret reached the log


def test_no_secret_or_token_in_the_server_log(srv: HttpServer) -> None:
    log = srv.stderr
    assert (
        "request" in log
    )  # the request log is on (log_level = "info"): there was something to leak
    for secret in (STATIC, CLIENT_SECRET, "opaque-alice-0123456789", "eyJ"):
        assert secret not in log
