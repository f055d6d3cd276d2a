# ruff: noqa: UP031 - JSON-RPC templates read better with %-formatting
"""Property-based fuzzing of the JSON-RPC layer, driven in process through `StdioServer`.

Each case opens a fresh stdio connection (`StdioServer` with a list as its writer) on one event
loop, feeds it bytes, waits until everything it started has finished, and checks:

* the server never raises out of ``feed`` nor logs an unhandled exception, and never hangs;
* every request (an object with a valid id and a string method) gets exactly ONE response with
  that id; invalid messages get one JSON-RPC error; notifications and responses get nothing;
* every line written is one JSON value, valid UTF-8, and every message validates against the
  MCP schema of its protocol version (legacy session version, or 2026-07-28 for ``_meta``
  envelope requests); no request is answered with an internal error (-32603): the fuzz target's
  components never fail, so a -32603 means the server did not validate its input;
* afterwards the same connection still answers ``ping`` and a 2026-07-28 ``tools/list``.

The bugs found this way keep a regression test each at the bottom.
Run with ``-s`` (or look at the "fuzz cases" summary section) for the number of cases run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "faulty"))

import faulty_harness as H
import fuzz_target
from fuzz_strategies import (
    FUZZ,
    TOOLS,
    _hashable,
    is_modern,
    json_values,
    mcp_messages,
    negotiate,
    responses_to_server,
    valid_ids,
    valid_requests,
)
from mcp_runner.config import Settings
from mcp_runner.runner import Runner
from mcp_runner.transports.stdio import StdioServer
from test_json_nesting import assert_nesting_answer, levels_around, nested

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SETTLE_TIMEOUT = 5.0  # a case whose requests are not all answered by then has hung
MAX_MESSAGE = 4 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# The connection under test


class StdioEnv(H.LoopEnv):
    """One event loop and one composed runner for the whole module; a connection per case."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = Runner(
            Settings(), plugins={"fuzz": fuzz_target.plugin}, entry_points=False
        ).start()


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest) -> Any:
    H.register_counter(request.config)
    e = StdioEnv()
    yield e
    e.close()


class Conn:
    def __init__(
        self, env: StdioEnv, max_message: int = MAX_MESSAGE, max_in_flight: int = 1024
    ) -> None:
        self.env = env
        self.out: list[bytes] = []
        self.server = StdioServer(
            env.runner, self.out.append, max_message=max_message, max_in_flight=max_in_flight
        )
        self.read = 0  # how many written chunks were consumed

    def feed(self, data: bytes) -> None:
        try:
            self.server.feed(data)
        except BaseException as exc:
            raise H.Violation(f"StdioServer.feed raised {type(exc).__name__}: {exc}") from exc

    def take(self) -> list[Any]:
        """Everything written since the last take, parsed (each write: one line, one JSON value)."""
        chunks, self.read = self.out[self.read :], len(self.out)
        values = []
        for chunk in chunks:
            if not chunk.endswith(b"\n") or chunk.count(b"\n") != 1:
                raise H.Violation(f"a write must be exactly one line: {chunk[:300]!r}")
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise H.Violation(f"output is not UTF-8: {exc}") from None
            try:
                values.append(json.loads(text))
            except ValueError as exc:
                raise H.Violation(f"output line is not JSON ({exc}): {chunk[:300]!r}") from None
        return values


