"""The container image, without Docker: the Dockerfile and deploy/compose.yaml are linted, and
the image's install, environment, command and health check are run in a plain venv."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import http_helpers as h
import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in joined.splitlines()]
    parsed = []
    for line in lines:
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            parsed.append((keyword, rest.strip()))
    return parsed


def instruction(keyword: str) -> list[str]:
    return [rest for found, rest in dockerfile() if found == keyword]


def image_env() -> dict[str, str]:
    """The runtime stage's ENV (the last stage's), as the image's processes see it."""
    env: dict[str, str] = {}
    stage = max(i for i, (keyword, _) in enumerate(dockerfile()) if keyword == "FROM")
    for keyword, rest in dockerfile()[stage:]:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def health_command(port: int) -> list[str]:
    """The HEALTHCHECK's command, aimed at `port`."""
    check = instruction("HEALTHCHECK")[0]
    command = check[check.index("CMD ") + 4 :]
    return shlex.split(command.replace(":8000/", f":{port}/"))


def test_the_dockerfile_parses_and_is_multi_stage_slim_and_non_root() -> None:
    parsed = dockerfile()
    assert {keyword for keyword, _ in parsed} <= INSTRUCTIONS
    stages = instruction("FROM")
    assert len(stages) == 2 and all(s.startswith("python:3.11-slim") for s in stages)
    assert instruction("USER") == ["mcp"]
    assert "/healthz" in instruction("HEALTHCHECK")[0]
    assert json.loads(instruction("CMD")[0])[:4] == ["mcp-runner", "serve", "--transport", "http"]
    assert image_env()["MCP_RUNNER_HTTP__PORT"] == "8000"


def test_the_compose_file_has_two_replicas_redis_and_nginx() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "mcp", "nginx"}
    assert services["mcp"]["deploy"]["replicas"] == 2
    assert services["mcp"]["environment"]["MCP_RUNNER_PLUGINS__REDIS__URL"].startswith("redis://")
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_buffering off;" in nginx and "server mcp:8000;" in nginx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_image_s_command_serves_in_a_venv_built_as_the_image_is(tmp_path: Path) -> None:
    """pip installs what the Dockerfile installs into a fresh venv; the CMD runs with the
    image's ENV (and Redis); the HEALTHCHECK passes, /readyz is ready, a tool answers."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = next(r for r in instruction("RUN") if r.startswith("pip install"))
    subprocess.run(
        [str(venv / "bin" / "pip"), *shlex.split(install)[1:]],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    redis_port, port = free_port(), free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    env = {
        **image_env(),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",  # the image's venv first
        "MCP_RUNNER_HTTP__PORT": str(port),
        "MCP_RUNNER_PLUGINS__REDIS__URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    server = subprocess.Popen(
        json.loads(instruction("CMD")[0]), env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        assert json.loads(banner)["url"] == f"http://0.0.0.0:{port}/mcp", banner
        python = venv / "bin" / "python"
        health = health_command(port)
        assert subprocess.run([str(python), *health[1:]], timeout=10).returncode == 0
        with httpx.Client(timeout=10) as client:
            ready = client.get(f"http://127.0.0.1:{port}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["components"]["redis"]["state"] == "ok"
            request = h.modern_request("tools/call", {"name": "list_roots", "arguments": {}})
            answered: Any = client.post(
                f"http://127.0.0.1:{port}/mcp",
                json=request,
                headers=h.modern_headers("tools/call", request["params"]),
            )
            assert answered.status_code == 200, answered.text
            result = answered.json()["result"]
            assert not result.get("isError") and result["structuredContent"], result
    finally:
        server.terminate()
        assert server.wait(15) == 0
        redis.terminate()
        redis.wait(10)


def test_the_kubernetes_manifests_of_the_docs_probe_and_drain() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    block = text.split("## Kubernetes", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    secret, deployment, service = yaml.safe_load_all(block)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1].rsplit("(", 1)[1][:-1])
    assert pod["terminationGracePeriodSeconds"] > pause + float(
        env["MCP_RUNNER_SHUTDOWN_GRACE"]["value"]
    )
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    reference = env["MCP_RUNNER_STATE_SECRETS"]["valueFrom"]["secretKeyRef"]
    assert (
        reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["stringData"]
    )
    assert json.loads(secret["stringData"][reference["key"]])
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["containerPort"]
