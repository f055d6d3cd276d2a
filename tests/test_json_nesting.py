# ruff: noqa: UP031 - JSON-RPC templates read better with %-formatting
"""The JSON nesting limit (`MAX_NESTING`), exactly, on every Python we claim.

In process and quick, so that every per-Python tox env runs it: MAX_NESTING levels are
answered and one more is the one parse error, over stdio (a line, an id, arguments, _meta, a
batch), over HTTP, and in the parser alone; brackets in strings do not count. The Hypothesis
fuzzing of deep nesting is in test_fuzz_jsonrpc.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "faulty"))

import faulty_harness as H
import fuzz_target
from mcp_runner.config import Settings
from mcp_runner.protocol import jsonrpc
from mcp_runner.protocol.jsonrpc import MAX_NESTING, loads
from mcp_runner.runner import Runner
from mcp_runner.transports.http import http_app
from mcp_runner.transports.stdio import StdioServer

NESTED_TOO_DEEPLY = f"Parse error: JSON nested too deeply (more than {MAX_NESTING} levels)"


def nested(depth: int, kind: str = "[") -> str:
    """A JSON value `depth` levels deep: arrays, or objects."""
    return "[" * depth + "1" + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth


def levels_around(template: str) -> int:
    """How deep the template's `%s` sits: the arrays and objects open before it."""
    before = template.split("%s")[0]
    return sum(before.count(c) for c in "[{") - sum(before.count(c) for c in "]}")


def assert_nesting_answer(responses: list[dict[str, Any]], total: int) -> None:
    """Up to MAX_NESTING levels: an answer that is not a parse error; deeper: the one parse
    error, on every Python."""
    if total > MAX_NESTING:
        assert len(responses) == 1, (total, responses)
        assert responses[0]["id"] is None, (total, responses)
        assert responses[0]["error"] == {"code": -32700, "message": NESTED_TOO_DEEPLY}, total
    else:
        assert responses and all(r.get("error", {}).get("code") != -32700 for r in responses), (
            total,
            responses,
        )


class Env(H.LoopEnv):
    """One event loop and one runner serving the fuzz target's tools (`pick`, `echo`)."""

    timeout = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.runner = Runner(
            Settings(), plugins={"fuzz": fuzz_target.plugin}, entry_points=False
        ).start()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    e = Env()
    yield e
    e.close()


async def over_stdio(env: Env, version: str, line: str) -> list[dict[str, Any]]:
    """The answers to one line on a fresh stdio connection initialized in `version`."""
    out: list[bytes] = []
    limits = env.runner.settings.server
    server = StdioServer(
        env.runner,
        out.append,
        max_message=limits.max_message_bytes,
        max_in_flight=limits.max_in_flight,
    )
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
    initialize["params"] = H.initialize_params(version)
    try:
        server.feed(json.dumps(initialize).encode() + b"\n")
        while not out:
            await asyncio.sleep(0.001)
        server.feed(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        server.feed(line.encode() + b"\n")
        while len(out) < 2:  # the one line answering `line`
            await asyncio.sleep(0.001)
    finally:
        server.session.close()
    answer = json.loads(out[1])
    answers = answer if isinstance(answer, list) else [answer]
    for message in answers:
        H.check_message(message, version)
    return answers


@pytest.mark.parametrize("kind", ["[", "{"])
@pytest.mark.parametrize("where", ["line", "id", "arguments", "meta", "batch"])
def test_nesting_threshold_over_stdio(env: Env, where: str, kind: str) -> None:
    """Exactly MAX_NESTING levels parse and one more is the parse error, wherever the depth is
    reached (a batch included); pydantic-core's own limit (about 200) is invisible."""
    templates = {
        "line": "%s",
        "id": '{"jsonrpc":"2.0","id":%s,"method":"ping"}',
        "arguments": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pick","arguments":{"color":"red","extra":{"x":%s}}}}',
        "meta": '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"x":%s}}}',
        "batch": '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"x":%s}}}]',
    }
    version = "2025-03-26" if where == "batch" else H.LATEST_LEGACY
    around = levels_around(templates[where])
    for total in [around + 1, 199, 200, 201, 202, MAX_NESTING, MAX_NESTING + 1, 3 * MAX_NESTING]:
        line = templates[where] % nested(total - around, kind)
        responses = env.run(over_stdio(env, version, line))
        assert_nesting_answer(responses, total)
        if where == "batch" and total <= MAX_NESTING:
            assert sorted(r["id"] for r in responses) == [1, 2], responses


def test_nesting_threshold_over_http(env: Env) -> None:
    """The same limit and the same error over HTTP: 400 with the parse error."""
    app = http_app(env.runner)
    meta = json.dumps(H.modern_meta())[:-1] + ',"x":%s}'
    template = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":%s}}' % meta
    headers = H.json_headers(mcp_protocol_version=H.MODERN, mcp_method="tools/list")

    async def post(body: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post("/mcp", content=body.encode(), headers=headers)

    around = levels_around(template)
    for total in [MAX_NESTING, MAX_NESTING + 1]:
        resp = env.run(post(template % nested(total - around)))
        answer = resp.json()
        assert_nesting_answer([answer], total)
        assert resp.status_code == (200 if total <= MAX_NESTING else 400), (total, answer)


def test_nesting_limit_of_the_parser() -> None:
    """`loads` alone: bytes and str, arrays and objects, the fast parser and the stdlib
    fallback (a lone surrogate) share the limit; brackets in strings do not count."""
    surrogate = '["\\ud800",%s]'
    for text in [
        nested(MAX_NESTING),
        nested(MAX_NESTING, "{"),
        surrogate % nested(MAX_NESTING - 1),
    ]:
        assert loads(text) == loads(text.encode()) == json.loads(text)
    for text in [
        nested(MAX_NESTING + 1),
        nested(MAX_NESTING + 1, "{"),
        surrogate % nested(MAX_NESTING),
    ]:
        for data in (text, text.encode()):
            with pytest.raises(ValueError, match=r"^JSON nested too deeply"):
                loads(data)
    strings = json.dumps(["[" * 600, "\\", '"{' * 600, "\\["])[:-1]  # escapes, quotes
    assert loads(strings + "," + nested(MAX_NESTING - 1) + "]")[0] == "[" * 600
    with pytest.raises(ValueError, match=r"^JSON nested too deeply"):
        loads(strings + "," + nested(MAX_NESTING) + "]")


def test_nesting_limit_when_the_fast_parser_goes_deeper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were pydantic-core to accept more than MAX_NESTING levels, what it parses is checked."""
    monkeypatch.setattr(jsonrpc, "_fast_parser_unbounded", True)
    monkeypatch.setattr(jsonrpc, "from_json", lambda data, **_: json.loads(data))
    assert loads(nested(MAX_NESTING)) is not None
    with pytest.raises(ValueError, match="nested too deeply"):
        loads(nested(MAX_NESTING + 1).encode())


@given(
    st.recursive(
        st.integers() | st.text('[]{}\\"x', max_size=4),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text('[]{}\\"', max_size=2), inner, max_size=3)
        ),
        max_leaves=40,
    ),
    st.integers(1, 12),
)
def test_nesting_measure(value: Any, limit: int) -> None:
    """The byte-level measure agrees with the depth of the parsed value."""

    def depth(v: Any) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else []
        return 1 + max(map(depth, children), default=0) if isinstance(v, list | dict) else 0

    text = json.dumps(value)
    assert jsonrpc._nests_deeper(text, limit) == (depth(value) > limit)