async def settle(conn: Conn, want: dict[Any, int], timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until every id in `want` has its responses and nothing the case started still runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    me = asyncio.current_task()
    while True:
        await asyncio.sleep(0)
        busy = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not busy and not conn.server.session.in_flight:
            await asyncio.sleep(0)
            if not [t for t in asyncio.all_tasks() if t is not me and not t.done()]:
                return
        if loop.time() > deadline:
            raise H.Violation(
                f"hang: still running after {timeout} s: in flight {list(conn.server.session.in_flight)[:10]}, "
                f"{len(busy)} tasks; wanted {dict(list(want.items())[:10])}"
            )
        await asyncio.sleep(0.002 if busy else 0)


# ---------------------------------------------------------------------------------------------
# The model: what the server must answer


@dataclass
class Expectation:
    version: str | None = None  # the session's version as the model sees it
    counts: Counter[Any] = field(default_factory=Counter)  # id -> responses expected
    methods: dict[Any, list[tuple[str, str]]] = field(
        default_factory=dict
    )  # id -> [(version, method)]
    maybe: set[Any] = field(default_factory=set)  # ids that may get one response fewer (cancelled)
    flex: list[Any] = field(
        default_factory=list
    )  # invalid messages with a valid id: that id, or null
    null_min: int = 0
    null_max: int = 0
    arrays_min: int = 0
    arrays_max: int = 0
    error_only: set[Any] = field(default_factory=set)  # ids whose answer must be an error
    in_flight: set[Any] = field(default_factory=set)

    # -- classification ------------------------------------------------------------------------
    def line(self, value: Any) -> None:
        """One parsed line (an object, a batch, or any other JSON value)."""
        if isinstance(value, list):
            if self.version != "2025-03-26" or not value:
                self.null_min += 1
                self.null_max += 1
                return
            before = (self.null_min, self.null_max, sum(self.counts.values()), len(self.flex))
            saved = self.version
            for item in value:
                self.message(item)
            self.version = saved  # batch members run later, in a task: the line order is kept
            after = (self.null_min, self.null_max, sum(self.counts.values()), len(self.flex))
            definitely = after[0] > before[0] or after[2] > before[2] or after[3] > before[3]
            possibly = definitely or after[1] > before[1]
            self.arrays_min += 1 if definitely else 0
            self.arrays_max += 1 if possibly else 0
            return
        self.message(value)

    def message(self, m: Any) -> None:
        if not isinstance(m, dict):
            self._null()
            return
        has_id = "id" in m
        mid = m.get("id")
        method = m.get("method")
        if m.get("jsonrpc") != "2.0":
            self._invalid(mid)
            return
        if method is None:
            if has_id and ("result" in m or "error" in m):
                return  # a response to the server: nothing comes back
            self._invalid(mid)
            return
        if not isinstance(method, str):
            self._invalid(mid)
            return
        params = m.get("params", {})
        if not has_id:
            if not isinstance(params, dict):
                self.null_max += 1  # an invalid notification: an error is allowed, not required
                return
            if method == "notifications/cancelled" and _hashable(params.get("requestId")):
                target = params.get("requestId")
                if target in self.counts:
                    self.maybe.add(target)  # cancelled: answered only if it finished first
            return
        if not H.is_request_id(mid):
            self._null()
            return
        if not isinstance(params, dict):
            self._request(mid, self.version or H.LATEST_LEGACY, method, error=True)
            return
        if is_modern(params):
            self._request(mid, H.MODERN, method)
            return
        if method == "initialize":
            self.version = negotiate(params.get("protocolVersion"))
            self._request(mid, self.version, method)
            return
        self._request(mid, self.version or H.LATEST_LEGACY, method)

    def _null(self) -> None:
        self.null_min += 1
        self.null_max += 1

    def _invalid(self, mid: Any) -> None:
        if H.is_request_id(mid):
            self.flex.append(mid)
        else:
            self._null()

    def _request(self, mid: Any, version: str, method: str, error: bool = False) -> None:
        self.counts[mid] += 1
        self.methods.setdefault(mid, []).append((version, method))
        if error:
            self.error_only.add(mid)

    # -- checking ------------------------------------------------------------------------------
    def check(self, outputs: list[Any]) -> list[dict[str, Any]]:
        """Check everything a case wrote; returns the responses."""
        arrays = [o for o in outputs if isinstance(o, list)]
        if not self.arrays_min <= len(arrays) <= self.arrays_max:
            raise H.Violation(
                f"expected {self.arrays_min}..{self.arrays_max} batch answers, got {len(arrays)}: {H.short(arrays)}"
            )
        for array in arrays:
            if not array:
                raise H.Violation(
                    "an empty array was written (a batch with nothing to answer writes nothing)"
                )
        messages = [m for o in outputs for m in (o if isinstance(o, list) else [o])]
        responses = []
        by_id: Counter[Any] = Counter()
        nulls = 0
        for m in messages:
            if isinstance(m, dict) and "method" in m and "id" not in m:
                self._check_notification(m)
                continue
            if not isinstance(m, dict):
                raise H.Violation(f"not a JSON-RPC message: {H.short(m)}")
            responses.append(m)
            rid = m.get("id")
            if rid is None:
                nulls += 1
                H.check_message(m, self.version or H.LATEST_LEGACY)
                continue
            if not _hashable(rid) or (rid not in self.counts and rid not in self.flex):
                raise H.Violation(
                    f"a response to an id that was never sent as a request: {H.short(m)}"
                )
            by_id[rid] += 1
            self._check_response(m)
        flex_unmatched = 0
        flex_counts = Counter(self.flex)
        for rid in set(self.counts) | set(flex_counts):
            n_req, n_flex, got = self.counts.get(rid, 0), flex_counts.get(rid, 0), by_id[rid]
            low = n_req - (1 if rid in self.maybe else 0)
            if not low <= got <= n_req + n_flex:
                raise H.Violation(
                    f"request id {rid!r}: expected {low}..{n_req + n_flex} response(s), got {got}: {H.short(responses)}"
                )
            flex_unmatched += n_flex - min(n_flex, max(0, got - n_req))
        if not self.null_min + flex_unmatched <= nulls <= self.null_max + flex_unmatched:
            raise H.Violation(
                f"expected {self.null_min + flex_unmatched}..{self.null_max + flex_unmatched} errors "
                f"with a null id, got {nulls}: {H.short(responses)}"
            )
        for m in responses:
            err = m.get("error")
            if isinstance(err, dict) and err.get("code") == -32603:
                raise H.Violation(f"internal error answered to a client mistake: {H.short(m)}")
        return responses

    def _check_response(self, m: dict[str, Any]) -> None:
        rid = m["id"]
        candidates = self.methods.get(rid) or [(self.version or H.LATEST_LEGACY, None)]
        if rid in self.error_only and "error" not in m:
            raise H.Violation(f"an invalid request was answered with a result: {H.short(m)}")
        problems = []
        for version, method in candidates:
            if method == "initialize" and "result" in m and isinstance(m["result"], dict):
                version = m["result"].get("protocolVersion", version)
            try:
                H.check_message(m, version, method)
                return
            except H.Violation as exc:
                problems.append(str(exc))
        raise H.Violation(problems[0])

    def _check_notification(self, m: dict[str, Any]) -> None:
        problems = []
        for version in {self.version or H.LATEST_LEGACY, H.MODERN}:
            try:
                H.check_message(m, version)
                return
            except H.Violation as exc:
                problems.append(str(exc))
        raise H.Violation(problems[0])


# ---------------------------------------------------------------------------------------------
# Running one case


LIVE = {"n": 0}


async def _liveness(conn: Conn) -> None:
    """The connection still answers a legacy ping and a 2026-07-28 tools/list."""
    LIVE["n"] += 1
    ping_id, list_id = f"__live_ping_{LIVE['n']}", f"__live_list_{LIVE['n']}"
    conn.feed(json.dumps({"jsonrpc": "2.0", "id": ping_id, "method": "ping"}).encode() + b"\n")
    conn.feed(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": list_id,
                "method": "tools/list",
                "params": {"_meta": H.modern_meta()},
            }
        ).encode()
        + b"\n"
    )
    await settle(conn, {ping_id: 1, list_id: 1})
    got = {m.get("id"): m for m in conn.take() if isinstance(m, dict) and "id" in m}
    assert "result" in got.get(ping_id, {}), f"ping after the case failed: {got}"
    listed = got.get(list_id, {})
    assert "result" in listed and {t["name"] for t in listed["result"]["tools"]} >= set(TOOLS), (
        listed
    )


