"""An HTTP backend that requires OAuth, mounted with ``oauth`` settings: the proxy gets its
own access token (client credentials) from a real authorization server and the backend sees
the proxy's client as the caller. The authorization server and the backend are those of the
client's OAuth tests (test_client_oauth.py), served by uvicorn on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp_runner.builtin import proxy
from mcp_runner.builtin.proxy.config import ServerConfig
from mcp_runner.client import Client
from mcp_runner.config import load_settings
from mcp_runner.runner import Runner
from test_client_oauth import make_setup  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_backend_behind_oauth_client_credentials(
    make_setup: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    setup = make_setup()
    setup.server.clients["proxy-client"] = ("s3cret", "client_secret_basic")
    config = tmp_path / "mcp-runner.toml"
    config.write_text(
        f'[proxy.servers.api]\nurl = "{setup.url}"\n\n[proxy.servers.api.oauth]\n'
        'client_id = "proxy-client"\nclient_secret = "s3cret"\ntoken_file = "tokens.json"\n'
    )
    runner = Runner(load_settings(config), entry_points=False).start()
    async with Client.inprocess(runner) as client:
        who = await client.call_tool("api_whoami")
        assert not who.is_error, who.text
        assert who.structured_content["subject"] == "proxy-client"
        assert (await client.call_tool("api_read_secret")).text == "the secret"
        entry = next(e for e in proxy.mcp_runner_status(runner) or [] if e["name"] == "api")
        assert entry["credentials"] == ["OAuth access token (client_credentials)"]
    (token,) = setup.server.calls("token")  # one token for the session's every request
    assert token["grant_type"] == "client_credentials"
    kept = tmp_path / "tokens.json"  # relative to the config file
    assert kept.is_file() and kept.stat().st_mode & 0o777 == 0o600


def test_oauth_settings_are_checked() -> None:
    url = "http://127.0.0.1:1/mcp"
    for bad, why in [
        ({"command": "x", "oauth": {}}, "only for a Streamable HTTP server"),
        ({"url": url, "oauth": {"secret": "x"}}, "unknown OAuth settings: secret"),
        ({"url": url, "oauth": {}, "bearer_token": "t"}, "give no other Authorization"),
        ({"url": url, "oauth": {}, "forward_token": True}, "give no other Authorization"),
        ({"url": url, "oauth": {"grant": "client_credentials"}}, "needs a client_id"),
    ]:
        with pytest.raises(ValueError, match=why):
            ServerConfig.model_validate(bad)
