"""Client OAuth (`mcp_runner.client.oauth`) against a small real authorization server
(starlette on 127.0.0.1) and a real mcp-runner server whose token verifier asks that
authorization server: the authorization code flow with PKCE, registration, scope step-up,
refresh, client credentials, the file token store, the loopback redirect and the checks that
refuse to authorize."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import os
import secrets
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "auth"))

import auth_demo
from mcp_runner import Runner, hookimpl
from mcp_runner.auth import WELL_KNOWN_PATH, AuthError, Principal
from mcp_runner.client import Client, McpClientError
from mcp_runner.client.oauth import (
    FileTokenStore,
    HeadlessRedirect,
    IdJagExchange,
    LoopbackRedirect,
    MemoryTokenStore,
    OAuth,
    OAuthError,
)
from mcp_runner.config import load_settings
from mcp_runner.transports.http import McpHttpApp

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

REDIRECT = "http://127.0.0.1:9/callback"  # never visited: HeadlessRedirect stops at it


# -- the authorization server ---------------------------------------------------------------------
@dataclass
class Issued:
    scopes: list[str]
    expires_at: float
    client_id: str


@dataclass
class AuthorizationServer:
    """An OAuth 2.1 authorization server that approves every request at once, and records
    what it was sent."""

    base: str = ""
    token_lifetime: int = 3600
    auth_methods: list[str] = field(default_factory=lambda: ["none", "client_secret_basic"])
    scopes_supported: list[str] | None = None
    send_iss: bool = True  # advertised, and sent
    omit_iss: bool = False  # advertised, yet left out
    declined: set[str] = field(default_factory=set)  # scopes the user does not grant
    public_keys: dict[str, Any] = field(default_factory=dict)  # private_key_jwt clients
    workload_jwts: set[str] = field(default_factory=set)  # assertions the jwt-bearer grant takes
    dpop_nonce: str | None = None  # set: DPoP proofs at the token endpoint need this nonce
    clients: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    refresh_tokens: dict[str, Issued] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def calls(self, endpoint: str) -> list[dict[str, str]]:
        return [params for name, params in self.log if name == endpoint]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self.metadata),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/register", self.register, methods=["POST"]),
                Route("/idp/token", self.exchange, methods=["POST"]),
            ]
        )

    async def metadata(self, request: Request) -> Response:
        document: dict[str, Any] = {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "registration_endpoint": f"{self.base}/register",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": self.auth_methods,
            "authorization_response_iss_parameter_supported": self.send_iss,
        }
        if self.scopes_supported is not None:
            document["scopes_supported"] = self.scopes_supported
        return JSONResponse(document)

    async def register(self, request: Request) -> Response:
        body = await request.json()
        self.log.append(("register", body))
        method = body.get("token_endpoint_auth_method", "client_secret_basic")
        client_id = f"client-{len(self.clients)}"
        secret = None if method == "none" else secrets.token_hex(8)
        self.clients[client_id] = (secret, method)
        answer = {"client_id": client_id, "token_endpoint_auth_method": method, **body}
        if secret:
            answer["client_secret"] = secret
        return JSONResponse(answer, status_code=201)

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.log.append(("authorize", params))
        code = secrets.token_hex(8)
        granted = [s for s in params.get("scope", "").split() if s not in self.declined]
        self.codes[code] = {**params, "scope": " ".join(granted)}
        back = {"code": code, "state": params["state"]}
        if self.send_iss and not self.omit_iss:
            back["iss"] = self.base
        return RedirectResponse(f"{params['redirect_uri']}?{urlencode(back)}", status_code=302)

    async def exchange(self, request: Request) -> Response:
        """An identity provider's RFC 8693 token exchange: an ID token for an ID-JAG."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.log.append(("exchange", form))
        if form.get("subject_token") != "user-id-token":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        jag = f"jag.{secrets.token_hex(4)}.sig"
        self.workload_jwts.add(jag)
        return JSONResponse(
            {
                "access_token": jag,
                "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                "token_type": "N_A",
            }
        )

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if "client_assertion" in form:  # private_key_jwt (RFC 7523)
            from joserfc import jwt

            claims = jwt.decode(form["client_assertion"], self.public_keys[form["client_id"]])
            good = (
                form["client_assertion_type"]
                == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                and claims.claims["iss"] == claims.claims["sub"] == form["client_id"]
                and claims.claims["aud"] == self.base
                and claims.claims["exp"] > time.time()
            )
            return form["client_id"] if good else None
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode()
            client_id, _, secret = (unquote(p) for p in pair.partition(":"))
            method = "client_secret_basic"
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
            method = "client_secret_post" if secret else "none"
        known = self.clients.get(client_id)
        if known is None or known[0] != secret or method not in self.auth_methods:
            return None
        return client_id

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.log.append(("token", form))
        client_id = self._client(request, form)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        proof = request.headers.get("dpop")
        if proof is not None and self.dpop_nonce is not None:
            claims = dpop_claims(proof, "POST", f"{self.base}/token")
            if claims.get("nonce") != self.dpop_nonce:
                return JSONResponse(
                    {"error": "use_dpop_nonce"},
                    status_code=400,
                    headers={"DPoP-Nonce": self.dpop_nonce},
                )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            asked = self.codes.pop(form.get("code", ""), None)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            ).rstrip(b"=")
            if (
                asked is None
                or asked["code_challenge"].encode() != challenge
                or asked["redirect_uri"] != form.get("redirect_uri")
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            scopes = asked.get("scope", "").split()
        elif grant == "refresh_token":
            old = self.refresh_tokens.get(form.get("refresh_token", ""))
            if old is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            scopes = old.scopes
        elif grant == "client_credentials":
            scopes = form.get("scope", "").split()
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if form.get("assertion") not in self.workload_jwts:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            scopes = form.get("scope", "").split()
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        issued = Issued(scopes, time.time() + self.token_lifetime, client_id)
        access, refresh = secrets.token_hex(12), secrets.token_hex(12)
        self.tokens[access] = issued
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "DPoP" if proof is not None and self.dpop_nonce else "Bearer",
            "expires_in": self.token_lifetime,
            "scope": " ".join(scopes),
        }
        if grant == "authorization_code" or grant == "refresh_token":
            self.refresh_tokens[refresh] = issued
            answer["refresh_token"] = refresh
        return JSONResponse(answer)


