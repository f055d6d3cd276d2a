"""OAuth 2.1 for the client: `OAuth`, an ``httpx.Auth`` to give the HTTP transport.

::

    from mcp_runner.client import Client
    from mcp_runner.client.oauth import OAuth, FileTokenStore

    auth = OAuth(store=FileTokenStore("~/.config/my-app/tokens.json"))
    async with Client.http("https://mcp.example.com/mcp", auth=auth) as client:
        print(await client.list_tools())

Its modules: ``provider`` (`OAuth`: the flows, renewing and stepping up), ``challenge``
(``WWW-Authenticate``), ``discovery`` and ``metadata`` (RFC 9728, RFC 8414, OpenID Connect),
``registration`` (pre-registered, client ID metadata documents, RFC 7591), ``tokens`` (the
token endpoint), ``assertion`` (``private_key_jwt``), ``enterprise`` (the ID-JAG exchange), ``dpop``,
``pkce``, ``redirect`` (the user's part) and ``store`` (`TokenStore`).
"""

from __future__ import annotations

from .challenge import Challenge, parse_challenge
from .enterprise import IdJagExchange
from .errors import OAuthError
from .provider import OAuth
from .redirect import HeadlessRedirect, LoopbackRedirect, RedirectHandler
from .registration import ClientInfo
from .store import FileTokenStore, MemoryTokenStore, TokenStore
from .tokens import Tokens

__all__ = [
    "Challenge",
    "ClientInfo",
    "FileTokenStore",
    "HeadlessRedirect",
    "IdJagExchange",
    "LoopbackRedirect",
    "MemoryTokenStore",
    "OAuth",
    "OAuthError",
    "RedirectHandler",
    "TokenStore",
    "Tokens",
    "parse_challenge",
]