async def run_case(
    env: StdioEnv,
    blobs: list[bytes],
    *,
    setup: str | None = None,
    expect: Expectation | None = None,
    chunks: list[int] | None = None,
    yield_between: bool = False,
    max_message: int = MAX_MESSAGE,
) -> list[dict[str, Any]]:
    """Feed `blobs` (each already newline-terminated) to a fresh connection and check it.

    `setup`: a legacy version to initialize first, "modern" or None (nothing). `expect`: the
    model (None: only the weak properties: well-formed output, no crash, no hang).
    """
    conn = Conn(env, max_message=max_message)
    try:
        version = None
        if setup and setup != "modern":
            conn.feed(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": "__init",
                        "method": "initialize",
                        "params": H.initialize_params(setup),
                    }
                ).encode()
                + b"\n"
            )
            conn.feed(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            await settle(conn, {"__init": 1})
            init = conn.take()
            assert init and init[0]["result"]["protocolVersion"] == setup, init
            version = setup
        if expect is not None:
            expect.version = version
            for blob in blobs:
                for raw in blob.split(b"\n"):
                    if raw.strip():
                        try:
                            expect.line(json.loads(raw.decode("utf-8")))
                        except ValueError:
                            expect._null()  # unparseable: a parse error
        data = b"".join(blobs)
        points = sorted({p for p in (chunks or []) if 0 < p < len(data)})
        start = 0
        for p in [*points, len(data)]:
            conn.feed(data[start:p])
            start = p
            if yield_between:
                await asyncio.sleep(0)
        await settle(conn, dict(expect.counts) if expect else {})
        outputs = conn.take()
        responses: list[dict[str, Any]]
        if expect is not None:
            responses = expect.check(outputs)
        else:
            responses = []
            for o in outputs:
                for m in o if isinstance(o, list) else [o]:
                    H.check_message(m, version or H.LATEST_LEGACY)
                    responses.append(m)
        await _liveness(conn)
        if env.loop_errors:
            ctx = env.loop_errors[0]
            env.loop_errors.clear()
            raise H.Violation(
                f"unhandled exception in the event loop: {ctx.get('message')}: {ctx.get('exception')!r}"
            )
        return responses
    finally:
        conn.server.session.close()


def run(env: StdioEnv, test: str, blobs: list[bytes], **kw: Any) -> list[dict[str, Any]]:
    H.COUNTER.add(test)
    return env.run(run_case(env, blobs, **kw))


def line(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


# ---------------------------------------------------------------------------------------------
# Strategies


# ---------------------------------------------------------------------------------------------
# Properties


@FUZZ
@given(message=mcp_messages(), setup=st.sampled_from([None, "modern", *H.LEGACY_VERSIONS]))
def test_one_message_one_answer(env: StdioEnv, message: Any, setup: str | None) -> None:
    """Each field of each method right, wrong or missing; legacy and 2026-07-28 envelopes."""
    run(env, "jsonrpc: one message", [line(message)], setup=setup, expect=Expectation())


@FUZZ
@given(data=st.data(), setup=st.sampled_from(["modern", *H.LEGACY_VERSIONS]))
def test_valid_requests_succeed(env: StdioEnv, data: Any, setup: str) -> None:
    """Valid requests (with unknown _meta keys, progress tokens, log levels): a result each."""
    message = data.draw(valid_requests(setup == "modern"))
    responses = run(
        env, "jsonrpc: valid requests", [line(message)], setup=setup, expect=Expectation()
    )
    assert len(responses) == 1 and "result" in responses[0], (message, responses)
    assert not responses[0]["result"].get("isError"), responses


@FUZZ
@given(value=json_values, setup=st.sampled_from([None, "2025-03-26", H.LATEST_LEGACY]))
def test_any_json_value(env: StdioEnv, value: Any, setup: str | None) -> None:
    """Any JSON value as a line: objects that are not messages, scalars, arrays (batches)."""
    run(env, "jsonrpc: any JSON value", [line(value)], setup=setup, expect=Expectation())


@FUZZ
@given(message=responses_to_server, setup=st.sampled_from([None, H.LATEST_LEGACY, "2025-03-26"]))
def test_responses_sent_to_the_server(env: StdioEnv, message: Any, setup: str | None) -> None:
    """Responses the server never asked for are ignored (no answer, nothing breaks)."""
    run(env, "jsonrpc: responses to the server", [line(message)], setup=setup, expect=Expectation())


@settings(FUZZ, max_examples=100)
@given(data=st.data(), setup=st.sampled_from([None, "modern", *H.LEGACY_VERSIONS]))
def test_pipelined_messages_in_random_chunks(env: StdioEnv, data: Any, setup: str | None) -> None:
    """Several messages back to back, cut into chunks anywhere (mid-line, mid-UTF-8 sequence)."""
    messages = data.draw(st.lists(mcp_messages() | responses_to_server, min_size=1, max_size=8))
    # bug H: cancelling a request whose task has not started yet leaks its in-flight entry
    sent = {
        m.get("id")
        for m in messages
        if isinstance(m, dict) and "method" in m and _hashable(m.get("id"))
    }
    assume(
        not any(
            isinstance(m, dict)
            and m.get("method") == "notifications/cancelled"
            and isinstance(m.get("params"), dict)
            and _hashable(m["params"].get("requestId"))
            and m["params"].get("requestId") in sent
            for m in messages
        )
    )
    blobs = [line(m) for m in messages]
    size = sum(len(b) for b in blobs)
    chunks = data.draw(st.lists(st.integers(0, size), max_size=6))
    run(
        env,
        "jsonrpc: pipelined",
        blobs,
        setup=setup,
        expect=Expectation(),
        chunks=chunks,
        yield_between=data.draw(st.booleans()),
    )


@FUZZ
@given(
    items=st.lists(
        mcp_messages(
            [
                "ping",
                "tools/list",
                "tools/call",
                "prompts/get",
                "notifications/initialized",
                "logging/setLevel",
            ]
        )
        | responses_to_server
        | json_values,
        max_size=6,
    ),
    setup=st.sampled_from([None, "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]),
)
def test_batches(env: StdioEnv, items: list[Any], setup: str | None) -> None:
    """Arrays: answered with an array only in 2025-03-26 sessions, else one -32600 error."""
    ids = [
        m["id"]
        for m in items
        if isinstance(m, dict) and "method" in m and H.is_request_id(m.get("id"))
    ]
    assume(len(ids) == len(set(ids)))
    responses = run(env, "jsonrpc: batches", [line(items)], setup=setup, expect=Expectation())
    if setup != "2025-03-26" or not items:
        assert (
            len(responses) == 1
            and responses[0]["error"]["code"] == -32600
            and responses[0]["id"] is None
        )


@settings(FUZZ, max_examples=200)
@given(raw=st.binary(max_size=300))
def test_random_bytes(env: StdioEnv, raw: bytes) -> None:
    """Random bytes: at most one error per line, never a crash or a hang."""
    lines = [r for r in raw.split(b"\n") if r.strip()]
    responses = run(env, "jsonrpc: random bytes", [raw + b"\n"], setup=H.LATEST_LEGACY)
    assert len(responses) <= len(lines)


@FUZZ
@given(
    message=mcp_messages(["tools/call", "ping", "prompts/get"]),
    cut=st.integers(0, 10_000),
    junk=st.sampled_from(
        [
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\x80\x80",
            b"\xfe\xfe",
        ]
    ),
)
def test_invalid_utf8(env: StdioEnv, message: Any, cut: int, junk: bytes) -> None:
    """Invalid UTF-8 anywhere in a line: a parse error (-32700, id null), then business as usual."""
    body = line(message)[:-1]
    at = cut % (len(body) + 1)
    responses = run(
        env, "jsonrpc: invalid UTF-8", [body[:at] + junk + body[at:] + b"\n"], setup=H.LATEST_LEGACY
    )
    assert (
        len(responses) == 1
        and responses[0]["id"] is None
        and responses[0]["error"]["code"] == -32700
    ), responses


@settings(FUZZ, max_examples=60)
@given(
    depth=st.sampled_from(
        [1, 10, 100, 200, 201, 300, 505, 508, 509, 510, 511, 512, 513, 1000, 5000, 100_000]
    ),
    where=st.sampled_from(["line", "id", "params", "arguments", "meta", "text_in_args", "cursor"]),
    kind=st.sampled_from(["[", "{"]),
    setup=st.sampled_from([H.LATEST_LEGACY, "2025-03-26", "modern"]),
)
def test_deep_nesting(env: StdioEnv, depth: int, where: str, kind: str, setup: str) -> None:
    """Nesting on both sides of MAX_NESTING, anywhere in a message: an answer up to the limit,
    the parse error beyond it, whatever the interpreter's recursion limit."""
    meta = ',"_meta":' + json.dumps(H.modern_meta()) if setup == "modern" else ""
    templates = {
        "line": "%s",
        "id": '{"jsonrpc":"2.0","id":%s,"method":"ping"}',
        "params": '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":%s}',
        "arguments": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":%s}'
        + meta
        + "}}",
        "meta": '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":%s}}',
        "text_in_args": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pick","arguments":{"color":"red","extra":{"x":%s}}'
        + meta
        + "}}",
        "cursor": '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":%s'
        + meta
        + "}}",
    }
    text = templates[where] % nested(depth, kind)
    responses = run(env, "jsonrpc: deep nesting", [text.encode() + b"\n"], setup=setup)
    assert_nesting_answer(responses, levels_around(templates[where]) + depth)


@settings(FUZZ, max_examples=30)
@given(
    size=st.sampled_from([10_000, 100_000, 1_000_000, 3_000_000]),
    where=st.sampled_from(["echo", "tool_name", "method", "id", "cursor", "meta_key", "uri"]),
    setup=st.sampled_from([H.LATEST_LEGACY, "modern"]),
)
def test_huge_strings(env: StdioEnv, size: int, where: str, setup: str) -> None:
    """Megabyte strings in every position (under the 4 MiB message limit)."""
    big = "x" * size
    meta = {"_meta": H.modern_meta()} if setup == "modern" else {}
    messages = {
        "echo": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": big}, **meta},
        },
        "tool_name": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": big, **meta},
        },
        "method": {"jsonrpc": "2.0", "id": 1, "method": big, "params": meta},
        "id": {"jsonrpc": "2.0", "id": big, "method": "tools/list", "params": meta},
        "cursor": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/list",
            "params": {"cursor": big, **meta},
        },
        "meta_key": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/list",
            "params": {"_meta": {**meta.get("_meta", {}), big: 1}},
        },
        "uri": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "resources/read",
            "params": {"uri": big, **meta},
        },
    }
    responses = run(
        env, "jsonrpc: huge strings", [line(messages[where])], setup=setup, expect=Expectation()
    )
    assert len(responses) == 1
    if where == "echo":
        assert responses[0]["result"]["content"][0]["text"] == big


