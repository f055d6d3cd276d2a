# ruff: noqa: UP031 - JSON-RPC templates read better with %-formatting
"""Property-based fuzzing of the Streamable HTTP endpoint, in process (`McpHttpApp` behind
`httpx.ASGITransport`), with a few real-socket cases at the end.

Each case POSTs one body (an MCP message with each field right, wrong or missing, any JSON value,
random bytes, deep nesting, an oversized body) with fuzzed headers (session id, protocol
version, content type, accept, Mcp-Method / Mcp-Name, Origin, Host), and checks:

* never a 500 and never an unhandled exception: every answer is a status the transport
  defines, with a JSON-RPC body (JSON or SSE) that validates against the MCP schema of the
  request's protocol version (the session's, or 2026-07-28 for stateless requests);
* a request (valid id, string method) is never answered 202: it gets exactly one response with
  its id (200, JSON or the last SSE event) or an HTTP error whose body carries its id or null;
  notifications and responses get 202 (or an HTTP error);
* a JSON array is answered in a 2025-03-26 session (a response for each request in it) and
  refused with a single -32600 error elsewhere;
* afterwards every legacy session (one per handshake version) still answers ``ping`` and a
  2026-07-28 ``tools/list`` still works.

Each bug the fuzzers found keeps a regression test at the bottom.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "faulty"))

import faulty_harness as H
import fuzz_target
from fuzz_strategies import (
    FUZZ,
    TOOLS,
    is_modern,
    json_values,
    mcp_messages,
    responses_to_server,
    valid_ids,
    valid_requests,
)
from mcp_runner.config import HttpSettings, ServerSettings, Settings
from mcp_runner.runner import Runner
from mcp_runner.transports.http import McpHttpApp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MAX_BODY = 256 * 1024
ALLOWED_STATUS = {200, 202, 400, 403, 404, 405, 406, 409, 413, 415, 421, 503}
JSON_CT = "application/json"


class HttpEnv(H.LoopEnv):
    """One event loop, one runner and its ASGI app for the whole module, with a legacy session
    per protocol version (`home`)."""

    timeout = 20.0

    def __init__(self) -> None:
        super().__init__()
        settings_ = Settings(
            server=ServerSettings(max_message_bytes=MAX_BODY),
            http=HttpSettings(max_sessions=100_000),
        )
        self.runner = Runner(
            settings_, plugins={"fuzz": fuzz_target.plugin}, entry_points=False
        ).start()
        self.app = McpHttpApp(self.runner)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://127.0.0.1",
            timeout=10,
        )
        self.home: dict[str, str] = {}  # version -> session id
        self.live = 0
        for version in H.LEGACY_VERSIONS:
            self.home[version] = self.run(self._initialize(version))

    async def _initialize(self, version: str) -> str:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": H.initialize_params(version),
        }
        resp = await self.client.post("/mcp", json=body, headers=H.json_headers())
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"]["protocolVersion"] == version
        sid = resp.headers["mcp-session-id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        resp = await self.client.post("/mcp", json=note, headers=H.json_headers(mcp_session_id=sid))
        assert resp.status_code == 202
        return sid

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.app.close())
        super().close()


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest) -> Any:
    H.register_counter(request.config)
    e = HttpEnv()
    yield e
    e.close()


# ---------------------------------------------------------------------------------------------
# Checking one exchange


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def parse_answer(resp: httpx.Response) -> list[Any]:
    """The JSON-RPC messages of an answer (JSON body, or the data of each SSE event)."""
    ctype = resp.headers.get("content-type", "")
    if resp.status_code == 202:
        if resp.content:
            raise H.Violation(f"202 with a body: {resp.content[:200]!r}")
        return []
    if ctype.startswith(JSON_CT):
        try:
            return [_strict_json(resp.content.decode("utf-8"))]
        except ValueError as exc:
            raise H.Violation(
                f"{resp.status_code} body is not JSON ({exc}): {resp.content[:300]!r}"
            ) from None
    if ctype.startswith("text/event-stream"):
        try:
            return [_strict_json(json.dumps(m)) for m in H.parse_sse(resp.content.decode("utf-8"))]
        except ValueError as exc:
            raise H.Violation(f"SSE data is not JSON ({exc}): {resp.content[:300]!r}") from None
    if ctype.startswith("text/plain") and resp.status_code in (404, 405):
        return []
    raise H.Violation(f"unexpected answer {resp.status_code} {ctype!r}: {resp.content[:300]!r}")


def classify(message: Any) -> tuple[str, Any]:
    """("request", id) | ("silent", None) | ("invalid", id or None)."""
    if not isinstance(message, dict):
        return "invalid", None
    mid = message.get("id")
    if message.get("jsonrpc") != "2.0":
        return "invalid", mid if H.is_request_id(mid) else None
    method = message.get("method")
    if method is None:
        if "id" in message and ("result" in message or "error" in message):
            return "silent", None
        return "invalid", mid if H.is_request_id(mid) else None
    if not isinstance(method, str):
        return "invalid", mid if H.is_request_id(mid) else None
    if "id" not in message:
        return "silent", None
    if not H.is_request_id(mid):
        return "invalid", None
    return "request", mid


def check_exchange(
    env: HttpEnv, resp: httpx.Response, message: Any, version: str, modern: bool
) -> list[Any]:
    if resp.status_code not in ALLOWED_STATUS:
        raise H.Violation(f"status {resp.status_code}: {resp.content[:300]!r}")
    messages = parse_answer(resp)
    kind, rid = classify(message)
    method = message.get("method") if isinstance(message, dict) else None
    responses = [m for m in messages if isinstance(m, dict) and "method" not in m]
    for m in messages:
        if isinstance(m, dict) and "method" in m:
            H.check_message(m, H.MODERN if modern else version)
    if len(responses) > 1:
        raise H.Violation(f"more than one response in one answer: {H.short(messages)}")
    if kind == "request":
        if resp.status_code == 202:
            raise H.Violation(f"a request was answered 202 Accepted: {H.short(message)}")
        if resp.status_code == 200:
            if len(responses) != 1 or responses[0].get("id") != rid:
                raise H.Violation(
                    f"200 without exactly one response to {rid!r}: {H.short(messages)}"
                )
        elif responses and responses[0].get("id") not in (rid, None):
            raise H.Violation(f"an HTTP error carrying another id: {H.short(responses)}")
        if messages and "method" in (messages[-1] if isinstance(messages[-1], dict) else {}):
            raise H.Violation(
                f"an SSE answer whose last event is not the response: {H.short(messages)}"
            )
    elif kind == "silent":
        if resp.status_code == 200 and responses:
            raise H.Violation(f"a notification or response was answered: {H.short(responses)}")
    else:
        if resp.status_code == 202:
            raise H.Violation(f"an invalid message was accepted (202): {H.short(message)}")
    for m in responses:
        use_version = H.MODERN if modern else version
        use_method = (
            method if isinstance(method, str) and kind == "request" and m.get("id") == rid else None
        )
        if use_method == "initialize" and "result" in m:
            use_version = m["result"].get("protocolVersion", use_version)
        H.check_message(m, use_version, use_method)
        err = m.get("error")
        if isinstance(err, dict) and err.get("code") == -32603:
            raise H.Violation(f"internal error answered to a client mistake: {H.short(m)}")
    return responses


async def liveness(env: HttpEnv) -> None:
    env.live += 1
    for version, sid in env.home.items():
        body = {"jsonrpc": "2.0", "id": f"live-{env.live}", "method": "ping"}
        resp = await env.client.post(
            "/mcp",
            json=body,
            headers=H.json_headers(mcp_session_id=sid, mcp_protocol_version=version),
        )
        assert resp.status_code == 200 and resp.json() == {
            "jsonrpc": "2.0",
            "id": body["id"],
            "result": {},
        }, (version, resp.text)
    body = {
        "jsonrpc": "2.0",
        "id": "live-list",
        "method": "tools/list",
        "params": {"_meta": H.modern_meta()},
    }
    resp = await env.client.post(
        "/mcp",
        json=body,
        headers=H.json_headers(mcp_protocol_version=H.MODERN, mcp_method="tools/list"),
    )
    assert resp.status_code == 200, resp.text
    assert {t["name"] for t in resp.json()["result"]["tools"]} >= set(TOOLS)


def finish_case(env: HttpEnv) -> None:
    env.run(liveness(env))
    if env.loop_errors:
        ctx = env.loop_errors[0]
        env.loop_errors.clear()
        raise H.Violation(
            f"unhandled exception in the event loop: {ctx.get('message')}: {ctx.get('exception')!r}"
        )


# ---------------------------------------------------------------------------------------------
# Strategies


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
session_choice = st.sampled_from(["home", "home", "home", "none", "random", "empty"])
version_header = st.one_of(
    st.just("session"),
    st.just("session"),
    st.just(None),
    st.sampled_from([*H.LEGACY_VERSIONS, H.MODERN, " 2026-07-28 ", "2026-07-28\t"]),
    header_text,
)
content_types = st.sampled_from(
    [
        JSON_CT,
        JSON_CT,
        JSON_CT,
        "application/json; charset=utf-8",
        "text/plain",
        None,
        "application/jsonx",
        "APPLICATION/JSON",
    ]
)
accepts = st.sampled_from(
    ["application/json, text/event-stream", "application/json", "text/event-stream", "*/*", None]
)
origins = st.sampled_from(
    [None] * 8
    + ["http://localhost:3000", "http://127.0.0.1", "https://evil.example", "null", "file://"]
)
hosts = st.sampled_from(
    [None] * 8 + ["localhost:8000", "[::1]:80", "evil.example", "127.0.0.1.nip.io", ""]
)


@st.composite
def exchanges(
    draw: Any, body: st.SearchStrategy[Any] | None = None
) -> tuple[Any, dict[str, str], str]:
    """(message, headers, version of the targeted session)."""
    message = draw(
        body if body is not None else (mcp_messages() | responses_to_server | json_values)
    )
    version = draw(st.sampled_from(H.LEGACY_VERSIONS))
    headers: dict[str, str] = {}
    session = draw(session_choice)
    sid_slot = {"home": "HOME", "random": draw(header_text), "empty": ""}.get(session)
    if sid_slot is not None:
        headers["mcp-session-id"] = sid_slot
    pv = draw(version_header)
    if pv == "session":
        pv = H.MODERN if isinstance(message, dict) and is_modern(message.get("params")) else version
    if pv is not None:
        headers["mcp-protocol-version"] = pv
    ctype = draw(content_types)
    if ctype is not None:
        headers["content-type"] = ctype
    accept = draw(accepts)
    if accept is not None:
        headers["accept"] = accept
    method = message.get("method") if isinstance(message, dict) else None
    how = draw(st.sampled_from(["right", "right", "none", "random"]))
    if how == "right" and isinstance(method, str) and method.isascii() and method.isprintable():
        headers["mcp-method"] = method
    elif how == "random":
        headers["mcp-method"] = draw(header_text)
    params = message.get("params") if isinstance(message, dict) else None
    target = params.get("name", params.get("uri")) if isinstance(params, dict) else None
    name_how = draw(st.sampled_from(["right", "base64", "bad64", "none", "random"]))
    if (
        name_how == "right"
        and isinstance(target, str)
        and target.isascii()
        and target.isprintable()
    ):
        headers["mcp-name"] = target
    elif name_how == "base64" and isinstance(target, str):
        headers["mcp-name"] = (
            "=?base64?" + base64.b64encode(target.encode("utf-8", "replace")).decode() + "?="
        )
    elif name_how == "bad64":
        headers["mcp-name"] = "=?base64?" + draw(header_text) + "?="
    elif name_how == "random":
        headers["mcp-name"] = draw(header_text)
    origin = draw(origins)
    if origin is not None:
        headers["origin"] = origin
    host = draw(hosts)
    if host is not None:
        headers["host"] = host
    return message, headers, version


def is_modern_exchange(message: Any, headers: dict[str, str]) -> bool:
    params = message.get("params") if isinstance(message, dict) else None
    header = headers.get("mcp-protocol-version")
    # the transport's rule: a body envelope, or a 2026-07-28 (or later-sorting) version header
    return is_modern(params) or (header is not None and header.strip() >= H.MODERN)


async def post(env: HttpEnv, body: bytes, headers: dict[str, str], version: str) -> httpx.Response:
    sent = dict(headers)
    if sent.get("mcp-session-id") == "HOME":
        sent["mcp-session-id"] = env.home[version]
    return await env.client.post("/mcp", content=body, headers=sent)


def is_batch_session(headers: dict[str, str], version: str) -> bool:
    """A POST in the 2025-03-26 session, as JSON: the one place a batch is answered."""
    return (
        version == "2025-03-26"
        and headers.get("mcp-session-id") == "HOME"
        and headers.get("content-type", "").startswith("application/json")
    )


def check_batch(resp: httpx.Response, batch: list[Any], version: str) -> list[Any]:
    """An answered batch: one response per request in it (by id), validated; 202 when it
    holds no request; an empty batch is refused."""
    if resp.status_code >= 400:  # refused whole at the HTTP level (Host, media type, version...)
        assert resp.status_code < 500, (resp.status_code, resp.text)
        return parse_answer(resp)
    assert batch, ("an empty batch must be refused", resp.status_code, resp.text)
    messages = parse_answer(resp)
    if resp.headers.get("content-type", "").startswith(JSON_CT):
        assert len(messages) == 1 and isinstance(messages[0], list), messages
        messages = messages[0]
    answers = [m for m in messages if isinstance(m, dict) and "method" not in m]
    for message in messages:
        H.check_message(message, version)
    requests = [
        m
        for m in batch
        if isinstance(m, dict)
        and isinstance(m.get("method"), str)
        and "id" in m
        and isinstance(m["id"], str | int)
        and not isinstance(m["id"], bool)
    ]
    if not answers:
        assert resp.status_code == 202 and not requests, (resp.status_code, batch)
    answered = [a.get("id") for a in answers if a.get("id") is not None]
    for request in requests:
        assert answered.count(request["id"]) >= 1, (request, answers)
    return messages


def fuzz_post(
    env: HttpEnv,
    test: str,
    message: Any,
    headers: dict[str, str],
    version: str,
    body: bytes | None = None,
) -> tuple[httpx.Response, list[Any]]:
    H.COUNTER.add(test)
    raw = body if body is not None else json.dumps(message, ensure_ascii=False).encode()
    resp = env.run(post(env, raw, headers, version))
    modern = is_modern_exchange(message, headers)
    event(f"{'modern' if modern else 'legacy'} {resp.status_code}")
    if isinstance(message, list) and is_batch_session(headers, version):
        responses = check_batch(resp, message, version)
    elif isinstance(message, list):
        # outside a 2025-03-26 session an array is refused whole
        assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
        answer = parse_answer(resp)
        assert (
            len(answer) == 1
            and answer[0]["id"] is None
            and answer[0]["error"]["code"] in (-32600, -32700)
        ), answer
        H.check_message(answer[0], version)
        responses = answer
    else:
        responses = check_exchange(env, resp, message, version, modern)
    finish_case(env)
    return resp, responses


# ---------------------------------------------------------------------------------------------
# Properties


@settings(FUZZ, max_examples=300)
@given(case=exchanges())
def test_post_fuzzed_messages_and_headers(
    env: HttpEnv, case: tuple[Any, dict[str, str], str]
) -> None:
    message, headers, version = case
    fuzz_post(env, "http: fuzzed POST", message, headers, version)


@settings(FUZZ, max_examples=100)
@given(batch=st.lists(mcp_messages() | valid_requests(modern=False) | json_values, max_size=6))
def test_batches_in_a_2025_03_26_session(env: HttpEnv, batch: list[Any]) -> None:
    """2025-03-26 allows JSON-RPC batches: every request in one gets its answer."""
    version = "2025-03-26"
    headers = H.json_headers(mcp_session_id="HOME", mcp_protocol_version=version)
    fuzz_post(env, "http: batch in a 2025-03-26 session", batch, headers, version)


@settings(FUZZ, max_examples=200)
@given(message=mcp_messages(), version=st.sampled_from(H.LEGACY_VERSIONS))
def test_post_well_addressed_messages(env: HttpEnv, message: Any, version: str) -> None:
    """Right headers for the body (session, version, Mcp-Method, Mcp-Name): the body decides."""
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    modern = is_modern(params)
    headers = H.json_headers()
    if modern:
        headers["mcp-protocol-version"] = (
            str(params["_meta"][H.META_VERSION])
            if isinstance(params["_meta"][H.META_VERSION], str)
            else H.MODERN
        )
        if (
            isinstance(message.get("method"), str)
            and message["method"].isascii()
            and message["method"].isprintable()
        ):
            headers["mcp-method"] = message["method"]
        target = params.get("name", params.get("uri"))
        if isinstance(target, str):
            headers["mcp-name"] = "=?base64?" + base64.b64encode(target.encode()).decode() + "?="
    elif not (message.get("method") == "initialize" and "id" in message):
        headers["mcp-session-id"] = "HOME"
        headers["mcp-protocol-version"] = version
    assume(all(v.isascii() for v in headers.values()))
    _resp, responses = fuzz_post(env, "http: well-addressed POST", message, headers, version)
    kind, rid = classify(message)
    if (
        kind == "request"
        and message.get("params", {}) == {}
        and message.get("method") == "ping"
        and not modern
    ):
        assert responses == [{"jsonrpc": "2.0", "id": rid, "result": {}}]


@settings(FUZZ, max_examples=150)
@given(
    data=st.data(),
    modern=st.booleans(),
    version=st.sampled_from(H.LEGACY_VERSIONS),
    b64=st.booleans(),
)
def test_post_valid_requests_succeed(
    env: HttpEnv, data: Any, modern: bool, version: str, b64: bool
) -> None:
    """Valid requests with the right headers (and unknown _meta keys): a result, schema-valid."""
    message = data.draw(valid_requests(modern))
    params = message["params"]
    if modern:
        headers = H.json_headers(mcp_protocol_version=H.MODERN, mcp_method=message["method"])
        target = params.get("name", params.get("uri"))
        if isinstance(target, str):
            plain = target.isascii() and target.isprintable() and target == target.strip(" \t")
            headers["mcp-name"] = (
                target
                if plain and not b64
                else "=?base64?" + base64.b64encode(target.encode()).decode() + "?="
            )
    else:
        headers = H.json_headers(mcp_session_id="HOME", mcp_protocol_version=version)
    resp, responses = fuzz_post(env, "http: valid requests", message, headers, version)
    assert resp.status_code == 200 and "result" in responses[0], (message, headers, resp.text[:500])
    result = responses[0]["result"]
    assert not result.get("isError"), result
    if modern:
        assert result["resultType"] == "complete"


@settings(FUZZ, max_examples=150)
@given(
    raw=st.binary(max_size=400), version=st.sampled_from(H.LEGACY_VERSIONS), session=st.booleans()
)
def test_post_random_bytes(env: HttpEnv, raw: bytes, version: str, session: bool) -> None:
    headers = H.json_headers(**({"mcp_session_id": "HOME"} if session else {}))
    H.COUNTER.add("http: random bytes")
    resp = env.run(post(env, raw, headers, version))
    assert resp.status_code in ALLOWED_STATUS, (resp.status_code, resp.text)
    answer = parse_answer(resp)
    for m in answer:
        H.check_message(m, version)
    if not _is_json_value(raw):
        assert (
            resp.status_code == 400
            and answer[0]["error"]["code"] == -32700
            and answer[0]["id"] is None
        ), answer
    finish_case(env)


def _is_json_value(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError:
        return False
    return True


@settings(FUZZ, max_examples=40)
@given(
    depth=st.sampled_from([10, 500, 900, 1000, 1500, 100_000]),
    where=st.sampled_from(["body", "params", "id", "meta"]),
    modern=st.booleans(),
)
def test_post_deep_nesting(env: HttpEnv, depth: int, where: str, modern: bool) -> None:
    nested = "[" * depth + "1" + "]" * depth
    meta = json.dumps(H.modern_meta()) if modern else "{}"
    text = {
        "body": nested,
        "params": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pick","arguments":{"color":"red","extra":{"x":%s}},"_meta":%s}}'
        % (nested, meta),
        "id": '{"jsonrpc":"2.0","id":%s,"method":"tools/list","params":{"_meta":%s}}'
        % (nested, meta),
        "meta": '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"x":%s}}}'
        % nested,
    }[where]
    headers = (
        H.json_headers(mcp_session_id="HOME")
        if not modern
        else H.json_headers(
            mcp_protocol_version=H.MODERN,
            mcp_method="tools/list" if where != "params" else "tools/call",
            mcp_name="pick",
        )
    )
    H.COUNTER.add("http: deep nesting")
    resp = env.run(post(env, text.encode(), headers, H.LATEST_LEGACY))
    assert resp.status_code in ALLOWED_STATUS, (resp.status_code, resp.text[:300])
    answer = parse_answer(resp)
    assert len(answer) == 1
    H.check_message(answer[0], H.MODERN if modern else H.LATEST_LEGACY)
    if depth >= 100_000:
        assert resp.status_code == 400 and answer[0]["error"]["code"] == -32700
    finish_case(env)


@settings(FUZZ, max_examples=30)
@given(
    size=st.sampled_from([MAX_BODY - 200, MAX_BODY + 1, MAX_BODY * 4, 3_000_000]),
    chunked=st.booleans(),
    modern=st.booleans(),
)
def test_post_body_limit(env: HttpEnv, size: int, chunked: bool, modern: bool) -> None:
    """Bodies over server.max_message_bytes: 413 and a JSON-RPC error; the server carries on."""
    meta = {"_meta": H.modern_meta()} if modern else {}
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": ""}, **meta},
    }
    overhead = len(json.dumps(message))
    message["params"]["arguments"]["text"] = "y" * max(0, size - overhead)
    raw = json.dumps(message).encode()
    headers = H.json_headers(
        **(
            {"mcp_protocol_version": H.MODERN, "mcp_method": "tools/call", "mcp_name": "echo"}
            if modern
            else {"mcp_session_id": "HOME"}
        )
    )

    async def send() -> httpx.Response:
        sent = dict(headers)
        if sent.get("mcp-session-id") == "HOME":
            sent["mcp-session-id"] = env.home[H.LATEST_LEGACY]
        if chunked:

            async def pieces() -> Any:
                for i in range(0, len(raw), 65536):
                    yield raw[i : i + 65536]

            return await env.client.post("/mcp", content=pieces(), headers=sent)
        return await env.client.post("/mcp", content=raw, headers=sent)

    H.COUNTER.add("http: body limit")
    resp = env.run(send())
    answer = parse_answer(resp)
    if len(raw) > MAX_BODY:
        assert resp.status_code == 413, resp.status_code
        assert (
            answer[0]["error"]["code"] == -32600
            and "max_message_bytes" in answer[0]["error"]["message"]
        )
    else:
        assert (
            resp.status_code == 200
            and answer[0]["result"]["content"][0]["text"] == message["params"]["arguments"]["text"]
        )
    finish_case(env)


@settings(FUZZ, max_examples=100)
@given(
    verb=st.sampled_from(["GET", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]),
    sid=st.one_of(st.none(), header_text),
    accept=accepts,
    last_event=st.one_of(st.none(), header_text, st.just("s1_1"), st.just("g1_0")),
)
def test_other_verbs(
    env: HttpEnv, verb: str, sid: str | None, accept: str | None, last_event: str | None
) -> None:
    """GET / DELETE / other verbs with unknown sessions and odd headers: clean refusals."""
    assume(sid not in env.home.values())
    headers = {}
    if sid is not None:
        headers["mcp-session-id"] = sid
    if accept is not None:
        headers["accept"] = accept
    if last_event is not None:
        headers["last-event-id"] = last_event
    H.COUNTER.add("http: other verbs")
    resp = env.run(env.client.request(verb, "/mcp", headers=headers))
    assert resp.status_code in ALLOWED_STATUS - {200, 202}, (verb, resp.status_code, resp.text)
    if verb != "HEAD":
        for m in parse_answer(resp):
            H.check_message(m, H.LATEST_LEGACY)
    finish_case(env)


@settings(FUZZ, max_examples=60)
@given(rid=valid_ids, version=st.sampled_from(H.LEGACY_VERSIONS))
def test_duplicate_in_flight_id_in_a_session(env: HttpEnv, rid: Any, version: str) -> None:
    """Two POSTs with one id while the first runs: one result, one -32600 error."""
    message = {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": "nap", "arguments": {"ms": 30}},
    }

    async def both() -> list[httpx.Response]:
        first = asyncio.ensure_future(
            post(env, json.dumps(message).encode(), H.json_headers(mcp_session_id="HOME"), version)
        )
        await asyncio.sleep(0.005)
        second = await post(
            env, json.dumps(message).encode(), H.json_headers(mcp_session_id="HOME"), version
        )
        return [await first, second]

    H.COUNTER.add("http: duplicate ids")
    first, second = env.run(both())
    a, b = (
        check_exchange(env, first, message, version, False),
        check_exchange(env, second, message, version, False),
    )
    assert (
        "result" in a[0]
        and b[0]["error"]["code"] == -32600
        and "in flight" in b[0]["error"]["message"]
    ), (a, b)
    finish_case(env)


# ---------------------------------------------------------------------------------------------
# Regression tests for the bugs found (a strict xfail marks what is still open)


def _one(
    env: HttpEnv, message: Any, headers: dict[str, str], raw: bytes | None = None
) -> httpx.Response:
    body = raw if raw is not None else json.dumps(message).encode()
    return env.run(post(env, body, headers, H.LATEST_LEGACY))


@pytest.mark.parametrize("modern", [False, True])
def test_bug_http_unhashable_response_id(env: HttpEnv, modern: bool) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": [1], "result": {}}
    headers = H.json_headers(mcp_session_id="HOME")
    if modern:
        message["params"] = {"_meta": H.modern_meta()}
        headers = H.json_headers(mcp_protocol_version=H.MODERN)
    resp = _one(env, message, headers)
    env.loop_errors.clear()
    assert resp.status_code in (202, 400), resp.status_code


def test_bug_http_cancel_unhashable_request_id(env: HttpEnv) -> None:
    message = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": {"x": 1}},
    }
    resp = _one(env, message, H.json_headers(mcp_session_id="HOME"))
    env.loop_errors.clear()
    assert resp.status_code == 202, resp.status_code


def test_bug_http_modern_log_level_unhashable(env: HttpEnv) -> None:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {"_meta": H.modern_meta(**{H.META_LEVEL: ["debug"]})},
    }
    resp = _one(
        env, message, H.json_headers(mcp_protocol_version=H.MODERN, mcp_method="tools/list")
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == -32602, (
        resp.status_code,
        resp.text,
    )


def test_bug_http_lone_surrogate(env: HttpEnv) -> None:
    raw = rb'{"jsonrpc":"2.0","id":"\ud800","method":"ping"}'
    resp = _one(env, None, H.json_headers(mcp_session_id="HOME"), raw=raw)
    env.loop_errors.clear()
    assert resp.status_code == 200 and resp.json()["result"] == {}, (resp.status_code, resp.text)


def test_bug_http_batch_in_2025_03_26_session(env: HttpEnv) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "b1", "method": "ping"},
        {"jsonrpc": "2.0", "id": "b2", "method": "tools/list"},
    ]
    resp = env.run(
        env.client.post(
            "/mcp", json=batch, headers=H.json_headers(mcp_session_id=env.home["2025-03-26"])
        )
    )
    assert resp.status_code == 200, (resp.status_code, resp.text)
    answers = resp.json()
    assert isinstance(answers, list) and sorted(a["id"] for a in answers) == ["b1", "b2"]


def test_bug_failed_initialize_opens_a_session(env: HttpEnv) -> None:
    before = len(env.app.sessions)
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": 2025},
    }
    resp = _one(env, message, H.json_headers())
    assert resp.json()["error"]["code"] == -32602
    assert "mcp-session-id" not in resp.headers and len(env.app.sessions) == before, (
        resp.headers,
        len(env.app.sessions),
    )


# ---------------------------------------------------------------------------------------------
# A few cases over a real socket (uvicorn): what the in-process transport cannot show


@pytest.fixture(scope="module")
def real_server() -> Any:
    proc = H.HttpProc(
        ("fuzz_target:plugin",), ("fuzz",), env={"MCP_RUNNER_MAX_MESSAGE_BYTES": str(MAX_BODY)}
    )
    yield proc
    proc.kill()


def _addr(url: str) -> tuple[str, int]:
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    return host, int(port)


def _raw_exchange(url: str, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(_addr(url), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _real_ping(proc: H.HttpProc) -> None:
    with httpx.Client(base_url=proc.url.rsplit("/", 1)[0], timeout=10) as client:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": H.initialize_params()}
        resp = client.post("/mcp", json=init, headers=H.json_headers())
        assert resp.status_code == 200, resp.text
        sid = resp.headers["mcp-session-id"]
        resp = client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
            headers=H.json_headers(mcp_session_id=sid),
        )
        assert resp.json() == {"jsonrpc": "2.0", "id": 2, "result": {}}


@settings(FUZZ, max_examples=40)
@given(raw=st.binary(min_size=1, max_size=200))
def test_real_socket_garbage(real_server: H.HttpProc, raw: bytes) -> None:
    """Raw garbage on a TCP connection to the real server: it answers 4xx or closes, and carries on."""
    H.COUNTER.add("http: real socket garbage")
    reply = _raw_exchange(real_server.url, raw + b"\r\n\r\n", timeout=2)
    assert not reply or reply.startswith(b"HTTP/1.1 4"), reply[:200]
    assert real_server.proc.poll() is None, real_server.stderr[-2000:]


def test_real_socket_oversized_body_then_serving(real_server: H.HttpProc) -> None:
    """A body over the limit over a real socket: 413, and the server keeps serving."""
    host = real_server.url.split("//")[1].split("/")[0]
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "pad": "z" * (MAX_BODY * 2)}
    ).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reply = _raw_exchange(real_server.url, head + body)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    _real_ping(real_server)


def test_real_socket_truncated_body(real_server: H.HttpProc) -> None:
    """A client that promises more body than it sends and hangs up: no harm done."""
    host = real_server.url.split("//")[1].split("/")[0]
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        '{"jsonrpc":"2.0","id":1,'
    ).encode()
    with socket.create_connection(_addr(real_server.url), timeout=5) as sock:
        sock.sendall(head)
    time.sleep(0.2)
    _real_ping(real_server)
    assert "Traceback" not in real_server.stderr, real_server.stderr[-3000:]