def dpop_claims(proof: str, method: str, url: str) -> dict[str, Any]:
    """A DPoP proof's claims, checked against its own key, the method and the URL."""
    from joserfc import jwt
    from joserfc.jwk import ECKey

    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    assert header["typ"] == "dpop+jwt" and "d" not in header["jwk"]
    claims = jwt.decode(proof, ECKey.import_key(header["jwk"])).claims
    assert claims["htm"] == method and claims["htu"] == url and claims["jti"]
    return {**claims, "jkt": ECKey.import_key(header["jwk"]).thumbprint()}


class AskTheServer:
    """The MCP server's verifier: a token is good while the authorization server's record
    of it has not expired."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server

    async def verify(self, token: str) -> Principal | None:
        issued = self.server.tokens.get(token)
        if issued is None:
            return None
        if issued.expires_at <= time.time():
            raise AuthError.invalid_token("the token has expired")
        return Principal(issued.client_id, frozenset(issued.scopes), {})

    @hookimpl
    def mcp_runner_token_verifiers(self, settings: Any) -> list[Any]:
        return [self]


# -- serving ----------------------------------------------------------------------------------
def serve(app: Any, lifespan: Callable[[], Any] | None = None) -> tuple[str, Callable[[], None]]:
    """Serve an ASGI app with uvicorn on a thread; its base URL and a stop function."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    holder: dict[str, Any] = {}

    async def main() -> None:
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        holder["server"] = server
        async with lifespan() if lifespan else contextlib.nullcontext():
            await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while "server" not in holder or not holder["server"].started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)

    def stop() -> None:
        holder["server"].should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


@dataclass
class Setup:
    url: str  # the MCP endpoint
    server: AuthorizationServer


@pytest.fixture
def make_setup() -> Iterator[Callable[..., Setup]]:
    stops: list[Callable[[], None]] = []

    def make(resource: str | None = None, **options: Any) -> Setup:
        server = AuthorizationServer(**options)
        base, stop = serve(server.app())
        stops.append(stop)
        server.base = base
        env = {
            "MCP_RUNNER_AUTH__AUTHORIZATION_SERVERS": json.dumps([base]),
            "MCP_RUNNER_AUTH__SCOPES_SUPPORTED": json.dumps(["secret:read"]),
            "MCP_RUNNER_AUTH__TOKEN_CACHE_SIZE": "0",
        }
        if resource is not None:
            env["MCP_RUNNER_AUTH__RESOURCE"] = resource
        runner = Runner(
            load_settings(env=env),
            plugins={"ask": AskTheServer(server), "auth_demo": auth_demo.plugin},
            entry_points=False,
        ).start()
        endpoint = McpHttpApp(runner)

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["path"].startswith(WELL_KNOWN_PATH):
                await endpoint.metadata(scope, receive, send)
            else:
                await endpoint(scope, receive, send)

        mcp_base, stop_mcp = serve(app, runner.lifespan)
        stops.append(stop_mcp)
        return Setup(f"{mcp_base}/mcp", server)

    yield make
    for stop in reversed(stops):
        stop()