@FUZZ
@given(
    rid=valid_ids,
    method=st.sampled_from(["ping", "tools/list", "tools/call"]),
    setup=st.sampled_from([H.LATEST_LEGACY, "2024-11-05", "modern"]),
)
def test_duplicate_in_flight_ids(env: StdioEnv, rid: Any, method: str, setup: str) -> None:
    """The same id twice while the first is in flight: the first answered, the second refused."""
    assume(not (setup == "modern" and method == "ping"))  # ping does not exist in 2026-07-28
    params: dict[str, Any] = (
        {"name": "nap", "arguments": {"ms": 20}} if method == "tools/call" else {}
    )
    if setup == "modern":
        params["_meta"] = H.modern_meta()
    message = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    responses = run(
        env,
        "jsonrpc: duplicate ids",
        [line(message), line(message)],
        setup=setup,
        expect=Expectation(),
    )
    assert len(responses) == 2 and all(r["id"] == rid for r in responses), responses
    errors = [r for r in responses if "error" in r]
    assert (
        len(errors) == 1
        and errors[0]["error"]["code"] == -32600
        and "in flight" in errors[0]["error"]["message"]
    )
    # once answered, the id may be used again
    again = run(env, "jsonrpc: duplicate ids", [line(message)], setup=setup, expect=Expectation())
    assert "result" in again[0]


