"""`mcp_runner.auth` and the builtin ``auth`` plugin in process: settings, verifiers, the
authenticator's rules and cache."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "auth"))

import auth_demo
from authkit import ISSUER, Keys, claims
from mcp_runner import Runner
from mcp_runner.auth import (
    Authenticator,
    AuthError,
    AuthUnavailable,
    Principal,
    bearer_challenge,
    canonical_uri,
    host_name,
)
from mcp_runner.builtin.auth.jwt import JwtVerifier
from mcp_runner.builtin.auth.settings import AuthSettings, JwtSettings
from mcp_runner.builtin.auth.static import StaticTokenVerifier
from mcp_runner.config import load_settings
from mcp_runner.protocol.errors import McpError

TOKEN = "a-static-token-0123456789abcdef"
PLUGINS = {"auth_demo": auth_demo.plugin, "auth_locked": auth_demo.locked}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def settings(**overrides: Any) -> Any:
    return load_settings(env={}, overrides=overrides)


def runner(**overrides: Any) -> Runner:
    return Runner(settings(**overrides), plugins=dict(PLUGINS), entry_points=False).start()


def static_auth(scopes: list[str] | None = None) -> dict[str, Any]:
    return {"auth.tokens": [{"token": TOKEN, "subject": "ci", "scopes": scopes or []}]}


# ---------------------------------------------------------------------------------------------
# Off by default


def test_no_auth_configured_leaves_the_server_open() -> None:
    r = runner()
    assert r.authenticator is None
    names = {t["name"] for t in run(r.request("tools/list"))["result"]["tools"]}
    assert {"admin_reset", "read_secret", "locked_tool"} <= names
    assert run(r.call_tool("admin_reset"))["content"][0]["text"] == "reset done"


def test_without_auth_the_scope_middleware_is_left_out() -> None:
    names = [m.name for m in runner().host.middleware(runner())]
    assert "auth-scopes" not in names
    authed = runner(**static_auth())
    assert "auth-scopes" in [m.name for m in authed.host.middleware(authed)]


def test_the_core_imports_neither_the_builtin_verifiers_nor_joserfc() -> None:
    code = (
        "import sys, mcp_runner.auth\n"
        "from mcp_runner import Runner\n"
        "from mcp_runner.config import load_settings\n"
        "Runner(load_settings(env={}), entry_points=False).start()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('joserfc', 'mcp_runner.builtin.auth.'))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_in_process_without_credentials_scoped_items_are_hidden_and_refused() -> None:
    r = runner(**static_auth())
    assert r.authenticator is not None
    names = {t["name"] for t in run(r.request("tools/list"))["result"]["tools"]}
    assert "public_echo" in names and "admin_reset" not in names
    assert run(r.call_tool("public_echo", {"text": "hi"}))["content"][0]["text"] == "hi"
    with pytest.raises(McpError) as caught:
        run(r.call_tool("admin_reset"))
    assert caught.value.code == -32001 and "no credentials" in caught.value.message


# ---------------------------------------------------------------------------------------------
# Settings


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"tokens": [{"token": "short", "subject": "x"}]}, "at least 16"),
        (
            {"tokens": [{"token": "has spaces in the token value", "subject": "x"}]},
            "may contain only",
        ),
        (
            {"jwt": {"jwks_url": "https://a.example/jwks", "issuer": "i", "algorithms": ["none"]}},
            '"none" is never accepted',
        ),
        (
            {"jwt": {"jwks_url": "https://a.example/jwks", "issuer": "i", "algorithms": ["HS256"]}},
            "HS*",
        ),
        ({"jwt": {"jwks_url": "http://a.example/jwks", "issuer": "i"}}, "https://"),
        ({"jwt": {"issuer": "i"}}, "exactly one of"),
        (
            {"jwt": {"jwks_url": "https://a.example/jwks", "key": "x", "issuer": "i"}},
            "exactly one of",
        ),
        ({"jwt": {"jwks_url": "https://a.example/jwks"}}, "issuer"),
        (
            {
                "introspection": {
                    "endpoint": "http://as.example/i",
                    "client_id": "c",
                    "client_secret": "s",
                }
            },
            "https://",
        ),
        ({"resource": "/mcp"}, "absolute"),
        ({"tokenz": []}, "Extra inputs"),
    ],
)
def test_invalid_auth_settings(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AuthSettings.model_validate(table)
    assert message in str(caught.value)


def test_secrets_are_secret_str() -> None:
    config = AuthSettings.model_validate(
        {
            "tokens": [{"token": TOKEN, "subject": "ci"}],
            "introspection": {
                "endpoint": "https://as.example/i",
                "client_id": "c",
                "client_secret": "the-client-secret",
            },
        }
    )
    assert TOKEN not in repr(config) and "the-client-secret" not in repr(config)
    assert TOKEN not in str(config.model_dump())


def test_environment_variables_configure_auth() -> None:
    env = {
        "MCP_RUNNER_AUTH__TOKENS": json.dumps(
            [{"token": TOKEN, "subject": "env-user", "scopes": ["admin"]}]
        ),
        "MCP_RUNNER_AUTH__RESOURCE": "https://mcp.example.test/mcp/",
    }
    r = Runner(load_settings(env=env), plugins=dict(PLUGINS), entry_points=False).start()
    assert r.authenticator is not None
    assert r.authenticator.resource == "https://mcp.example.test/mcp"
    principal = run(r.authenticator.verify(TOKEN))
    assert principal == Principal("env-user", frozenset({"admin"}))


def test_a_broken_auth_table_refuses_everything_instead_of_serving_open(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = runner(**{"auth.tokens": [{"token": "too-short", "subject": "x"}]})
    assert "[auth]" in capsys.readouterr().err
    assert r.authenticator is not None  # closed, not open
    with pytest.raises(AuthUnavailable) as caught:
        run(
            r.authenticator.authenticate(
                {"host": "127.0.0.1:8000", "authorization": "Bearer too-short"}
            )
        )
    assert caught.value.http_status == 503
    assert "too-short" not in caught.value.message


def test_jwt_without_joserfc_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "joserfc" or m.startswith("joserfc.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "joserfc", None)  # import joserfc -> ImportError
    r = runner(**{"auth.jwt": {"jwks_url": "https://as.example/jwks.json", "issuer": ISSUER}})
    assert "pip install 'mcp-runner[jwt]'" in capsys.readouterr().err
    verifier = r.authenticator.verifiers[0]
    assert "pip install 'mcp-runner[jwt]'" in verifier.reason
    with pytest.raises(AuthUnavailable):
        run(
            r.authenticator.authenticate(
                {"host": "127.0.0.1:8000", "authorization": "Bearer a.b.c"}
            )
        )


# ---------------------------------------------------------------------------------------------
# The authenticator


def authenticator(**overrides: Any) -> Authenticator:
    r = runner(**{**static_auth(["secret:read"]), **overrides})
    assert r.authenticator is not None
    return r.authenticator  # type: ignore[no-any-return]


def test_the_token_is_removed_from_the_headers() -> None:
    auth = authenticator()
    headers = {"host": "127.0.0.1:8000", "authorization": f"Bearer {TOKEN}"}
    principal = run(auth.authenticate(headers))
    assert principal.subject == "ci" and principal.scopes == frozenset({"secret:read"})
    assert "authorization" not in headers
    assert TOKEN not in repr(principal)


@pytest.mark.parametrize(
    "query", [f"access_token={TOKEN}".encode(), f"x=1&access_token={TOKEN}", "access_token="]
)
def test_a_token_in_the_query_is_refused(query: bytes | str) -> None:
    auth = authenticator()
    for headers in (
        {"host": "127.0.0.1:8000"},
        {"host": "127.0.0.1:8000", "authorization": f"Bearer {TOKEN}"},
    ):
        with pytest.raises(AuthError) as caught:
            run(auth.authenticate(dict(headers), query=query))
        assert caught.value.http_status == 400
        assert 'error="invalid_request"' in caught.value.http_headers["WWW-Authenticate"]
        assert "query" in caught.value.message


def test_challenge_formatting() -> None:
    value = bearer_challenge(
        "https://h/.well-known/oauth-protected-resource/mcp",
        ["a", "b"],
        "invalid_token",
        'bad "x"\\y\n',
    )
    assert value == (
        'Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", '
        'scope="a b", '
        'error="invalid_token", error_description="bad ?x??y?"'
    )
    assert bearer_challenge(None) == "Bearer"


def test_scopes_supported_in_the_401_challenge() -> None:
    auth = authenticator(**{"auth.scopes_supported": ["files:read", "files:write"]})
    with pytest.raises(AuthError) as caught:
        run(auth.authenticate({"host": "127.0.0.1:8000"}))
    assert caught.value.http_headers["WWW-Authenticate"] == (
        "Bearer "
        'resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp", '
        'scope="files:read files:write"'
    )


class Counting:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    async def verify(self, token: str) -> Any:
        self.calls += 1
        return self.answer


def test_verified_tokens_are_cached_until_expiry_and_the_cache_is_bounded() -> None:
    lasting = Counting(Principal("u", frozenset(), {"exp": time.time() + 300}))
    auth = Authenticator([lasting], settings(**{"auth.token_cache_size": 2}))
    for _ in range(3):
        run(auth.verify("tok-1"))
    assert lasting.calls == 1
    run(auth.verify("tok-2"))
    run(auth.verify("tok-3"))
    run(auth.verify("tok-1"))  # evicted (bounded): verified again
    assert lasting.calls == 4 and len(auth._cache) == 2
    assert all("tok-" not in key for key in auth._cache)  # keyed by a hash

    expired = Counting(Principal("u", frozenset(), {"exp": time.time() - 1}))
    auth = Authenticator([expired], settings())
    run(auth.verify("tok"))
    run(auth.verify("tok"))
    assert expired.calls == 2  # never cached past its expiry


def test_verifiers_are_asked_in_order_and_a_broken_one_never_lets_a_token_in() -> None:
    class Broken:
        async def verify(self, token: str) -> Any:
            raise RuntimeError("bug")

    class Refusing:
        async def verify(self, token: str) -> Any:
            raise AuthError.invalid_token("revoked")

    second = Counting(Principal("second", frozenset({"x"})))
    auth = Authenticator([Counting(None), Broken(), second], settings())
    assert run(auth.verify("t")).subject == "second"
    auth = Authenticator([Broken(), Refusing(), Counting(None)], settings())
    with pytest.raises(AuthError) as caught:
        run(auth.verify("t"))
    assert caught.value.http_status == 401 and caught.value.description == "revoked"


def test_duck_typed_principals_from_plugins_are_normalised() -> None:
    class Mine:
        subject = "duck"
        scopes = ["a", "b"]

    auth = Authenticator([Counting(Mine())], settings())
    assert run(auth.verify("t")) == Principal("duck", frozenset({"a", "b"}))
    auth = Authenticator([Counting(object())], settings())
    with pytest.raises(AuthError):
        run(auth.verify("t"))


def test_canonical_uri() -> None:
    assert canonical_uri("HTTPS://MCP.Example.COM:443/mcp/") == "https://mcp.example.com/mcp"
    assert canonical_uri("http://127.0.0.1:80/mcp") == "http://127.0.0.1/mcp"
    assert canonical_uri("http://[::1]:8000/mcp#frag") == "http://[::1]:8000/mcp"
    assert canonical_uri("https://example.com/") == "https://example.com"


def test_host_name() -> None:
    assert host_name("example.com:8000") == "example.com"
    assert host_name("example.com") == "example.com"
    assert host_name("[::1]:8000") == "[::1]"
    assert host_name("::1") == "::1"


def test_metadata_names_the_jwt_issuer_unless_servers_are_configured(keys: Keys) -> None:
    key = keys.ec.as_pem(private=False).decode()
    auth = authenticator(**{"auth.jwt": {"key": key, "issuer": ISSUER}})
    document = auth.metadata({"host": "127.0.0.1:8000"})
    assert document["authorization_servers"] == [ISSUER]
    assert document["resource"] == "http://127.0.0.1:8000/mcp"
    assert document["bearer_methods_supported"] == ["header"]
    listed = authenticator(
        **{"auth.jwt": {"key": key, "issuer": ISSUER}, "auth.authorization_servers": ["https://as"]}
    )
    assert listed.metadata({})["authorization_servers"] == ["https://as"]


def test_an_unvalidated_table_gives_the_authenticator_its_own_keys() -> None:
    table = {"auth.resource": "https://mcp.example.test/mcp/", "auth.jwt": {"issuer": "elsewhere"}}
    auth = Authenticator([], settings(**table))
    assert auth.resource == "https://mcp.example.test/mcp"
    broken = Authenticator([], settings(**{"auth.resource": "/relative"}))
    assert broken.resource is None


def test_the_resource_comes_from_a_trusted_host_only() -> None:
    local = authenticator()
    assert local.resource_uri({"host": "127.0.0.1:9000"}) == "http://127.0.0.1:9000/mcp"
    assert local.resource_uri({"host": "evil.example"}) is None
    public = authenticator(**{"http.host": "0.0.0.0"})
    assert public.resource_uri({"host": "127.0.0.1:9000"}) is None  # any Host could be sent
    listed = authenticator(**{"http.host": "0.0.0.0", "http.allowed_hosts": ["mcp.example.test"]})
    assert listed.resource_uri({"host": "mcp.example.test"}) == "http://mcp.example.test/mcp"
    configured = authenticator(
        **{"http.host": "0.0.0.0", "auth.resource": "https://MCP.example.test/mcp"}
    )
    assert configured.resource_uri({"host": "evil.example"}) == "https://mcp.example.test/mcp"
    assert (
        configured.metadata_url({"host": "evil.example"})
        == "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"
    )
    assert configured.metadata({})["resource"] == "https://mcp.example.test/mcp"


# ---------------------------------------------------------------------------------------------
# JWT with a configured key (no JWKS)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def jwt_authenticator(keys: Keys, **jwt: Any) -> Authenticator:
    table = {"key": keys.ec.as_pem(private=False).decode(), "issuer": ISSUER, **jwt}
    return authenticator(
        **{
            "http.host": "0.0.0.0",
            "auth.jwt": table,
            "auth.resource": "https://mcp.example.test/mcp",
        }
    )


def test_jwt_with_a_configured_pem_key(keys: Keys) -> None:
    auth = jwt_authenticator(keys)
    token = keys.mint(claims("https://mcp.example.test/mcp", scope="a b"), keys.ec, kid=None)
    principal = run(auth.authenticate({"host": "anything", "authorization": f"Bearer {token}"}))
    assert principal.subject == "alice" and principal.scopes == frozenset({"a", "b"})
    assert principal.claims["iss"] == ISSUER
    other = keys.mint(claims("https://mcp.example.test/mcp"), keys.rsa)  # not the configured key
    with pytest.raises(AuthError) as caught:
        run(auth.authenticate({"host": "anything", "authorization": f"Bearer {other}"}))
    assert (
        "algorithm RS256 does not match" in caught.value.description
        or "bad signature" in caught.value.description
    )


def test_jwt_with_a_configured_audience_and_algorithms(keys: Keys) -> None:
    auth = jwt_authenticator(keys, audience="api://mcp", algorithms=["ES256"])
    good = keys.mint(claims("api://mcp"), keys.ec)
    assert run(auth.verify(good)).subject == "alice"
    wrong = keys.mint(claims("https://mcp.example.test/mcp", jti="w"), keys.ec)
    with pytest.raises(AuthError, match="audience"):
        run(auth.verify(wrong))


def test_jwt_without_a_resource_to_check_the_audience_is_refused(keys: Keys) -> None:
    auth = authenticator(
        **{
            "http.host": "0.0.0.0",
            "auth.jwt": {"key": keys.ec.as_pem(private=False).decode(), "issuer": ISSUER},
        }
    )
    token = keys.mint(claims("http://evil.example/mcp"), keys.ec)
    with pytest.raises(AuthError) as caught:
        run(auth.authenticate({"host": "evil.example", "authorization": f"Bearer {token}"}))
    assert "no resource URI" in caught.value.description


def test_jwt_leeway(keys: Keys) -> None:
    auth = jwt_authenticator(keys, leeway=60)
    just_expired = keys.mint(
        claims("https://mcp.example.test/mcp", exp=int(time.time()) - 10), keys.ec
    )
    assert run(auth.verify(just_expired)).subject == "alice"
    auth = jwt_authenticator(keys, leeway=0)
    with pytest.raises(AuthError, match="expired"):
        run(auth.verify(just_expired))


def test_jwt_verifier_ignores_tokens_that_are_not_jws(keys: Keys) -> None:
    verifier = JwtVerifier(JwtSettings(key=keys.ec.as_pem(private=False).decode(), issuer=ISSUER))
    assert run(verifier.verify("opaque-token")) is None
    assert run(verifier.verify("a.b.c.d.e")) is None  # JWE: not ours


# ---------------------------------------------------------------------------------------------
# Authorization rules


def test_required_scopes_combine_the_tool_and_its_plugin() -> None:
    r = runner(**{**static_auth(), "plugins.auth_demo.scopes": ["demo"]})
    auth = r.authenticator
    tools = r.registry.tools
    assert auth.required_scopes(tools["admin_reset"]) == frozenset({"admin", "demo"})
    assert auth.required_scopes(tools["public_echo"]) == frozenset({"demo"})
    assert auth.required_scopes(tools["locked_tool"]) == frozenset()
    resource = r.registry.resources["demo://open"]
    assert auth.required_scopes(resource) == frozenset({"demo"})


def test_an_expired_principal_sees_no_scoped_items() -> None:
    auth = authenticator()

    class Req:
        principal = Principal("u", frozenset({"admin"}), {"exp": time.time() - 3600})

    r = runner(**static_auth())
    tool = r.registry.tools["admin_reset"]
    assert not auth.visible(Req(), tool)
    Req.principal = Principal("u", frozenset({"admin"}), {"exp": time.time() + 3600})
    assert auth.visible(Req(), tool)


def test_static_verifier() -> None:
    verifier = StaticTokenVerifier(
        [(TOKEN, "ci", ["a"]), ("another-token-0123456789", "other", [])]
    )
    assert run(verifier.verify(TOKEN)) == Principal("ci", frozenset({"a"}))
    assert run(verifier.verify("another-token-0123456789")).subject == "other"
    assert run(verifier.verify(TOKEN + "x")) is None
    assert TOKEN not in repr(verifier)


def test_an_unreachable_jwks_is_503_not_401(keys: Keys) -> None:
    auth = authenticator(
        **{"auth.jwt": {"jwks_url": "http://127.0.0.1:9/jwks.json", "issuer": ISSUER, "timeout": 2}}
    )
    token = keys.mint(claims("http://127.0.0.1:8000/mcp"))
    with pytest.raises(AuthUnavailable) as caught:
        run(auth.authenticate({"host": "127.0.0.1:8000", "authorization": f"Bearer {token}"}))
    assert caught.value.http_status == 503 and caught.value.http_headers == {"Retry-After": "5"}
    # Static tokens still work while the JWKS is down.
    assert (
        run(
            auth.authenticate({"host": "127.0.0.1:8000", "authorization": f"Bearer {TOKEN}"})
        ).subject
        == "ci"
    )


def test_subscribe_and_completion_of_scoped_items_are_refused_in_process() -> None:
    r = runner(**static_auth(), **{"plugins.auth_locked.scopes": ["locked"]})
    subscribe = run(r.request("resources/subscribe", {"uri": "locked://data"}))
    assert subscribe["error"]["code"] == -32001
    complete = run(
        r.request(
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "locked_prompt"},
                "argument": {"name": "x", "value": ""},
            },
        )
    )
    assert complete["error"]["code"] == -32001
    open_read = run(r.request("resources/read", {"uri": "demo://open"}))
    assert open_read["result"]["contents"][0]["text"] == "open data"
