"""The HTTP edge, hardened: Host and Origin checks on every route (DNS rebinding), a safe default
for a server bound to a wildcard address, trusted reverse proxies (``forwarded_allow_ips``, and
the nginx recipe of docs/operations.md), exact media types, bounded bodies (size and time), and
authentication that fails closed.

Real ``mcp-runner serve --transport http`` processes (and ``http_app()`` under uvicorn) on
loopback addresses, driven with httpx and raw sockets.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import http_helpers as h
import httpx
import pytest
from mcp_runner.config import HttpSettings
from mcp_runner.transports.http.headers import ForwardedHeaders, HostCheck
from mcp_runner.transports.http.responses import HttpError

WELL_KNOWN = "/.well-known/oauth-protected-resource/mcp"
TOKEN = "static-token-for-hardening-0123456789"
AUTH = f"""
[[auth.tokens]]
token = "{TOKEN}"
subject = "ci"
"""
SERVING = re.compile(r'serving(?: |", "url": ")(http://[^\s"]+)')


class Served:
    """``mcp-runner serve --transport http --port 0`` with `config` (TOML) and `args`."""

    def __init__(
        self, config: str = "", *args: str, env: dict[str, str] | None = None, host: str = ""
    ) -> None:
        self.home = tempfile.TemporaryDirectory(prefix="mcp-runner-hardening-")
        Path(self.home.name, "mcp-runner.toml").write_text(config)
        command = h.runner_command(
            "serve",
            "--transport",
            "http",
            "--port",
            "0",
            "--plugin",
            "http_demo:plugin",
            *(("--host", host) if host else ()),
            *args,
        )
        self.proc = subprocess.Popen(
            command,
            cwd=self.home.name,
            env=h.server_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                if SERVING.search(line):
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(30) or not any(SERVING.search(line) for line in self.lines):
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.lines))
        url = next(m.group(1) for m in map(SERVING.search, self.lines) if m)
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])

    def url(self, address: str = "127.0.0.1", path: str = "/mcp") -> str:
        return f"http://{address}:{self.port}{path}"

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.home.cleanup()
        return self.proc.returncode


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Served] = []

    def start(config: str = "", *args: str, **kwargs: Any) -> Served:
        server = Served(config, *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def post(url: str, message: Any = None, **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    body = json.dumps(message if message is not None else h.initialize_request())
    return httpx.post(url, content=body, headers=sent, timeout=10)


def raw_exchange(port: int, request: bytes, address: str = "127.0.0.1", wait: float = 10) -> bytes:
    """Send `request` as it is and read what comes back until the server closes or `wait`."""
    with socket.create_connection((address, port), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        try:
            while b"\r\n\r\n" not in received or not _complete(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        return received


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    found = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
    return found is not None and len(body) >= int(found.group(1))


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response else 0


# ---------------------------------------------------------------------------------------------
# Host and Origin: the metadata routes like the endpoint


@pytest.mark.e2e
def test_metadata_routes_check_host_and_origin(serve: Any) -> None:
    server = serve(AUTH)
    for path in ("/.well-known/oauth-protected-resource", WELL_KNOWN):
        url = server.url(path=path)
        evil = httpx.get(url, headers={"host": "evil.example"}, timeout=10)
        assert evil.status_code == 421, evil.text
        assert "evil.example" not in json.dumps(evil.json().get("result", {}))
        assert "allowed_hosts" in evil.json()["error"]["message"]
        origin = httpx.get(url, headers={"origin": "http://evil.example"}, timeout=10)
        assert origin.status_code == 403, origin.text
        good = httpx.get(url, timeout=10)
        assert good.status_code == 200, good.text
        assert good.json()["resource"] == server.url()
    assert post(server.url(), host="evil.example").status_code == 421


# ---------------------------------------------------------------------------------------------
# A server bound to a wildcard address, and the ASGI factory


@pytest.mark.e2e
def test_wildcard_bind_refuses_foreign_hosts_and_answers_its_own(serve: Any) -> None:
    server = serve("", host="0.0.0.0")
    # Every 127/8 address reaches the loopback interface: 127.0.0.3 stands for "this
    # machine's address" as a client would type it, without needing a network here.
    evil = post(server.url("127.0.0.3"), host="evil.example")
    assert evil.status_code == 421, evil.text
    message = evil.json()["error"]["message"]
    assert "allowed_hosts" in message and "MCP_RUNNER_HTTP__ALLOWED_HOSTS" in message
    own = post(server.url("127.0.0.3"))  # Host: 127.0.0.3:<port>, the address it arrived at
    assert own.status_code == 200, own.text
    elsewhere = post(server.url("127.0.0.3"), host=f"127.0.0.4:{server.port}")
    assert elsewhere.status_code == 421, elsewhere.text
    named = post(server.url(), host=f"{socket.gethostname()}:{server.port}")
    assert named.status_code == 200, named.text
    assert post(server.url(), host=f"localhost:{server.port}").status_code == 200


@pytest.mark.e2e
def test_listed_hosts_and_the_wildcard(serve: Any) -> None:
    listed = serve('[http]\nallowed_hosts = ["mcp.example.com"]\n', host="0.0.0.0")
    assert post(listed.url(), host="mcp.example.com").status_code == 200
    assert post(listed.url(), host="MCP.example.com:443").status_code == 200
    assert post(listed.url(), host="evil.example").status_code == 421
    anything = serve('[http]\nallowed_hosts = ["*"]\n', host="0.0.0.0")
    assert post(anything.url(), host="evil.example").status_code == 200


@pytest.mark.e2e
def test_asgi_factory_answers_the_address_it_is_reached_at(tmp_path: Path) -> None:
    """Under another ASGI server the configured ``[http] host`` (127.0.0.1 by default) is not
    where the app listens: the Host check goes by the address each request arrived at."""
    script = tmp_path / "factory.py"
    script.write_text(
        "import sys, uvicorn\n"
        "from mcp_runner import http_app\n"
        "uvicorn.run(http_app(), host='0.0.0.0', port=int(sys.argv[1]), log_level='warning')\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        cwd=tmp_path,
        env=h.server_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.5:{port}/mcp"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = post(url)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
                time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        assert post(url, host="evil.example").status_code == 421
    finally:
        proc.terminate()
        proc.wait(10)


def test_host_check_rules() -> None:
    check = HostCheck(HttpSettings(allowed_hosts=["api.example"]))
    at = {"server": ("10.1.2.3", 8000)}
    for host in ("api.example", "API.example:8443", "localhost:1", "[::1]:8", "10.1.2.3:8000"):
        check.check({"host": host}, at)
    for host in ("evil.example", "10.1.2.4:8000", "", "api.example.evil.example"):
        with pytest.raises(HttpError) as refused:
            check.check({"host": host}, at)
        assert refused.value.status == 421
    on_loopback = {"server": ("127.0.0.1", 8000)}
    check.check({"host": "localhost", "origin": "http://localhost:3000"}, on_loopback)
    with pytest.raises(HttpError) as refused:
        check.check({"host": "localhost", "origin": "http://localhost:3000"}, at)
    assert refused.value.status == 403


# ---------------------------------------------------------------------------------------------
# Behind a reverse proxy


def test_forwarded_headers_from_a_trusted_proxy() -> None:
    trusted = ForwardedHeaders(["10.0.0.0/8", "127.0.0.1"])
    scope = {
        "scheme": "http",
        "client": ("10.0.0.7", 5000),
        "headers": [
            (b"host", b"10.0.0.2:8000"),
            (b"x-forwarded-for", b"198.51.100.9, 10.0.0.3"),
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-host", b"mcp.example.com"),
        ],
    }
    seen = trusted.apply(scope)
    assert seen["scheme"] == "https" and seen["client"] == ("198.51.100.9", 0)
    assert dict(seen["headers"])[b"host"] == b"mcp.example.com"
    assert scope["scheme"] == "http"  # the original is left alone
    rfc = trusted.apply(
        {
            "scheme": "http",
            "client": ("127.0.0.1", 1),
            "headers": [
                (b"host", b"internal:8000"),
                (b"forwarded", b'for="[2001:db8::1]:4711";proto=https;host=mcp.example.com'),
                (b"forwarded", b"for=10.0.0.3;proto=http;host=internal"),
            ],
        }
    )
    assert rfc["scheme"] == "https" and rfc["client"] == ("2001:db8::1", 0)
    assert dict(rfc["headers"])[b"host"] == b"mcp.example.com"
    spoofed = {
        "scheme": "http",
        "client": ("203.0.113.5", 1),
        "headers": [(b"host", b"a"), (b"x-forwarded-host", b"evil.example")],
    }
    assert trusted.apply(spoofed) is spoofed  # an untrusted peer says nothing
    # A client cannot pose as a trusted hop: the walk stops at the first untrusted address.
    chain = trusted.apply(
        {
            "scheme": "http",
            "client": ("10.0.0.7", 1),
            "headers": [(b"x-forwarded-for", b"10.9.9.9, 203.0.113.5")],
        }
    )
    assert chain["client"] == ("203.0.113.5", 0)


@pytest.mark.e2e
def test_behind_a_trusted_proxy_the_metadata_names_the_public_url(serve: Any) -> None:
    config = AUTH + (
        '[server]\nlog_level = "info"\n'
        '[http]\nforwarded_allow_ips = ["127.0.0.1"]\nallowed_hosts = ["mcp.example.com"]\n'
    )
    server = serve(config)
    proxied = {
        "x-forwarded-proto": "https",
        "x-forwarded-host": "mcp.example.com",
        "x-forwarded-for": "198.51.100.7",
    }
    metadata = httpx.get(server.url(path=WELL_KNOWN), headers=proxied, timeout=10)
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["resource"] == "https://mcp.example.com/mcp"
    rfc = {"forwarded": "for=198.51.100.9;proto=https;host=mcp.example.com"}
    assert (
        httpx.get(server.url(path=WELL_KNOWN), headers=rfc, timeout=10).json()["resource"]
        == "https://mcp.example.com/mcp"
    )
    challenge = post(server.url(), **proxied).headers["www-authenticate"]
    assert 'resource_metadata="https://mcp.example.com' + WELL_KNOWN + '"' in challenge
    # The forwarded Host is the one checked.
    evil = post(server.url(), x_forwarded_host="evil.example", authorization=f"Bearer {TOKEN}")
    assert evil.status_code == 421, evil.text
    # The client address is the one the proxy received the request from (the access log).
    deadline = time.monotonic() + 5
    while not any("198.51.100.7" in line for line in server.lines):
        assert time.monotonic() < deadline, "".join(server.lines)
        time.sleep(0.05)


@pytest.mark.e2e
def test_an_untrusted_peer_cannot_forward(serve: Any) -> None:
    server = serve(AUTH + '[http]\nforwarded_allow_ips = "10.9.9.9, 10.8.0.0/16"\n')
    spoof = {"x-forwarded-proto": "https", "x-forwarded-host": "evil.example"}
    metadata = httpx.get(server.url(path=WELL_KNOWN), headers=spoof, timeout=10)
    assert metadata.status_code == 200 and metadata.json()["resource"] == server.url()


# ---------------------------------------------------------------------------------------------
# Media type and body


@pytest.fixture(scope="module")
def plain() -> Iterator[Served]:
    server = Served("[http]\nbody_timeout = 1\n[server]\nmax_message_bytes = 4096\n")
    yield server
    server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON ;charset=UTF-8", 200),
        ("application/jsonp", 415),
        ("application/json-seq", 415),
        ("application/json+evil", 415),
        ("text/json", 415),
        ("", 415),
    ],
)
def test_content_type_must_be_json(plain: Served, content_type: str, status: int) -> None:
    answer = post(plain.url(), content_type=content_type)
    assert answer.status_code == status, answer.text


@pytest.mark.e2e
def test_declared_length_over_the_limit_is_refused_at_once(plain: Served) -> None:
    started = time.monotonic()
    response = raw_exchange(
        plain.port,
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\n"
        b"Content-Length: 1000000000000\r\n\r\n{",
        wait=5,
    )
    assert status_of(response) == 413, response
    assert b"max_message_bytes" in response
    assert time.monotonic() - started < 3


@pytest.mark.e2e
def test_a_body_that_does_not_arrive_in_time_is_408(plain: Served) -> None:
    started = time.monotonic()
    response = raw_exchange(
        plain.port,
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\n"
        b"Content-Length: 100\r\n\r\n{",
        wait=8,
    )
    assert status_of(response) == 408, response
    assert b"body_timeout" in response
    assert time.monotonic() - started < 6
    assert post(plain.url()).status_code == 200  # the server goes on


# ---------------------------------------------------------------------------------------------
# Authentication fails closed


@pytest.mark.e2e
def test_jwt_without_joserfc_refuses_every_token_static_ones_too(
    serve: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "no-joserfc"
    (missing / "joserfc").mkdir(parents=True)
    (missing / "joserfc" / "__init__.py").write_text(
        "raise ImportError('joserfc is not installed here')\n"
    )
    config = AUTH + '[auth.jwt]\njwks_url = "https://as.example/jwks.json"\nissuer = "https://as"\n'
    server = serve(config, env={"PYTHONPATH": os.pathsep.join([str(missing), str(h.HTTP_PLUGINS)])})
    assert "every authenticated request will be refused" in "".join(server.lines)
    refused = post(server.url(), authorization=f"Bearer {TOKEN}")
    assert refused.status_code == 503, refused.text
    assert post(server.url()).status_code == 401  # no token: the usual challenge


# ---------------------------------------------------------------------------------------------
# The nginx recipe of docs/operations.md, for real


def _nginx_recipe() -> str:
    text = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    found = re.search(r"```nginx\n(.*?)```", text, re.DOTALL)
    assert found, "docs/operations.md has no nginx recipe"
    return found.group(1)


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="needs nginx")
def test_the_nginx_recipe_forwards_the_public_name(serve: Any, tmp_path: Path) -> None:
    config = AUTH + (
        '[http]\nforwarded_allow_ips = ["127.0.0.1"]\nallowed_hosts = ["mcp.example.com"]\n'
    )
    server = serve(config)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recipe = (
        _nginx_recipe()
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
        .replace("10.0.0.5:8000", f"127.0.0.1:{server.port}")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {tmp_path};\n"
        f"proxy_temp_path {tmp_path};\n{recipe}\n}}\n"
    )
    nginx = subprocess.Popen(
        [
            "/usr/sbin/nginx",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                metadata = httpx.get(
                    base + WELL_KNOWN, headers={"host": "mcp.example.com"}, timeout=10
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and nginx.poll() is None, nginx.stderr
                time.sleep(0.1)
        assert metadata.status_code == 200, metadata.text
        assert metadata.json()["resource"] == "http://mcp.example.com/mcp"
        opened = post(base + "/mcp", host="mcp.example.com", authorization=f"Bearer {TOKEN}")
        assert opened.status_code == 200, opened.text
        assert post(base + "/mcp", host="evil.example").status_code == 421
    finally:
        nginx.terminate()
        nginx.wait(10)