@FUZZ
@given(
    method=st.sampled_from(
        [
            "notifications/initialized",
            "notifications/cancelled",
            "notifications/progress",
            "notifications/roots/list_changed",
            "notifications/whatever",
        ]
    ),
    rid=valid_ids,
    setup=st.sampled_from([None, H.LATEST_LEGACY, "modern"]),
)
def test_notifications_with_and_without_id(
    env: StdioEnv, method: str, rid: Any, setup: str | None
) -> None:
    """A notification method sent with an id is a request (one error); without, it is silent."""
    with_id = {"jsonrpc": "2.0", "id": rid, "method": method, "params": {"requestId": 424242}}
    without = {"jsonrpc": "2.0", "method": method, "params": {"requestId": 424242}}
    responses = run(
        env,
        "jsonrpc: notifications",
        [line(without), line(with_id), line(without)],
        setup=setup,
        expect=Expectation(),
    )
    assert len(responses) == 1 and responses[0]["id"] == rid and "error" in responses[0], responses


@FUZZ
@given(
    digits=st.integers(1, 9000),
    where=st.sampled_from(["id", "argument", "line"]),
)
def test_long_integers(env: StdioEnv, digits: int, where: str) -> None:
    """Integers up to the parser's 4300-digit limit are numbers; longer ones are parse errors."""
    number = "7" * digits
    text = {
        "id": '{"jsonrpc":"2.0","id":%s,"method":"ping"}' % number,
        "argument": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":%s,"b":1}}}'
        % number,
        "line": number,
    }[where]
    responses = run(env, "jsonrpc: long integers", [text.encode() + b"\n"], setup=H.LATEST_LEGACY)
    assert len(responses) == 1
    if digits > 4300:
        assert responses[0]["error"]["code"] == -32700 and responses[0]["id"] is None
    elif where == "id":
        assert responses[0]["id"] == int(number) and "result" in responses[0]


