"""The verified token on the `Principal`: set by the authenticator, handed over by
`token_for` only for a resource its audience names, and kept out of reprs and logs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from mcp_runner.auth import Authenticator, Principal
from mcp_runner.config import load_settings
from mcp_runner.log import redact_secrets

TOKEN = "the-verified-token-0123456789"
API = "https://api.example.com"


class Answering:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def verify(self, token: str) -> Any:
        return self.answer


def verified(answer: Any) -> Principal:
    auth = Authenticator([Answering(answer)], load_settings(env={}, overrides={}))
    return asyncio.run(auth.verify(TOKEN))


def test_the_authenticator_gives_the_principal_its_token() -> None:
    assert verified(Principal("alice", frozenset({"read"}), {"aud": API})).token == TOKEN

    class Duck:
        subject = "duck"
        scopes = ["a"]
        claims = {"aud": API}

    principal = verified(Duck())
    assert principal.token == TOKEN and principal.token_for(API) == TOKEN


def test_token_for_only_a_resource_the_audience_names() -> None:
    listed = Principal("a", claims={"aud": ["https://mcp.example.com/mcp", API]}, token=TOKEN)
    assert listed.token_for(API) == TOKEN
    assert listed.token_for("HTTPS://API.example.com:443/") == TOKEN  # canonical form
    assert listed.token_for("https://api.example.com/v2") is None
    assert listed.token_for("https://evil.example.com") is None
    single = Principal("a", claims={"aud": "billing"}, token=TOKEN)
    assert single.token_for("billing") == TOKEN and single.token_for(API) is None
    assert Principal("a", claims={}, token=TOKEN).token_for(API) is None  # no aud: never
    assert Principal("a", claims={"aud": API}).token_for(API) is None  # no token


def test_the_token_is_in_no_repr_comparison_or_log_line() -> None:
    principal = Principal("alice", frozenset({"read"}), {"aud": API}, TOKEN)
    assert TOKEN not in repr(principal) and TOKEN not in str(principal)
    assert principal == Principal("alice", frozenset({"read"}))
    renderer = structlog.processors.JSONRenderer()
    event = redact_secrets(None, "info", {"event": "call", "principal": principal, "token": TOKEN})
    line = renderer(None, "info", event)
    assert TOKEN not in line and json.loads(line)["token"] == "[redacted]"
