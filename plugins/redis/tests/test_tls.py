"""``rediss://``: replicas reach a TLS-only ``redis-server`` (mutual TLS, certificates made
here by a throwaway CA) with ``tls_ca_file``, ``tls_cert_file`` and ``tls_key_file``, and a
legacy session opened on one replica is served by the other. Without the CA the server's
certificate is refused; the TLS keys with a plain ``redis://`` url are a settings error."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp_runner_redis import RedisBackend, RedisSettings
from pydantic import ValidationError
from replica_helpers import (
    REDIS,
    Replica,
    free_port,
    initialize,
    session_headers,
    start_redis,
    stop,
    wait_for_port,
)

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
if not os.access(REDIS, os.X_OK):
    pytest.skip("redis-server is needed (apt-get install redis-server)", allow_module_level=True)


def write_pem(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_certificates(directory: Path) -> None:
    """ca.crt; server.crt/.key for 127.0.0.1; client.crt/.key: all signed by the CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): key identifiers are required
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    write_pem(directory / "ca", ca_key, ca)
    for name, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_pem(directory / name, key, cert)


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[tuple[str, Path]]:
    """A redis-server that speaks TLS only (client certificates required): its rediss://
    url, and the directory of the certificates."""
    with tempfile.TemporaryDirectory(prefix="mcp-runner-redis-tls-") as workdir:
        root = Path(workdir)
        make_certificates(root)
        port = free_port()
        proc = start_redis(
            root,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(root / "server.crt"),
            "--tls-key-file",
            str(root / "server.key"),
            "--tls-ca-cert-file",
            str(root / "ca.crt"),
        )
        try:
            wait_for_port(port)
            yield f"rediss://127.0.0.1:{port}/0", root
        finally:
            stop(proc)


def test_a_session_moves_between_replicas_over_tls(tls_redis: tuple[str, Path]) -> None:
    url, certs = tls_redis
    redis_env = {
        "MCP_RUNNER_PLUGINS__REDIS__URL": url,
        "MCP_RUNNER_PLUGINS__REDIS__TLS_CA_FILE": str(certs / "ca.crt"),
        "MCP_RUNNER_PLUGINS__REDIS__TLS_CERT_FILE": str(certs / "client.crt"),
        "MCP_RUNNER_PLUGINS__REDIS__TLS_KEY_FILE": str(certs / "client.key"),
    }
    replicas = [Replica(redis_env, certs) for _ in range(2)]
    try:
        with httpx.Client(timeout=10.0) as http:
            for replica in replicas:
                ready = http.get(replica.url.removesuffix("/mcp") + "/readyz")
                assert ready.status_code == 200, ready.text
            session = initialize(http, replicas[0].url)
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
            call["params"] = {"name": "add", "arguments": {"a": 2, "b": 3}}
            answered = http.post(replicas[1].url, headers=session_headers(session), json=call)
            assert answered.status_code == 200, answered.text
            assert answered.json()["result"]["content"][0]["text"] == "5"
            ended = http.delete(replicas[1].url, headers=session_headers(session))
            assert ended.status_code == 204
            ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
            gone = http.post(replicas[0].url, headers=session_headers(session), json=ping)
            assert gone.status_code == 404
    finally:
        for replica in replicas:
            replica.stop()


def test_without_the_ca_the_server_s_certificate_is_refused(tls_redis: tuple[str, Path]) -> None:
    url, certs = tls_redis
    client_cert = {
        "tls_cert_file": str(certs / "client.crt"),
        "tls_key_file": str(certs / "client.key"),
    }

    async def check(settings: RedisSettings) -> dict[str, object]:
        backend = RedisBackend(url, "tls:", 2.0, **settings.connection_options())
        try:
            return await backend.check()
        finally:
            await backend.close()

    trusted = RedisSettings(url=url, tls_ca_file=str(certs / "ca.crt"), **client_cert)
    assert asyncio.run(check(trusted)) == {"state": "ok"}
    untrusted = asyncio.run(check(RedisSettings(url=url, **client_cert)))
    assert untrusted["state"] == "failing" and "certificate" in str(untrusted["error"]).lower()
    unverified = RedisSettings(url=url, tls_verify=False, **client_cert)
    assert asyncio.run(check(unverified)) == {"state": "ok"}


def test_tls_settings_need_a_rediss_url() -> None:
    with pytest.raises(ValidationError, match="rediss://"):
        RedisSettings(url="redis://127.0.0.1:6379/0", tls_ca_file="/etc/ssl/ca.pem")
    with pytest.raises(ValidationError, match="go together"):
        RedisSettings(url="rediss://127.0.0.1:6380/0", tls_cert_file="/etc/ssl/client.pem")
    assert RedisSettings().connection_options() == {}