# ---------------------------------------------------------------------------------------------
# Deterministic edge cases


def test_blank_and_whitespace_lines_are_ignored(env: StdioEnv) -> None:
    responses = run(
        env,
        "jsonrpc: edge cases",
        [b"\n", b"   \n", b"\r\n", b"\t \t\n"],
        setup=H.LATEST_LEGACY,
        expect=Expectation(),
    )
    assert responses == []


def test_crlf_line_endings(env: StdioEnv) -> None:
    responses = run(
        env,
        "jsonrpc: edge cases",
        [b'{"jsonrpc":"2.0","id":7,"method":"ping"}\r\n'],
        setup=H.LATEST_LEGACY,
        expect=Expectation(),
    )
    assert responses == [{"jsonrpc": "2.0", "id": 7, "result": {}}]


def test_empty_batch_is_one_invalid_request(env: StdioEnv) -> None:
    for setup in ("2025-03-26", H.LATEST_LEGACY):
        responses = run(env, "jsonrpc: edge cases", [b"[]\n"], setup=setup, expect=Expectation())
        assert (
            len(responses) == 1
            and responses[0]["error"]["code"] == -32600
            and responses[0]["id"] is None
        )


def test_batch_of_notifications_writes_nothing(env: StdioEnv) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}},
    ]
    responses = run(
        env, "jsonrpc: edge cases", [line(batch)], setup="2025-03-26", expect=Expectation()
    )
    assert responses == []


def test_nan_and_infinity_literals_are_parse_errors(env: StdioEnv) -> None:
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        text = (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":%s,"b":1}}}\n'
            % literal
        )
        responses = run(env, "jsonrpc: edge cases", [text], setup=H.LATEST_LEGACY)
        assert responses[0]["error"]["code"] == -32700 and responses[0]["id"] is None


