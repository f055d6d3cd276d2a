"""Served under a path prefix: a trusted proxy's ``X-Forwarded-Prefix`` (through the nginx
recipe of docs/operations.md, which strips the prefix) and uvicorn's ``root_path`` both put the
prefix in the URLs the server names, the RFC 9728 resource and every 401 challenge's
``resource_metadata``, and the prefixed well-known path answers."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import http_helpers as h
import httpx
import pytest
from mcp_runner.transports.http.headers import ForwardedHeaders

TOKEN = "static-token-for-prefix-tests-0123456"
AUTH_ENV = {"MCP_RUNNER_AUTH__TOKENS": f'[{{"token": "{TOKEN}", "subject": "ci"}}]'}
PREFIXED_METADATA = "/.well-known/oauth-protected-resource/tools/mcp"
NGINX = Path("/usr/sbin/nginx")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def initialize(url: str, **headers: str) -> httpx.Response:
    return httpx.post(
        url, json=h.initialize_request(), headers={**h.legacy_headers(), **headers}, timeout=10
    )


def test_a_trusted_proxy_s_prefix_goes_before_the_root_path() -> None:
    trusted = ForwardedHeaders(["127.0.0.1"])

    def scope(prefix: bytes, peer: str = "127.0.0.1") -> dict[str, object]:
        headers = [(b"host", b"internal:8000"), (b"x-forwarded-prefix", prefix)]
        return {"scheme": "http", "client": (peer, 1), "root_path": "/app", "headers": headers}

    assert trusted.apply(scope(b"/tools/"))["root_path"] == "/tools/app"
    assert trusted.apply(scope(b"/outer, /tools"))["root_path"] == "/tools/app"  # the nearest
    for bad in (b"tools", b"/a/../b", b"/a b", b"/a?b", b"//evil.example", b"/%2e%2e"):
        assert trusted.apply(scope(bad)).get("root_path") == "/app", bad
    untrusted = scope(b"/tools", peer="203.0.113.5")
    assert trusted.apply(untrusted) is untrusted


@pytest.fixture
def prefixed_server() -> Iterator[h.ServerProcess]:
    env = {
        **AUTH_ENV,
        "MCP_RUNNER_HTTP__FORWARDED_ALLOW_IPS": '["127.0.0.1"]',
        "MCP_RUNNER_HTTP__ALLOWED_HOSTS": '["example.com"]',
        "MCP_RUNNER_PLUGINS__HTTP_DEMO__SCOPES": '["demo:use"]',  # the token lacks it: 403
    }
    with h.ServerProcess(env) as server:
        yield server


def prefix_recipe() -> str:
    text = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    recipes = re.findall(r"```nginx\n(.*?)```", text, re.DOTALL)
    found = [recipe for recipe in recipes if "X-Forwarded-Prefix" in recipe]
    assert found, "docs/operations.md has no nginx recipe for a path prefix"
    return str(found[0])


@pytest.mark.e2e
@pytest.mark.timeout(60)
@pytest.mark.skipif(not NGINX.exists(), reason="needs nginx")
def test_behind_nginx_under_a_prefix_the_urls_carry_it(
    prefixed_server: h.ServerProcess, tmp_path: Path
) -> None:
    port = free_port()
    recipe = (
        prefix_recipe()
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
        .replace("10.0.0.5:8000", f"127.0.0.1:{prefixed_server.port}")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {tmp_path};\n"
        f"proxy_temp_path {tmp_path};\n{recipe}\n}}\n"
    )
    nginx = subprocess.Popen(
        [str(NGINX), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    public = {"host": "example.com"}
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                metadata = httpx.get(base + PREFIXED_METADATA, headers=public, timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and nginx.poll() is None, nginx.stderr
                time.sleep(0.1)
        assert metadata.status_code == 200, metadata.text
        assert metadata.json()["resource"] == "http://example.com/tools/mcp"
        refused = initialize(base + "/tools/mcp", **public)
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert f'resource_metadata="http://example.com{PREFIXED_METADATA}"' in challenge
        bearer = {"authorization": f"Bearer {TOKEN}", **public}
        opened = initialize(base + "/tools/mcp", **bearer)
        assert opened.status_code == 200, opened.text
        session = {**h.legacy_headers(opened.headers["mcp-session-id"]), **bearer}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
        call["params"] = {"name": "add", "arguments": {"a": 1, "b": 2}}
        forbidden = httpx.post(base + "/tools/mcp", json=call, headers=session, timeout=10)
        assert forbidden.status_code == 403, forbidden.text
        challenge = forbidden.headers["www-authenticate"]
        assert f'resource_metadata="http://example.com{PREFIXED_METADATA}"' in challenge
        assert initialize(base + "/tools/mcp", host="evil.example").status_code == 421
    finally:
        nginx.terminate()
        nginx.wait(10)


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_under_uvicorn_s_root_path_the_urls_carry_it(tmp_path: Path) -> None:
    """``http_app()`` under uvicorn with ``root_path="/tools"`` (the proxy in front strips the
    prefix): the resource, the challenge and the metadata path all carry it."""
    script = tmp_path / "factory.py"
    script.write_text(
        "import sys, uvicorn\n"
        "from mcp_runner import http_app\n"
        "uvicorn.run(http_app(), port=int(sys.argv[1]), root_path='/tools', log_level='warning')\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        cwd=tmp_path,
        env=h.server_env(AUTH_ENV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                refused = initialize(base + "/mcp")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
                time.sleep(0.2)
        assert refused.status_code == 401, refused.text
        challenge = refused.headers["www-authenticate"]
        assert f'resource_metadata="{base}{PREFIXED_METADATA}"' in challenge
        metadata = httpx.get(base + PREFIXED_METADATA, timeout=10)
        assert metadata.status_code == 200, metadata.text
        assert metadata.json()["resource"] == f"{base}/tools/mcp"
        opened = initialize(base + "/mcp", authorization=f"Bearer {TOKEN}")
        assert opened.status_code == 200, opened.text
    finally:
        proc.terminate()
        proc.wait(10)