def headless(**options: Any) -> OAuth:
    options.setdefault("redirect", HeadlessRedirect(REDIRECT))
    return OAuth(**options)


# -- the flows --------------------------------------------------------------------------------
async def test_authorization_code_flow_registers_and_authorizes(make_setup: Any) -> None:
    setup = make_setup()
    auth = headless()
    async with Client.http(setup.url, auth=auth, era="legacy") as client:
        who = await client.call_tool("whoami", {})
        assert who.structured_content["scopes"] == ["secret:read"]
        assert await client.call_tool("read_secret", {}) is not None

    (registration,) = setup.server.calls("register")
    assert registration["redirect_uris"] == [REDIRECT]
    assert registration["application_type"] == "native"
    assert registration["token_endpoint_auth_method"] == "none"
    assert "refresh_token" in registration["grant_types"]
    (asked,) = setup.server.calls("authorize")
    assert asked["code_challenge_method"] == "S256"
    assert asked["scope"] == "secret:read"  # the 401 challenge's scope
    assert asked["resource"] == setup.url  # RFC 8707, as the resource metadata publishes it
    (token,) = setup.server.calls("token")
    assert token["resource"] == setup.url and token["grant_type"] == "authorization_code"
    kept = await auth.tokens(setup.url)
    assert kept is not None and kept.issuer == setup.server.base


async def test_insufficient_scope_steps_up_with_the_union_of_scopes(make_setup: Any) -> None:
    setup = make_setup()
    async with Client.http(setup.url, auth=headless(), era="legacy") as client:
        await client.call_tool("whoami", {})
        result = await client.call_tool("admin_reset", {})
        assert result.content[0]["text"] == "reset done"
    first, second = setup.server.calls("authorize")
    assert first["scope"] == "secret:read"
    assert set(second["scope"].split()) == {"secret:read", "admin"}


async def test_a_scope_never_granted_is_not_asked_for_again_and_again(make_setup: Any) -> None:
    setup = make_setup()
    setup.server.declined = {"admin"}
    auth = headless(max_step_ups=5)
    async with Client.http(setup.url, auth=auth, era="legacy") as client:
        await client.call_tool("whoami", {})
        for _ in range(3):
            with pytest.raises(McpClientError, match="needs scope"):
                await client.call_tool("admin_reset", {})
    # one authorization, one step-up that was declined, and no more
    assert [a["scope"] for a in setup.server.calls("authorize")] == [
        "secret:read",
        "secret:read admin",
    ]


async def test_an_expired_token_is_refreshed_not_reauthorized(make_setup: Any) -> None:
    setup = make_setup(token_lifetime=1)
    async with Client.http(setup.url, auth=headless(), era="modern") as client:
        await client.call_tool("whoami", {})
        await asyncio.sleep(1.2)
        who = await client.call_tool("whoami", {})
        assert who.structured_content["subject"].startswith("client-")
    grants = [t["grant_type"] for t in setup.server.calls("token")]
    assert grants[0] == "authorization_code" and "refresh_token" in grants
    assert len(setup.server.calls("authorize")) == 1


async def test_client_credentials_with_client_secret_post(make_setup: Any) -> None:
    setup = make_setup(auth_methods=["client_secret_post"])
    setup.server.clients["service"] = ("s3cret", "client_secret_post")
    auth = OAuth(grant="client_credentials", client_id="service", client_secret="s3cret")
    async with Client.http(setup.url, auth=auth, era="modern") as client:
        who = await client.call_tool("whoami", {})
        assert who.structured_content["subject"] == "service"
    (token,) = setup.server.calls("token")
    assert token["grant_type"] == "client_credentials"
    assert token["client_secret"] == "s3cret" and token["scope"] == "secret:read"
    assert not setup.server.calls("authorize") and not setup.server.calls("register")


async def test_client_credentials_with_private_key_jwt(make_setup: Any) -> None:
    pytest.importorskip("joserfc")
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    setup = make_setup(auth_methods=["private_key_jwt"])
    setup.server.public_keys["signer"] = ECKey.import_key(key.as_dict(private=False))
    auth = OAuth(
        grant="client_credentials",
        client_id="signer",
        private_key=key.as_pem(private=True).decode(),
        signing_algorithm="ES256",
    )
    async with Client.http(setup.url, auth=auth, era="modern") as client:
        who = await client.call_tool("whoami", {})
        assert who.structured_content["subject"] == "signer"
    (token,) = setup.server.calls("token")
    assert "client_secret" not in token and token["client_assertion"].count(".") == 2