def test_cancelled_request_gets_no_answer(env: StdioEnv) -> None:
    """notifications/cancelled withdraws an in-flight request: no response for it (spec)."""
    call = {
        "jsonrpc": "2.0",
        "id": "slow-1",
        "method": "tools/call",
        "params": {"name": "nap", "arguments": {"ms": 50}},
    }
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": "slow-1"},
    }
    # the cancel comes in a later chunk, once the request is running
    responses = run(
        env,
        "jsonrpc: edge cases",
        [line(call), line(cancel)],
        setup=H.LATEST_LEGACY,
        expect=Expectation(),
        chunks=[len(line(call))],
        yield_between=True,
    )
    assert responses == []


def test_bug_cancel_in_the_same_chunk_leaks_in_flight_slot(env: StdioEnv) -> None:
    async def case() -> tuple[list[Any], list[Any]]:
        conn = Conn(env, max_in_flight=2)
        conn.feed(
            line(
                {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": H.initialize_params()}
            )
        )
        await asyncio.sleep(0.05)
        blob = b""
        for rid in ("a", "b"):
            blob += line(
                {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "method": "tools/call",
                    "params": {"name": "nap", "arguments": {"ms": 5}},
                }
            )
            blob += line(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": rid},
                }
            )
        conn.feed(blob)
        await asyncio.sleep(0.1)
        leaked = list(conn.server.session.in_flight)
        conn.feed(line({"jsonrpc": "2.0", "id": "a", "method": "ping"}))
        conn.feed(line({"jsonrpc": "2.0", "id": "c", "method": "ping"}))
        await asyncio.sleep(0.1)
        out = conn.take()
        conn.server.session.close()
        return leaked, out

    leaked, outputs = env.run(case())
    assert leaked == [], leaked
    assert [o for o in outputs if o.get("id") in ("a", "c")] == [
        {"jsonrpc": "2.0", "id": "a", "result": {}},
        {"jsonrpc": "2.0", "id": "c", "result": {}},
    ], outputs


# ---------------------------------------------------------------------------------------------
# Regression tests for the bugs the fuzzers found


async def _feed_and_collect(
    env: StdioEnv, lines: list[bytes], setup: str | None = H.LATEST_LEGACY
) -> tuple[list[Any], list[str]]:
    """Feed lines one at a time (a fresh connection); returns (outputs, problems)."""
    conn = Conn(env)
    problems: list[str] = []
    if setup:
        conn.feed(
            line(
                {
                    "jsonrpc": "2.0",
                    "id": "__init",
                    "method": "initialize",
                    "params": H.initialize_params(setup),
                }
            )
        )
        await settle(conn, {"__init": 1})
        conn.take()
    for raw in lines:
        try:
            conn.server.feed(raw)
        except BaseException as exc:
            problems.append(f"feed raised {type(exc).__name__}: {exc}")
        for _ in range(20):
            await asyncio.sleep(0.005)
    gc.collect()
    await asyncio.sleep(0.01)
    problems += [f"loop: {c.get('message')} {c.get('exception')!r}" for c in env.loop_errors]
    env.loop_errors.clear()
    outputs: list[Any] = []
    for chunk in conn.out[conn.read :]:
        try:
            outputs.append(json.loads(chunk, parse_constant=_not_json))
        except ValueError as exc:
            problems.append(f"output is not JSON ({exc}): {chunk[:200]!r}")
    conn.server.session.close()
    return outputs, problems


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _ids(outputs: list[Any]) -> list[Any]:
    return [o.get("id") for o in outputs if isinstance(o, dict)]


