"""`OAuth`: an ``httpx.Auth`` that gets, keeps, refreshes and steps up the access tokens of
MCP servers, following the MCP authorization spec (2025-11-25 and 2026-07-28)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from .challenge import Challenge, parse_challenge
from .discovery import Discovery, canonical_url, discover, same_issuer
from .dpop import DpopKey
from .errors import OAuthError
from .pkce import code_verifier, new_state, s256
from .redirect import LoopbackRedirect, RedirectHandler
from .registration import AUTH_METHODS, ClientInfo, auth_method_for, register
from .store import FileTokenStore, MemoryTokenStore, TokenStore
from .tokens import Tokens, request_tokens

Grant = Literal["authorization_code", "client_credentials", "jwt_bearer"]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# A JWT the client presents as its grant: the text, or a function of (audience, resource)
# giving a fresh one: audience is the authorization server's issuer, resource the MCP server's.
Assertion = str | Callable[[str, str], str | Awaitable[str]]
SETTINGS_KEYS = {
    "client_id",
    "client_secret",
    "client_issuer",
    "client_metadata_url",
    "token_endpoint_auth_method",
    "private_key",
    "signing_algorithm",
    "scopes",
    "token_file",
    "grant",
    "redirect_port",
    "assertion_file",
}


class OAuth(httpx.Auth):
    """OAuth 2.1 for the MCP servers an ``httpx.AsyncClient`` talks to.

    Give it to the HTTP transport (``Client.http(url, auth=OAuth())``). A request goes out
    with the server's access token when one is kept. On a 401 it discovers the authorization
    server from the challenge (RFC 9728, RFC 8414 / OpenID Connect), refreshes the token or
    gets a new one, and sends the request again; on a 403 ``insufficient_scope`` it asks for
    the challenged scopes on top of the ones it has, at most `max_step_ups` times a request.

    `grant` is ``"authorization_code"`` (PKCE S256, through `redirect`: a `LoopbackRedirect`
    by default), ``"client_credentials"`` (needs `client_id` and `client_secret`, or a PEM
    `private_key` for ``private_key_jwt`` signed with `signing_algorithm`) or ``"jwt_bearer"``
    (RFC 7523: `assertion`, a JWT such as a workload identity token, or a function of
    ``(audience, resource)`` returning a fresh one, such as `IdJagExchange`, is the grant). The
    client's identity at an authorization server is, in this order: `client_id` (with
    `client_secret`; only at `client_issuer` when that is given), the client ID metadata
    document at `client_metadata_url` when the server supports those, or a dynamic
    registration. `scopes` overrides the spec's choice (the challenge's, else the server's
    ``scopes_supported``, else none). Tokens and registrations live in `store` (memory by
    default; `FileTokenStore` keeps them across runs). With `dpop`, tokens are bound to a key
    of this process and every request carries a proof signed with it (RFC 9449).
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        *,
        grant: Grant = "authorization_code",
        client_id: str | None = None,
        client_secret: str | None = None,
        client_issuer: str | None = None,
        client_metadata_url: str | None = None,
        token_endpoint_auth_method: str | None = None,
        private_key: str | None = None,
        signing_algorithm: str = "ES256",
        client_name: str = "mcp-runner",
        scopes: list[str] | None = None,
        redirect: RedirectHandler | None = None,
        store: TokenStore | None = None,
        offline_access: bool = True,
        max_step_ups: int = 2,
        http_client: httpx.AsyncClient | None = None,
        assertion: Assertion | None = None,
        dpop: bool = False,
    ) -> None:
        if grant not in ("authorization_code", "client_credentials", "jwt_bearer"):
            raise ValueError(
                "grant is 'authorization_code', 'client_credentials' or 'jwt_bearer', "
                f"not {grant!r}"
            )
        if grant != "authorization_code" and not client_id:
            raise ValueError(f"the {grant} grant needs a client_id")
        if (grant == "jwt_bearer") != (assertion is not None):
            raise ValueError("an assertion goes with the jwt_bearer grant, and only with it")
        if token_endpoint_auth_method not in (None, *AUTH_METHODS):
            raise ValueError(
                f"unsupported token_endpoint_auth_method {token_endpoint_auth_method!r}"
            )
        self.grant: Grant = grant
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_issuer = client_issuer
        self.client_metadata_url = client_metadata_url
        self.token_endpoint_auth_method = token_endpoint_auth_method or (
            "private_key_jwt" if private_key else None
        )
        self.private_key = private_key
        self.assertion = assertion
        self.dpop = DpopKey() if dpop else None
        self.signing_algorithm = signing_algorithm
        self.client_name = client_name
        self.scopes = list(scopes) if scopes is not None else None
        self.redirect: RedirectHandler = redirect if redirect is not None else LoopbackRedirect()
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.offline_access = offline_access
        self.max_step_ups = max_step_ups
        self._http = http_client
        self._lock = asyncio.Lock()
        self._discovered: dict[str, Discovery] = {}
        self._kept: dict[str, Tokens | None] = {}  # the store's tokens, read once per server
        self._servers: dict[str, str] = {}  # request URL -> canonical server URL

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, redirect: RedirectHandler | None = None
    ) -> OAuth:
        """An `OAuth` from plain settings (a config table): ``client_id``,
        ``client_secret``, ``client_issuer``, ``client_metadata_url``,
        ``token_endpoint_auth_method``, ``private_key`` (PEM) and ``signing_algorithm``,
        ``scopes`` (a list or a space-separated string), ``token_file`` (a `FileTokenStore`;
        memory without it), ``assertion_file`` (the ``jwt_bearer`` grant's JWT, read afresh
        for each token request), ``grant`` (default: ``jwt_bearer`` with an assertion file,
        ``client_credentials`` with a secret or a private key, else ``authorization_code``)
        and ``redirect_port`` (the `LoopbackRedirect`'s)."""
        unknown = set(settings) - SETTINGS_KEYS
        if unknown:
            raise ValueError(f"unknown OAuth settings: {', '.join(sorted(unknown))}")
        scopes = settings.get("scopes")
        if isinstance(scopes, str):
            scopes = scopes.split()
        token_file = settings.get("token_file")
        assertion_file = settings.get("assertion_file")
        grant: Grant = settings.get("grant") or (
            "jwt_bearer"
            if assertion_file
            else "client_credentials"
            if settings.get("client_secret") or settings.get("private_key")
            else "authorization_code"
        )
        return cls(
            grant=grant,
            client_id=settings.get("client_id"),
            client_secret=settings.get("client_secret"),
            client_issuer=settings.get("client_issuer"),
            client_metadata_url=settings.get("client_metadata_url"),
            token_endpoint_auth_method=settings.get("token_endpoint_auth_method"),
            private_key=settings.get("private_key"),
            signing_algorithm=settings.get("signing_algorithm") or "ES256",
            scopes=scopes,
            store=FileTokenStore(token_file) if token_file else None,
            redirect=redirect or LoopbackRedirect(port=int(settings.get("redirect_port") or 0)),
            assertion=_file_reader(assertion_file) if assertion_file else None,
        )

    # -- the httpx flow -----------------------------------------------------------------------
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Not available: the flows are asynchronous."""
        raise RuntimeError("OAuth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with the kept token; on 401 renew it, on 403 ``insufficient_scope`` step up."""
        url = str(request.url)
        server = self._servers.get(url)
        if server is None:
            if len(self._servers) > 64:
                self._servers.clear()
            server = self._servers[url] = canonical_url(url)
        tokens = await self._fresh_tokens(server)
        self._bear(request, tokens)
        response = yield request
        renewed, step_ups, nonce_retried = False, 0, False
        while True:
            if (
                response.status_code == 401
                and not nonce_retried
                and self._nonce_asked(request, response)
            ):
                nonce_retried = True  # the same token, a proof with the server's nonce
            elif response.status_code == 401 and not renewed:
                renewed = True
                tokens = await self._renew(server, _challenge(response), tokens)
            elif response.status_code == 403 and step_ups < self.max_step_ups:
                stepped = await self._step_up(server, _challenge(response), tokens)
                if stepped is None:
                    return
                tokens, step_ups = stepped, step_ups + 1
            else:
                return
            self._bear(request, tokens)
            response = yield request

    # -- public helpers -----------------------------------------------------------------------
    async def authorize(self, server_url: str) -> Tokens:
        """Get a token for the MCP server at `server_url` now, before any request needs it."""
        server = canonical_url(server_url)
        async with self._lock, self._session() as http:
            found = await self._discover(http, server, Challenge())
            return await self._obtain(http, found, self._scope(found, Challenge(), None))

    async def tokens(self, server_url: str) -> Tokens | None:
        """The tokens kept for the MCP server at `server_url`."""
        return await self._load(canonical_url(server_url))

    async def forget(self, server_url: str) -> None:
        """Drop the tokens kept for the MCP server at `server_url`."""
        server = canonical_url(server_url)
        self._kept.pop(server, None)
        await self.store.set(_tokens_key(server), None)

    # -- renewing -------------------------------------------------------------------------------
    async def _fresh_tokens(self, server: str) -> Tokens | None:
        tokens = await self._load(server)
        found = self._discovered.get(server)
        if tokens is None or not tokens.expired() or found is None:
            return tokens  # an expired token with nothing discovered yet: its 401 says where
        async with self._lock:
            current = await self._load(server)
            if current is not None and current.access_token != tokens.access_token:
                return current
            async with self._session() as http:
                if tokens.refresh_token:
                    with contextlib.suppress(OAuthError):
                        return await self._refresh(http, found, tokens)
                elif self.grant != "authorization_code":  # ask again, as the first time
                    return await self._obtain(http, found, tokens.requested_scope)
        return tokens

    async def _renew(self, server: str, challenge: Challenge, used: Tokens | None) -> Tokens:
        async with self._lock:
            current = await self._load(server)
            if current is not None and (used is None or current.access_token != used.access_token):
                return current  # renewed by another request meanwhile
            async with self._session() as http:
                found = await self._discover(http, server, challenge)
                if current is not None and current.issuer != found.issuer_key:
                    current = None  # the authorization server changed: nothing of it carries over
                if current is not None and current.refresh_token:
                    with contextlib.suppress(OAuthError):
                        return await self._refresh(http, found, current)
                scope = self._scope(found, challenge, None)
                return await self._obtain(http, found, scope)

    async def _step_up(
        self, server: str, challenge: Challenge, used: Tokens | None
    ) -> Tokens | None:
        if challenge.error != "insufficient_scope" or not challenge.scopes:
            return None
        async with self._lock:
            current = await self._load(server)
            if (
                current is not None
                and used is not None
                and current.access_token != used.access_token
            ):
                return current
            if used is not None and set(challenge.scopes) <= used.scopes():
                return None  # asked for before and not granted: asking again would loop
            async with self._session() as http:
                found = self._discovered.get(server) or await self._discover(
                    http, server, challenge
                )
                return await self._obtain(http, found, self._scope(found, challenge, used))

    # -- the grants -----------------------------------------------------------------------------
    async def _obtain(self, http: httpx.AsyncClient, found: Discovery, scope: str | None) -> Tokens:
        client = await self._client(http, found, scope)
        if self.grant == "authorization_code":
            form = await self._authorization_code(found, client, scope)
        else:
            form = {"grant_type": "client_credentials", "resource": found.resource}
            if self.grant == "jwt_bearer":
                form["grant_type"] = JWT_BEARER
                form["assertion"] = await self._assertion(found)
            if scope:
                form["scope"] = scope
        tokens = await request_tokens(
            http,
            found.server.token_endpoint,
            client,
            form,
            issuer=found.issuer_key,
            requested_scope=scope,
            dpop=self.dpop,
        )
        await self._keep(found.server_url, tokens)
        return tokens

    async def _assertion(self, found: Discovery) -> str:
        assertion: object = self.assertion
        if callable(assertion):
            assertion = assertion(found.issuer_key, found.resource)
        if inspect.isawaitable(assertion):
            assertion = await assertion
        if not isinstance(assertion, str) or not assertion:
            raise OAuthError("the jwt_bearer grant's assertion is empty")
        return assertion

    async def _refresh(self, http: httpx.AsyncClient, found: Discovery, tokens: Tokens) -> Tokens:
        assert tokens.refresh_token is not None
        client = await self._client(http, found, tokens.requested_scope)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "resource": found.resource,
        }
        renewed = await request_tokens(
            http,
            found.server.token_endpoint,
            client,
            form,
            issuer=found.issuer_key,
            requested_scope=tokens.requested_scope,
            previous=tokens,
            dpop=self.dpop,
        )
        await self._keep(found.server_url, renewed)
        return renewed

    async def _authorization_code(
        self, found: Discovery, client: ClientInfo, scope: str | None
    ) -> dict[str, str]:
        server = found.server
        if server.published and "S256" not in (server.code_challenge_methods_supported or []):
            raise OAuthError(
                f"{server.issuer} does not say it supports PKCE with S256: authorization refused"
            )
        verifier, state = code_verifier(), new_state()
        redirect_uri = await self.redirect.redirect_uri()
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "state": state,
            "resource": found.resource,
        }
        if scope:
            params["scope"] = scope
        endpoint = server.authorization_endpoint
        answer = await self.redirect.authorize(
            endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
        )
        if answer.get("state") != state:
            raise OAuthError("the authorization response's state is not the request's: refused")
        _check_iss(server.issuer, server.iss_parameter_supported, answer.get("iss"))
        if "error" in answer:
            detail = answer.get("error_description")
            raise OAuthError(
                f"authorization refused: {answer['error']}" + (f" ({detail})" if detail else ""),
                answer["error"],
            )
        code = answer.get("code")
        if not code:
            raise OAuthError("the authorization response carries no code")
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "resource": found.resource,
        }

    # -- who we are, what we ask for ------------------------------------------------------------
    async def _client(
        self, http: httpx.AsyncClient, found: Discovery, scope: str | None
    ) -> ClientInfo:
        server = found.server
        if self.client_id and (
            self.client_issuer is None or same_issuer(server.issuer, self.client_issuer)
        ):
            method = auth_method_for(server, self.client_secret, self.token_endpoint_auth_method)
            return ClientInfo(
                self.client_id,
                self.client_secret,
                method,
                private_key=self.private_key,
                signing_algorithm=self.signing_algorithm,
            )
        code_flow = self.grant == "authorization_code"
        if code_flow and self.client_metadata_url and server.client_id_metadata_document_supported:
            return ClientInfo(self.client_metadata_url, None, "none")
        redirect_uri = await self.redirect.redirect_uri() if code_flow else None
        key = f"client {found.issuer_key}"
        stored = await self.store.get(key)
        if stored is not None:
            info = ClientInfo.from_dict(stored)
            if redirect_uri is None or redirect_uri in info.redirect_uris:
                return info
        grant_types = (
            (
                ["authorization_code", "refresh_token"]
                if self.offline_access
                else ["authorization_code"]
            )
            if code_flow
            else ["client_credentials"]
        )
        info = await register(
            http,
            server,
            client_name=self.client_name,
            redirect_uri=redirect_uri,
            grant_types=grant_types,
            scope=scope,
        )
        await self.store.set(key, info.to_dict())
        return info

    def _scope(self, found: Discovery, challenge: Challenge, previous: Tokens | None) -> str | None:
        """The scopes to ask for: the configured ones, else the challenge's, else the
        resource's ``scopes_supported``; on a step-up, joined with those asked for before.
        ``offline_access`` is added when refresh tokens are wanted and the authorization
        server lists it, and never asked for when it does not."""
        if self.scopes is not None:
            chosen = list(self.scopes)
        elif challenge.scopes:
            chosen = challenge.scopes
        elif found.resource_metadata and found.resource_metadata.scopes_supported:
            chosen = list(found.resource_metadata.scopes_supported)
        else:
            chosen = []
        if previous is not None:
            chosen = (previous.requested_scope or "").split() + chosen + challenge.scopes
        supported = found.server.scopes_supported
        if found.server.published:
            offered = supported is not None and "offline_access" in supported
            if not offered:
                chosen = [s for s in chosen if s != "offline_access"]
            elif chosen and self.offline_access and self.grant == "authorization_code":
                chosen.append("offline_access")
        return " ".join(dict.fromkeys(chosen)) or None

    # -- plumbing -------------------------------------------------------------------------------
    def _bear(self, request: httpx.Request, tokens: Tokens | None) -> None:
        """Put the token on the request: ``Bearer``, or ``DPoP`` with a fresh proof."""
        if tokens is None:
            return
        if tokens.token_type == "DPoP" and self.dpop is not None:
            request.headers["Authorization"] = f"DPoP {tokens.access_token}"
            request.headers["DPoP"] = self.dpop.proof(
                request.method, str(request.url), tokens.access_token
            )
        else:
            request.headers["Authorization"] = f"Bearer {tokens.access_token}"

    def _nonce_asked(self, request: httpx.Request, response: httpx.Response) -> bool:
        """A 401 ``use_dpop_nonce`` with a new nonce (RFC 9449 section 9): kept, and worth a
        retry."""
        return (
            self.dpop is not None
            and _challenge(response).error == "use_dpop_nonce"
            and self.dpop.take_nonce(str(request.url), response.headers.get("dpop-nonce"))
        )

    async def _discover(
        self, http: httpx.AsyncClient, server: str, challenge: Challenge
    ) -> Discovery:
        found = await discover(http, server, challenge)
        self._discovered[server] = found
        return found

    async def _load(self, server: str) -> Tokens | None:
        if server in self._kept:
            return self._kept[server]
        record = await self.store.get(_tokens_key(server))
        tokens = self._kept[server] = Tokens.from_dict(record) if record is not None else None
        return tokens

    async def _keep(self, server: str, tokens: Tokens) -> None:
        self._kept[server] = tokens
        await self.store.set(_tokens_key(server), tokens.to_dict())

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
        else:
            async with httpx.AsyncClient(timeout=30.0) as http:
                yield http


def _file_reader(path: str | os.PathLike[str]) -> Callable[[str, str], str]:
    """An assertion function returning the file's text, stripped, read at each call (a
    rotated token), whatever the audience."""
    file = Path(path).expanduser()
    return lambda audience, resource: file.read_text("utf-8").strip()


def _tokens_key(server: str) -> str:
    return f"tokens {server}"


def _challenge(response: httpx.Response) -> Challenge:
    return parse_challenge(response.headers.get("www-authenticate"))


def _check_iss(issuer: str | None, advertised: bool, iss: str | None) -> None:
    """RFC 9207: a present ``iss`` must be the recorded issuer, compared as plain strings; an
    absent one is refused when the server said it sends it."""
    if iss is None:
        if advertised:
            raise OAuthError(
                "the authorization server sends iss, but this response has none: refused"
            )
        return
    if issuer is not None and iss != issuer:
        raise OAuthError(f"the authorization response comes from {iss!r}, not {issuer!r}: refused")
