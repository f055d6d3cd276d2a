"""Shared fixtures for the end-to-end tests: a real `mcp-runner serve` over stdio.

* `McpSchemas` (tests/fixtures/mcp_schemas.py, shared by every suite) validates each
  server-to-client message against the official JSON Schema of the session's protocol
  version (tests/data/schemas/<version>/schema.json).
* `RawClient` is a small JSON-lines client over the pipes of a `mcp-runner serve` subprocess;
  every message it reads is parsed and schema-validated before a test sees it.
* `spawn_server` starts servers (killed at teardown, whatever happens), `run_cli` runs other
  `mcp-runner` commands, `sdk_stdio` builds official-SDK stdio parameters behind a wiretap.

The test plugins live in tests/fixtures/plugins (loaded with ``--plugin``) and in
tests/fixtures/dists (real distributions with entry points, installed into the test
environment with ``pip install tests/fixtures/dists/*``). Because installed test
distributions are discovered by every `mcp-runner serve`, servers are started with the
allow list ``MCP_RUNNER_PLUGINS`` unless a test asks otherwise.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
FIXTURES_DIR = TESTS_DIR / "fixtures"
PLUGINS_DIR = FIXTURES_DIR / "plugins"
DISTS_DIR = FIXTURES_DIR / "dists"
SCHEMAS_DIR = TESTS_DIR / "data" / "schemas"
WIRETAP = FIXTURES_DIR / "wiretap.py"

sys.path.insert(0, str(FIXTURES_DIR))
sys.path.insert(0, str(FIXTURES_DIR / "faulty"))
from mcp_schemas import McpSchemas, SchemaViolation, schemas, short  # noqa: E402
from piped_server import PipedServer, ServerGone  # noqa: E402

LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_LEGACY = LEGACY_VERSIONS[-1]
MODERN_VERSION = "2026-07-28"
ALL_VERSIONS = (*LEGACY_VERSIONS, MODERN_VERSION)

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"

E2E_PLUGINS = ("e2e_alpha", "e2e_beta")
# distribution -> entry point name (names sort so that test_good composes before its twin)
TEST_DISTS = {
    "mcp-runner-test-good": "test_good",
    "mcp-runner-test-importerror": "test_importerror",
    "mcp-runner-test-registerfails": "test_registerfails",
    "mcp-runner-test-collides": "test_good_twin",
    "mcp-runner-test-badconfig": "test_badconfig",
    "mcp-runner-test-unknownhook": "test_unknownhook",
}

DEFAULT_TIMEOUT = 10.0  # seconds to wait for one message (generous; never slept)


# ---------------------------------------------------------------------------------------------
# Schema validation


def _schemas() -> McpSchemas:
    return schemas()


@pytest.fixture(scope="session")
def mcp_schemas() -> McpSchemas:
    return _schemas()


# ---------------------------------------------------------------------------------------------
# Spawning the runner


def runner_command() -> list[str]:
    """`mcp-runner` of the interpreter running the tests."""
    script = Path(sys.executable).with_name("mcp-runner")
    if script.exists():
        return [str(script)]
    found = shutil.which("mcp-runner")
    if found:
        return [found]
    return [sys.executable, "-c", "from mcp_runner.cli import main; main()"]


def server_env(allow: Iterable[str] | None = E2E_PLUGINS, **extra: str) -> dict[str, str]:
    """The environment of a spawned runner: no inherited MCP_RUNNER_* settings, the fixture
    plugins importable, and (unless `allow` is None) the allow list `MCP_RUNNER_PLUGINS`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    paths = [str(PLUGINS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if allow is not None:
        env["MCP_RUNNER_PLUGINS"] = ",".join(allow)
    env.update(extra)
    return env


def serve_args(plugins: Iterable[str] = E2E_PLUGINS, *extra: str) -> list[str]:
    return [*runner_command(), "serve", *(f"--plugin={p}" for p in plugins), *extra]


@dataclass
class _Pending:
    method: str
    version: str | None  # the request's own version (2026-07-28 envelope), else the session's


class RawClient(PipedServer):
    """A JSON-lines MCP client on the pipes of a server subprocess.

    Every line the server writes must be one JSON-RPC message valid for the session's
    protocol version; anything else fails the test at once (`SchemaViolation`).
    """

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, schemas: McpSchemas
    ) -> None:
        super().__init__(args, env, cwd)
        self.schemas = schemas
        self.version: str | None = None  # negotiated by initialize
        self.fallback_version = LATEST_LEGACY  # for messages outside a session
        self.received: list[Any] = []  # every message read, in order (validated)
        self.notifications: list[dict[str, Any]] = []  # notifications not yet taken
        self._responses: dict[Any, dict[str, Any]] = {}
        self._pending: dict[Any, _Pending] = {}
        self._ids = itertools.count(1)

    @property
    def session_version(self) -> str:
        return self.version or self.fallback_version

    # -- sending -------------------------------------------------------------------------------
    def send(self, message: Any) -> None:
        """Send one JSON value as a line; remember requests so their answers can be checked."""
        for item in message if isinstance(message, list) else [message]:
            if isinstance(item, dict) and "id" in item:
                self.track(item)
        self.send_raw(json.dumps(message).encode() + b"\n")

    def track(self, message: dict[str, Any]) -> None:
        """Remember a request sent with `send_raw`, so its answer is validated for its method."""
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
        method = message.get("method")
        if _hashable(message["id"]) and message["id"] is not None:
            self._pending[message["id"]] = _Pending(
                method if isinstance(method, str) else "", version
            )

    def next_id(self) -> int:
        return next(self._ids) + 1000

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def start(self, method: str, params: dict[str, Any] | None = None, *, id: Any = None) -> Any:
        """Send a request without waiting; returns its id."""
        request_id = self.next_id() if id is None else id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return request_id

    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        id: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Send a request and return its response (result or error), collecting notifications."""
        return self.wait_response(self.start(method, params, id=id), timeout)

    def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """`request` that must succeed: returns the result."""
        answer = self.request(method, params, **kw)
        assert "result" in answer, f"{method} failed: {answer}"
        return answer["result"]  # type: ignore[no-any-return]

    def initialize(
        self, version: str = LATEST_LEGACY, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = self.call(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": capabilities or {},
                "clientInfo": {"name": "mcp-runner-e2e", "version": "0.0.1"},
            },
        )
        self.notify("notifications/initialized")
        return result

    # -- receiving -----------------------------------------------------------------------------
    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next message the server writes, parsed and validated."""
        line = self.read_line(timeout)
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise SchemaViolation(f"stdout line is not JSON ({exc}): {line[:500]!r}") from None
        self._validate(message)
        self.received.append(message)
        return message

    def _validate(self, message: Any) -> None:
        if isinstance(message, list):
            self.schemas.validate_batch(message, self.session_version, self._method_of)
            for item in message:
                if isinstance(item, dict):
                    self._pending.pop(item.get("id"), None)
            return
        if (
            isinstance(message, dict)
            and "method" not in message
            and ("result" in message or "error" in message)
        ):
            pending = (
                self._pending.pop(message.get("id"), None) if _hashable(message.get("id")) else None
            )
            method = (pending.method or None) if pending else None
            version = (pending.version if pending else None) or self.session_version
            if (
                method == "initialize"
                and "result" in message
                and pending
                and pending.version is None
            ):
                negotiated = (
                    message["result"].get("protocolVersion")
                    if isinstance(message["result"], dict)
                    else None
                )
                if negotiated not in LEGACY_VERSIONS:
                    raise SchemaViolation(
                        f"initialize answered with unsupported version {negotiated!r}"
                    )
                self.version = version = negotiated
            if pending is None and message.get("id") is not None:
                raise SchemaViolation(
                    f"a response to an id we never sent (or answered twice): {short(message)}"
                )
            self.schemas.validate(message, version, method)
            return
        self.schemas.validate(message, self.session_version)

    def _method_of(self, request_id: Any) -> str | None:
        pending = self._pending.get(request_id) if _hashable(request_id) else None
        return pending.method if pending else None

    def wait_response(self, request_id: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait for the response to `request_id`, keeping notifications and other responses."""
        deadline = time.monotonic() + timeout
        while request_id not in self._responses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no response to request {request_id!r} within {timeout} s")
            self._dispatch(self.recv(remaining))
        return self._responses.pop(request_id)

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, list):
            for item in message:
                self._dispatch(item)
        elif "method" in message and "id" not in message:
            self.notifications.append(message)
        elif "method" in message:
            raise AssertionError(f"unexpected server request: {message}")
        else:
            self._responses[message.get("id")] = message

    def take_notifications(self, method: str | None = None) -> list[dict[str, Any]]:
        """Notifications received so far (of `method`), removed from the client."""
        taken = [n for n in self.notifications if method is None or n["method"] == method]
        self.notifications = [n for n in self.notifications if n not in taken]
        return taken

    # -- ending --------------------------------------------------------------------------------
    def drain(self, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
        """Read (and validate) every remaining message until the server closes stdout."""
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.recv(max(0.01, deadline - time.monotonic()))
            except ServerGone:
                return out
            out.append(message)
            self._dispatch(message)

    def finish(self, grace: float = 3.0) -> None:
        """End the session politely (stdin EOF), validating everything still in the pipe."""
        if self.proc.poll() is None:
            self.close_stdin()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if not self.stdout_closed:
            self.drain(timeout=grace)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class ServerPool:
    """Starts `mcp-runner serve` subprocesses and ends them all (see `spawn_server`)."""

    def __init__(self, cwd: Path, schemas: McpSchemas) -> None:
        self.cwd = cwd
        self.schemas = schemas
        self.clients: list[RawClient] = []

    def spawn(
        self,
        *args: str,
        plugins: Iterable[str] = E2E_PLUGINS,
        allow: Iterable[str] | str | None = "plugins",
        env: dict[str, str] | None = None,
    ) -> RawClient:
        plugins = tuple(plugins)
        allowed = plugins if allow == "plugins" else allow
        client = RawClient(
            serve_args(plugins, *args),
            server_env(allowed, **(env or {})),  # type: ignore[arg-type]
            self.cwd,
            self.schemas,
        )
        self.clients.append(client)
        return client

    def close(self) -> None:
        """stdin EOF to each server, validate the rest of its output, kill it if still alive."""
        problems = []
        for client in self.clients:
            try:
                client.finish()
            except AssertionError as exc:
                problems.append(exc)
            finally:
                client.kill()
        if problems:
            raise problems[0]


@pytest.fixture
def spawn_server(tmp_path: Path, mcp_schemas: McpSchemas) -> Iterator[Callable[..., RawClient]]:
    """Start `mcp-runner serve` subprocesses: ``spawn_server(*args, plugins=, allow=, env=)``.

    `allow` is the allow list (default: the plugins given; None: no allow list, so every
    installed plugin is discovered). At teardown each server gets stdin EOF, the rest of its
    output is validated, and it is killed if it has not exited.
    """
    pool = ServerPool(tmp_path, mcp_schemas)
    yield pool.spawn
    pool.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Any]]:
    """Start fault-harness servers (tests/fixtures/faulty): ``spawn(kind=StdioProc, **options)``,
    or ``kind=HttpProc``; all are killed at teardown."""
    import faulty_harness

    procs: list[Any] = []

    def start(kind: type | None = None, **options: Any) -> Any:
        proc = (kind or faulty_harness.StdioProc)(**options)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()


@pytest.fixture(scope="module")
def shared_session(
    tmp_path_factory: pytest.TempPathFactory, mcp_schemas: McpSchemas
) -> Iterator[RawClient]:
    """One initialized server for a whole module, for stateless checks (errors, lookups):
    each test also shows that the server keeps answering after what the previous one sent."""
    pool = ServerPool(tmp_path_factory.mktemp("shared"), mcp_schemas)
    client = pool.spawn()
    client.initialize(LATEST_LEGACY)
    yield client
    pool.close()


@pytest.fixture
def server(spawn_server: Callable[..., RawClient]) -> RawClient:
    """A server with the two fixture plugins, not yet initialized."""
    return spawn_server()


@pytest.fixture
def session(server: RawClient) -> RawClient:
    """A server with the two fixture plugins, initialized at the latest handshake version."""
    server.initialize(LATEST_LEGACY)
    return server


# ---------------------------------------------------------------------------------------------
# Other commands, the installed test distributions, the SDK


@dataclass
class CliResult:
    returncode: int | None
    stdout: str
    stderr: str
    duration: float = 0.0
    args: list[str] = field(default_factory=list)


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run ``mcp-runner ARGS`` to completion: ``run_cli("plugins", "--json", env={...})``."""

    def run(
        *args: str,
        allow: Iterable[str] | None = None,
        env: dict[str, str] | None = None,
        input: str | None = None,
        stdin_open: bool = False,
        timeout: float = 30.0,
    ) -> CliResult:
        """`stdin_open`: keep stdin open (a `serve` that went on serving would not exit);
        on timeout the process is killed and `returncode` is None."""
        command = [*runner_command(), *args]
        started = time.monotonic()
        with subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=server_env(allow, **(env or {})),
            cwd=tmp_path,
        ) as proc:
            try:
                if stdin_open:
                    out, err = _communicate_keeping_stdin(proc, timeout)
                else:
                    out, err = proc.communicate((input or "").encode(), timeout=timeout)
                code: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                code = None
        return CliResult(
            code,  # type: ignore[arg-type]
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
            time.monotonic() - started,
            command,
        )

    return run


def _communicate_keeping_stdin(
    proc: subprocess.Popen[bytes], timeout: float
) -> tuple[bytes, bytes]:
    chunks: dict[str, bytes] = {}

    def read(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    readers = [
        threading.Thread(target=read, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=read, args=("err", proc.stderr), daemon=True),
    ]
    for thread in readers:
        thread.start()
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.stdin:
            proc.stdin.close()
    for thread in readers:
        thread.join(timeout=5)
    return chunks.get("out", b""), chunks.get("err", b"")


@pytest.fixture(scope="session")
def test_dists_installed() -> dict[str, str]:
    """The test distributions (tests/fixtures/dists) must be installed: tox does it."""
    missing = []
    for dist in TEST_DISTS:
        try:
            metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        pytest.fail(
            f"test distributions not installed: {', '.join(missing)}; run "
            f"`pip install {DISTS_DIR}/*` in the test environment",
            pytrace=False,
        )
    return dict(TEST_DISTS)


class WireLog:
    """The traffic recorded by tests/fixtures/wiretap.py, validated message by message."""

    def __init__(self, path: Path, schemas: McpSchemas) -> None:
        self.path = path
        self.schemas = schemas

    def entries(self) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        rows = [
            json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line
        ]
        return [(row["dir"], row["line"]) for row in rows if row["line"].strip()]

    def client_messages(self) -> list[Any]:
        return [json.loads(line) for direction, line in self.entries() if direction == "c2s"]

    def server_messages(self) -> list[Any]:
        return [json.loads(line) for direction, line in self.entries() if direction == "s2c"]

    def validate(self) -> list[tuple[str, Any]]:
        """Validate every server message against the schema of its request's (or the
        session's) protocol version; returns ``[(version, message), ...]``."""
        pending: dict[Any, _Pending] = {}
        session: str | None = None
        checked = []
        for direction, line in self.entries():
            try:
                message = json.loads(line)
            except ValueError as exc:
                raise SchemaViolation(
                    f"{direction} line is not JSON ({exc}): {line[:500]!r}"
                ) from None
            if direction == "c2s":
                if isinstance(message, dict) and "method" in message and "id" in message:
                    params = message.get("params")
                    meta = params.get("_meta") if isinstance(params, dict) else None
                    version = meta.get(META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
                    pending[message["id"]] = _Pending(message["method"], version)
                continue
            if isinstance(message, dict) and "method" not in message:
                request = pending.pop(message.get("id"), None)
                version = (request.version if request else None) or session or LATEST_LEGACY
                if request and request.method == "initialize" and "result" in message:
                    session = version = message["result"].get("protocolVersion")
                self.schemas.validate(message, version, request.method if request else None)
            else:
                version = session or MODERN_VERSION
                self.schemas.validate(message, version)
            checked.append((version, message))
        return checked


@dataclass
class SdkServer:
    params: Any  # mcp.StdioServerParameters
    wire: WireLog


@pytest.fixture
def sdk_stdio(tmp_path: Path, mcp_schemas: McpSchemas) -> Callable[..., SdkServer]:
    """`StdioServerParameters` for the official SDK client: `mcp-runner serve` behind the
    wiretap, with the fixture plugins. Validate the traffic with ``.wire.validate()``."""
    from mcp import StdioServerParameters

    counter = itertools.count()

    def make(
        plugins: Iterable[str] = E2E_PLUGINS,
        *,
        allow: Iterable[str] | str | None = "plugins",
        env: dict[str, str] | None = None,
    ) -> SdkServer:
        plugins = tuple(plugins)
        allowed = plugins if allow == "plugins" else allow
        log = tmp_path / f"wire-{next(counter)}.jsonl"
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(WIRETAP), str(log), "--", *serve_args(plugins)],
            env=server_env(allowed, **(env or {})),  # type: ignore[arg-type]
            cwd=str(tmp_path),
        )
        return SdkServer(params, WireLog(log, mcp_schemas))

    return make