@pytest.mark.parametrize("bad_id", [[1], {"a": 1}])
def test_bug_unhashable_response_id_wedges_the_connection(env: StdioEnv, bad_id: Any) -> None:
    outputs, problems = env.run(
        _feed_and_collect(
            env,
            [
                line({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
                line({"jsonrpc": "2.0", "id": bad_id, "result": {}}),
                line({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
                line({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
            ],
        )
    )
    assert _ids(outputs) == [1, 2, 3] and not problems, (outputs, problems)


def test_bug_cancel_with_unhashable_request_id(env: StdioEnv) -> None:
    outputs, problems = env.run(
        _feed_and_collect(
            env,
            [
                line(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/cancelled",
                        "params": {"requestId": [1]},
                    }
                ),
                line({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
            ],
        )
    )
    assert _ids(outputs) == [2] and not problems, (outputs, problems)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_bug_batch_with_unhashable_response_id_loses_answers(env: StdioEnv) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": [9], "result": {}},
    ]
    outputs, problems = env.run(
        _feed_and_collect(
            env,
            [line(batch), line({"jsonrpc": "2.0", "id": 2, "method": "ping"})],
            setup="2025-03-26",
        )
    )
    assert outputs and outputs[0] == [{"jsonrpc": "2.0", "id": 1, "result": {}}] and not problems, (
        outputs,
        problems,
    )


@pytest.mark.parametrize("bad_id", [{"a": 1}, [1], 1.5, True])
def test_bug_invalid_id_echoed(env: StdioEnv, bad_id: Any) -> None:
    outputs, _problems = env.run(
        _feed_and_collect(
            env, [line({"jsonrpc": "2.0", "id": bad_id, "method": "ping", "params": 3})]
        )
    )
    assert (
        len(outputs) == 1 and outputs[0]["id"] is None and outputs[0]["error"]["code"] == -32600
    ), outputs
    H.check_message(outputs[0], H.LATEST_LEGACY)


@pytest.mark.parametrize("level", [[], {}, ["info"]])
def test_bug_set_level_unhashable(env: StdioEnv, level: Any) -> None:
    outputs, _ = env.run(
        _feed_and_collect(
            env,
            [
                line(
                    {
                        "jsonrpc": "2.0",
                        "id": 5,
                        "method": "logging/setLevel",
                        "params": {"level": level},
                    }
                )
            ],
        )
    )
    assert outputs[0]["error"]["code"] == -32602, outputs


@pytest.mark.parametrize("level", [[], {"x": 1}])
def test_bug_modern_log_level_unhashable(env: StdioEnv, level: Any) -> None:
    params = {"_meta": H.modern_meta(**{H.META_LEVEL: level})}
    outputs, _ = env.run(
        _feed_and_collect(
            env,
            [line({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": params})],
            setup=None,
        )
    )
    assert outputs[0]["error"]["code"] == -32602, outputs


@pytest.mark.parametrize("where", ["echo", "id"])
def test_bug_lone_surrogate_never_answered(env: StdioEnv, where: str) -> None:
    text = {
        "echo": rb'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\ud800"}}}',
        "id": rb'{"jsonrpc":"2.0","id":"\ud800","method":"ping"}',
    }[where]
    outputs, problems = env.run(
        _feed_and_collect(env, [text + b"\n", line({"jsonrpc": "2.0", "id": 2, "method": "ping"})])
    )
    assert len(outputs) == 2 and not problems, (outputs, problems)


def test_bug_lone_surrogate_id_wedges_the_connection(env: StdioEnv) -> None:
    outputs, problems = env.run(
        _feed_and_collect(
            env,
            [
                rb'{"jsonrpc":"2.0","id":"\ud800","method":"ping","params":5}' + b"\n",
                line({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
            ],
        )
    )
    assert _ids(outputs)[-1:] == [2] and not problems, (outputs, problems)


@pytest.mark.parametrize("token", ["1e400", '{"a":1}', "1.5"])
def test_bug_progress_token_not_validated(env: StdioEnv, token: str) -> None:
    text = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"report","arguments":{"steps":1},'
        '"_meta":{"progressToken":%s}}}' % token
    ).encode()
    outputs, problems = env.run(_feed_and_collect(env, [text + b"\n"]))
    assert not problems, problems
    for message in outputs:
        H.check_message(message, H.LATEST_LEGACY, "tools/call" if "id" in message else None)


def test_oversized_line_in_one_chunk_is_refused(env: StdioEnv) -> None:
    """A whole line over max_message_bytes, arriving in one chunk with its newline, is refused
    (regression: the limit once applied only to an incomplete line)."""

    async def case() -> list[Any]:
        conn = Conn(env, max_message=4096)
        conn.feed(
            line(
                {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": H.initialize_params()}
            )
        )
        await settle(conn, {0: 1})
        conn.take()
        big = line(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x" * 10_000}},
            }
        )
        conn.feed(big + line({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        await settle(conn, {1: 1, 2: 1})
        out = conn.take()
        conn.server.session.close()
        return out

    outputs = env.run(case())
    assert outputs[0].get("error", {}).get("code") == -32600 and outputs[0]["id"] is None, H.short(
        outputs
    )
    assert outputs[-1] == {"jsonrpc": "2.0", "id": 2, "result": {}}


def test_bug_batch_requests_bypass_in_flight_checks(env: StdioEnv) -> None:
    async def case() -> list[Any]:
        conn = Conn(env, max_in_flight=2)
        conn.feed(
            line(
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": H.initialize_params("2025-03-26"),
                }
            )
        )
        await settle(conn, {0: 1})
        conn.take()
        nap = {"name": "nap", "arguments": {"ms": 30}}
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": nap}
            for i in (1, 1, 2, 3, 4)
        ]
        conn.feed(line(batch))
        await settle(conn, {})
        out = conn.take()
        conn.server.session.close()
        return out

    outputs = env.run(case())
    answers = outputs[0]
    errors = [a for a in answers if "error" in a]
    # one duplicate refused, and at most 2 run at once: the rest refused as busy
    assert len(errors) >= 3, answers
