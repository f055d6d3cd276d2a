"""The pure parts of client OAuth: reading challenges, where metadata is looked for, which
resource a server may claim, PKCE, and the token store's records."""

from __future__ import annotations

import base64
import hashlib

import pytest
from mcp_runner.client.oauth import MemoryTokenStore, Tokens, parse_challenge
from mcp_runner.client.oauth.discovery import (
    resource_matches,
    resource_metadata_urls,
    server_metadata_urls,
)
from mcp_runner.client.oauth.pkce import code_verifier, s256


def test_a_bearer_challenge_is_read_with_quoted_and_bare_values() -> None:
    challenge = parse_challenge(
        'Basic realm="x", Bearer error="insufficient_scope", scope="a b", '
        'resource_metadata="https://s/.well-known/oauth-protected-resource/mcp", '
        'error_description="needs \\"a\\""'
    )
    assert challenge.error == "insufficient_scope"
    assert challenge.scopes == ["a", "b"]
    assert challenge.resource_metadata == "https://s/.well-known/oauth-protected-resource/mcp"
    assert challenge.error_description == 'needs "a"'
    assert parse_challenge("Bearer scope=read").scopes == ["read"]
    assert parse_challenge("Basic realm=x").scopes == []
    assert parse_challenge(None).error is None


def test_resource_metadata_is_looked_for_in_the_specs_order() -> None:
    bare = parse_challenge("Bearer")
    assert resource_metadata_urls("https://s.example/api/mcp", bare) == [
        "https://s.example/.well-known/oauth-protected-resource/api/mcp",
        "https://s.example/.well-known/oauth-protected-resource",
    ]
    given = parse_challenge('Bearer resource_metadata="https://s.example/custom.json"')
    assert resource_metadata_urls("https://s.example/", given) == [
        "https://s.example/custom.json",
        "https://s.example/.well-known/oauth-protected-resource",
    ]


def test_authorization_server_metadata_is_looked_for_in_the_specs_order() -> None:
    assert server_metadata_urls("https://as.example/tenant1") == [
        "https://as.example/.well-known/oauth-authorization-server/tenant1",
        "https://as.example/.well-known/openid-configuration/tenant1",
        "https://as.example/tenant1/.well-known/openid-configuration",
    ]
    assert server_metadata_urls("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize(
    ("resource", "ok"),
    [
        ("https://s.example/mcp", True),
        ("https://s.example", True),  # a root resource covers its paths
        ("https://S.example/mcp/", True),
        ("https://s.example/mc", False),
        ("https://evil.example/mcp", False),
        ("http://s.example/mcp", False),
        ("https://s.example/mcp#frag", False),
    ],
)
def test_which_resource_a_server_may_claim(resource: str, ok: bool) -> None:
    assert resource_matches(resource, "https://s.example/mcp") is ok


def test_pkce_s256_challenges_the_verifier() -> None:
    verifier = code_verifier()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert s256(verifier) == expected.rstrip(b"=").decode()
    assert code_verifier() != verifier


async def test_tokens_round_trip_through_a_store() -> None:
    store = MemoryTokenStore()
    tokens = Tokens("at", "rt", expires_at=1000.0, scope="a", requested_scope="a b", issuer="i")
    await store.set("tokens x", tokens.to_dict())
    record = await store.get("tokens x")
    assert record is not None and Tokens.from_dict(record) == tokens
    assert tokens.expired(now=0.0) is False and tokens.expired(now=980.0) is True
    assert tokens.scopes() == {"a", "b"}
    await store.set("tokens x", None)
    assert await store.get("tokens x") is None


pytestmark = pytest.mark.anyio