async def test_jwt_bearer_grant_presents_a_fresh_workload_token(make_setup: Any) -> None:
    setup = make_setup()
    setup.server.clients["workload"] = (None, "none")
    setup.server.workload_jwts = {"header.workload.sig"}
    asked: list[int] = []

    async def workload_token(audience: str, resource: str) -> str:  # e.g. from the platform
        assert (audience, resource) == (setup.server.base, setup.url)
        asked.append(1)
        return "header.workload.sig"

    auth = OAuth(grant="jwt_bearer", client_id="workload", assertion=workload_token)
    async with Client.http(setup.url, auth=auth, era="modern") as client:
        who = await client.call_tool("whoami", {})
        assert who.structured_content["subject"] == "workload"
    (token,) = setup.server.calls("token")
    assert token["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert token["client_id"] == "workload" and asked == [1]

    refused = OAuth(grant="jwt_bearer", client_id="workload", assertion="someone.else.sig")
    with pytest.raises(OAuthError, match="invalid_grant"):
        async with Client.http(setup.url, auth=refused, era="modern", connect_timeout=10):
            pass
    assert len(setup.server.calls("token")) == 2  # refused once, and not tried again


async def test_enterprise_managed_authorization_exchanges_the_id_token(make_setup: Any) -> None:
    setup = make_setup(auth_methods=["client_secret_basic"])
    setup.server.clients["app"] = ("app-secret", "client_secret_basic")
    exchange = IdJagExchange(
        f"{setup.server.base}/idp/token", lambda: "user-id-token", client_id="app-at-idp"
    )
    auth = OAuth(
        grant="jwt_bearer", client_id="app", client_secret="app-secret", assertion=exchange
    )
    async with Client.http(setup.url, auth=auth, era="legacy") as client:
        who = await client.call_tool("whoami", {})
        assert who.structured_content["subject"] == "app"
    (asked,) = setup.server.calls("exchange")
    assert asked["audience"] == setup.server.base and asked["resource"] == setup.url
    assert asked["requested_token_type"] == "urn:ietf:params:oauth:token-type:id-jag"
    assert asked["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    (token,) = setup.server.calls("token")
    assert token["assertion"].startswith("jag.")


async def test_dpop_binds_the_token_and_follows_both_servers_nonces(make_setup: Any) -> None:
    pytest.importorskip("joserfc")
    setup = make_setup(dpop_nonce="as-nonce")
    seen: list[dict[str, Any]] = []

    async def api(request: Request) -> Response:
        """A resource server that takes DPoP-bound tokens, and wants its nonce."""
        url = f"{api_base}/mcp"
        challenge = f'DPoP resource_metadata="{api_base}/.well-known/oauth-protected-resource/mcp"'
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "DPoP" or token not in setup.server.tokens:
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        claims = dpop_claims(request.headers["dpop"], "POST", url)
        digest = hashlib.sha256(token.encode()).digest()
        assert claims["ath"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        seen.append(claims)
        if claims.get("nonce") != "rs-nonce":
            return Response(
                status_code=401,
                headers={
                    "WWW-Authenticate": challenge + ', error="use_dpop_nonce"',
                    "DPoP-Nonce": "rs-nonce",
                },
            )
        return JSONResponse({"ok": True})

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            {"resource": f"{api_base}/mcp", "authorization_servers": [setup.server.base]}
        )

    app = Starlette(
        routes=[
            Route("/mcp", api, methods=["POST"]),
            Route("/.well-known/oauth-protected-resource/mcp", metadata),
        ]
    )
    api_base, stop = serve(app)
    try:
        auth = headless(dpop=True)
        async with httpx.AsyncClient(auth=auth) as http:
            first = await http.post(f"{api_base}/mcp", content=b"{}")
            second = await http.post(f"{api_base}/mcp", content=b"{}")
    finally:
        stop()
    assert first.status_code == second.status_code == 200
    token_posts = setup.server.calls("token")
    assert len(token_posts) == 2  # the first proof had no nonce: asked, and sent again
    assert [c.get("nonce") for c in seen] == [None, "rs-nonce", "rs-nonce"]
    assert len({c["jti"] for c in seen}) == 3  # a fresh proof each time
    assert len({c["jkt"] for c in seen}) == 1  # one key
    kept = await auth.tokens(f"{api_base}/mcp")
    assert kept is not None and kept.token_type == "DPoP"


async def test_pre_registered_client_uses_basic_authentication(make_setup: Any) -> None:
    setup = make_setup(auth_methods=["client_secret_basic"])
    setup.server.clients["pre:registered"] = ("p@ss word", "client_secret_basic")
    auth = headless(client_id="pre:registered", client_secret="p@ss word")
    async with Client.http(setup.url, auth=auth, era="legacy") as client:
        await client.call_tool("whoami", {})
    assert not setup.server.calls("register")
    (token,) = setup.server.calls("token")
    assert "client_secret" not in token and "client_id" not in token  # in the Basic header


async def test_file_store_keeps_tokens_across_runs_readable_by_owner_only(
    make_setup: Any, tmp_path: Path
) -> None:
    setup = make_setup()
    path = tmp_path / "oauth" / "tokens.json"
    async with Client.http(setup.url, auth=headless(store=FileTokenStore(path))) as client:
        await client.call_tool("whoami", {})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {
        f"tokens {setup.url}",
        f"client {setup.server.base}",
    }
    async with Client.http(setup.url, auth=headless(store=FileTokenStore(path))) as client:
        await client.call_tool("whoami", {})
    assert len(setup.server.calls("authorize")) == 1  # the second run used the kept token


async def test_a_resource_metadata_for_another_server_is_refused(make_setup: Any) -> None:
    setup = make_setup(resource="http://127.0.0.1:1/elsewhere")
    with pytest.raises(OAuthError, match="not http"):
        await headless().authorize(setup.url)
    assert not setup.server.calls("authorize")


async def test_a_missing_iss_is_refused_when_the_server_advertises_it(make_setup: Any) -> None:
    setup = make_setup(omit_iss=True)
    with pytest.raises(OAuthError, match="iss"):
        await headless().authorize(setup.url)
    assert not setup.server.calls("token")


async def test_loopback_redirect_takes_the_browser_back() -> None:
    out = io.StringIO()
    redirect = LoopbackRedirect(out=out, timeout=10)
    uri = await redirect.redirect_uri()
    assert uri.startswith("http://127.0.0.1:") and uri.endswith("/callback")

    async def browser() -> int:
        async with httpx.AsyncClient() as http:
            wrong = await http.get(uri.replace("/callback", "/other"))
            assert wrong.status_code == 404
            right = await http.get(f"{uri}?code=abc&state=xyz")
            return right.status_code

    visit = asyncio.ensure_future(asyncio.sleep(0.05))
    answer_task = asyncio.ensure_future(redirect.authorize("https://as.example/authorize?x=1"))
    await visit
    status = await browser()
    assert await answer_task == {"code": "abc", "state": "xyz"}
    assert status == 200
    assert "https://as.example/authorize?x=1" in out.getvalue()
    with pytest.raises(httpx.ConnectError):  # it stopped listening
        async with httpx.AsyncClient() as http:
            await http.get(uri)


async def test_from_settings_builds_the_proxy_shape(tmp_path: Path) -> None:
    auth = OAuth.from_settings(
        {"client_id": "a", "client_secret": "b", "scopes": "x y", "token_file": tmp_path / "t"}
    )
    assert auth.grant == "client_credentials" and auth.scopes == ["x", "y"]
    assert isinstance(auth.store, FileTokenStore)
    assert OAuth.from_settings({}).grant == "authorization_code"
    assert isinstance(OAuth.from_settings({}).store, MemoryTokenStore)
    (tmp_path / "workload.jwt").write_text("a.b.c\n")
    workload = OAuth.from_settings({"client_id": "w", "assertion_file": tmp_path / "workload.jwt"})
    assert workload.grant == "jwt_bearer" and callable(workload.assertion)
    assert workload.assertion("https://as", "https://mcp") == "a.b.c"
    with pytest.raises(ValueError, match="unknown OAuth settings: secret"):
        OAuth.from_settings({"secret": "x"})


async def test_requests_refused_together_share_one_authorization(make_setup: Any) -> None:
    setup = make_setup()
    auth = headless()
    async with Client.http(setup.url, auth=auth, era="modern") as client:
        await client.call_tool("whoami", {})
        await auth.forget(setup.url)  # the next requests go without a token: 401 each
        results = await asyncio.gather(*(client.call_tool("whoami", {}) for _ in range(5)))
    assert all(r.structured_content["subject"] for r in results)
    assert len(setup.server.calls("authorize")) == 2


async def test_a_refusal_fails_the_connection_with_its_reason(make_setup: Any) -> None:
    setup = make_setup(resource="http://127.0.0.1:1/elsewhere")
    with pytest.raises(OAuthError, match="no authorization is sought"):
        async with Client.http(setup.url, auth=headless(), connect_timeout=10):
            pass
