"""The client the official conformance suite drives: ``conformance client --command
"python client_driver.py --library mcp-runner|sdk"`` runs it as ``<command> <server-url>``.

The suite names the scenario in ``MCP_CONFORMANCE_SCENARIO``, the protocol version to
negotiate in ``MCP_CONFORMANCE_PROTOCOL_VERSION`` (unset under 0.1.16) and scenario data in
``MCP_CONFORMANCE_CONTEXT`` (JSON: the tool calls to make, credentials). Each scenario's
server records what the client sends; this driver only has to do what the scenario asks, on
one of two libraries behind the same small interface:

- ``mcp-runner``: `mcp_runner.client.Client` over Streamable HTTP, ``era="auto"`` (the
  version asked for is offered first: ``initialize`` for a dated legacy version,
  ``server/discover`` for 2026-07-28 or when no version is given);
- ``sdk``: the official Python SDK's ``mcp.Client`` in its ``auto`` mode, for comparison.

OAuth scenarios (``auth/*``) get their HTTP auth from `client_auth.auth_for_scenario` (the
runner's `mcp_runner.client.oauth`) on mcp-runner, from the SDK's own OAuth providers on the
SDK. Exit status 0 when the scenario's steps ran, 1 with the error on stderr otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

LEGACY_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
ROOTS = [{"uri": "file:///conformance/project", "name": "project"}]
# The OAuth client's redirect URI and client ID metadata document URL (the suite's own).
REDIRECT_URI = "http://localhost:3000/callback"
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
# Seconds a scenario may take here: the suite runs a set's scenarios at once, each client a
# Python process, so on a small machine imports alone take a while.
SCENARIO_TIMEOUT = 110


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The content of an accepted form elicitation: every field's schema default (SEP-1034)."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    return {
        name: spec["default"]
        for name, spec in (props or {}).items()
        if isinstance(spec, dict) and "default" in spec
    }


def placeholder_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that satisfy a tool's required properties by type (for tools called blind)."""
    by_type = {"string": "x", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    props = schema.get("properties") or {}
    out = {}
    for name in schema.get("required") or ():
        spec = props.get(name) if isinstance(props.get(name), dict) else {}
        out[name] = by_type.get(spec.get("type"), "x")
    return out


class Session:
    """What a scenario needs of a connected client, the same for both libraries."""

    async def list_tools(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, inputSchema) of every tool the library keeps."""
        raise NotImplementedError

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> None:
        """Call a tool (its result is the scenario server's business)."""
        raise NotImplementedError

    async def list_resources(self) -> list[str]:
        """Every resource URI."""
        raise NotImplementedError

    async def read_resource(self, uri: str) -> None:
        """Read a resource."""
        raise NotImplementedError

    async def list_prompts(self) -> list[str]:
        """Every prompt name."""
        raise NotImplementedError

    async def get_prompt(self, name: str) -> None:
        """Get a prompt without arguments."""
        raise NotImplementedError


# An elicitation answerer: (params) -> result dict; the scenario may wrap it.
Elicit = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def accept(params: dict[str, Any]) -> dict[str, Any]:
    """Accept an elicitation, filling in nothing: the schema's defaults are the library's job
    (mcp_runner.client fills them in; for the SDK, its driver does, as its own example does)."""
    return {"action": "accept", "content": {}}


# -- mcp-runner ----------------------------------------------------------------------------------


class RunnerSession(Session):
    def __init__(self, client: Any) -> None:
        self.client = client

    async def list_tools(self) -> list[tuple[str, dict[str, Any]]]:
        return [(t.name, t.input_schema) for t in await self.client.list_tools()]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> None:
        await self.client.call_tool(name, arguments)

    async def list_resources(self) -> list[str]:
        return [r.uri for r in await self.client.list_resources()]

    async def read_resource(self, uri: str) -> None:
        await self.client.read_resource(uri)

    async def list_prompts(self) -> list[str]:
        return [p.name for p in await self.client.list_prompts()]

    async def get_prompt(self, name: str) -> None:
        await self.client.get_prompt(name)


class runner_session:
    """A connected `mcp_runner.client.Client` as a `Session`."""

    def __init__(self, url: str, elicit: Elicit, version: str | None, auth: Any) -> None:
        from mcp_runner.client import Client

        options: dict[str, Any] = {"era": "auto", "timeout": 60.0}
        if version in LEGACY_VERSIONS:
            options.update(protocol_version=version, prefer="legacy")
        http_client = None
        if auth is not None:
            import httpx

            http_client = httpx.AsyncClient(auth=auth, timeout=httpx.Timeout(30.0, read=None))

        async def sample(params: dict[str, Any]) -> dict[str, Any]:
            return {
                "role": "assistant",
                "model": "conformance-driver",
                "content": {"type": "text", "text": "a sampled answer"},
            }

        self.client = Client.http(
            url,
            http_client=http_client,
            client_info={"name": "conformance-driver-mcp-runner", "version": "1.0.0"},
            elicitation=elicit,
            sampling=sample,
            roots=ROOTS,
            **options,
        )
        self.http_client = http_client

    async def __aenter__(self) -> Session:
        await self.client.connect()
        return RunnerSession(self.client)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        if self.http_client is not None:
            await self.http_client.aclose()


# -- the official SDK ----------------------------------------------------------------------------


class SdkSession(Session):
    def __init__(self, client: Any) -> None:
        self.client = client

    async def list_tools(self) -> list[tuple[str, dict[str, Any]]]:
        return [(t.name, t.input_schema) for t in (await self.client.list_tools()).tools]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> None:
        await self.client.call_tool(name, arguments)

    async def list_resources(self) -> list[str]:
        return [str(r.uri) for r in (await self.client.list_resources()).resources]

    async def read_resource(self, uri: str) -> None:
        await self.client.read_resource(uri)

    async def list_prompts(self) -> list[str]:
        return [p.name for p in (await self.client.list_prompts()).prompts]

    async def get_prompt(self, name: str) -> None:
        await self.client.get_prompt(name)


class sdk_session:
    """A connected official-SDK ``mcp.Client`` (``mode="auto"``) as a `Session`."""

    def __init__(self, url: str, elicit: Elicit, version: str | None, auth: Any) -> None:
        import mcp.types as types
        from mcp import Client

        async def on_elicit(context: Any, params: Any) -> Any:
            wire = params.model_dump(by_alias=True, exclude_none=True, mode="json")
            answer = await elicit(wire)
            if answer.get("action") == "accept":  # the SDK leaves the defaults to its user
                defaults = schema_defaults(wire.get("requestedSchema") or {})
                answer["content"] = {**defaults, **(answer.get("content") or {})}
            return types.ElicitResult.model_validate(answer)

        async def on_roots(context: Any) -> Any:
            return types.ListRootsResult.model_validate({"roots": ROOTS})

        async def on_sample(context: Any, params: Any) -> Any:
            return types.CreateMessageResult.model_validate(
                {
                    "role": "assistant",
                    "model": "conformance-driver",
                    "content": {"type": "text", "text": "a sampled answer"},
                }
            )

        server: Any = url
        if auth is not None:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            server = streamable_http_client(url, http_client=httpx2.AsyncClient(auth=auth))
        self.client = Client(
            server,
            mode="auto",
            elicitation_callback=on_elicit,
            list_roots_callback=on_roots,
            sampling_callback=on_sample,
            client_info=types.Implementation(name="conformance-driver-sdk", version="1.0.0"),
            read_timeout_seconds=60.0,
        )

    async def __aenter__(self) -> Session:
        await self.client.__aenter__()
        return SdkSession(self.client)

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.__aexit__(*exc)


def sdk_auth(scenario: str, url: str, context: dict[str, Any]) -> Any:
    """The SDK's own OAuth provider for an ``auth/*`` scenario: client credentials where the
    context gives a secret and the scenario is that grant's, else the authorization code
    flow (pre-registered when the context names a client), its browser step an HTTP GET
    that reads the code from the redirect."""
    import httpx2
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
    from mcp.shared.auth import (
        AuthorizationCodeResult,
        OAuthClientInformationFull,
        OAuthClientMetadata,
    )

    class Memory:
        def __init__(self) -> None:
            self.tokens: Any = None
            self.client: Any = None

        async def get_tokens(self) -> Any:
            return self.tokens

        async def set_tokens(self, tokens: Any) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> Any:
            return self.client

        async def set_client_info(self, client: Any) -> None:
            self.client = client

    storage = Memory()
    if scenario == "auth/client-credentials-basic":
        return ClientCredentialsOAuthProvider(
            url, storage, context["client_id"], context["client_secret"]
        )
    if context.get("client_id"):
        storage.client = OAuthClientInformationFull(
            client_id=context["client_id"],
            client_secret=context.get("client_secret"),
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="client_secret_basic"
            if context.get("client_secret")
            else "none",
        )
    redirect: dict[str, str] = {}

    async def open_browser(authorization_url: str) -> None:
        async with httpx2.AsyncClient() as http:
            answer = await http.get(authorization_url, follow_redirects=False)
        redirect["location"] = answer.headers.get("location", "")

    async def take_redirect() -> Any:
        from urllib.parse import parse_qs, urlparse

        query = {k: v[0] for k, v in parse_qs(urlparse(redirect["location"]).query).items()}
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )

    return OAuthClientProvider(
        url,
        OAuthClientMetadata(
            client_name="conformance-driver-sdk",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage,
        redirect_handler=open_browser,
        callback_handler=take_redirect,
        client_metadata_url=CLIENT_METADATA_URL,
    )


LIBRARIES: dict[str, Any] = {"mcp-runner": runner_session, "sdk": sdk_session}


# -- the scenarios -------------------------------------------------------------------------------


async def list_and_call(session: Session, context: dict[str, Any]) -> None:
    """List the tools, then make the calls the context names (if any)."""
    await session.list_tools()
    for call in context.get("toolCalls") or ():
        await session.call_tool(call["name"], call.get("arguments") or {})


async def exercise_everything(session: Session, context: dict[str, Any]) -> None:
    """Every tool called, every resource read, every prompt got (the standard headers)."""
    for name, schema in await session.list_tools():
        await session.call_tool(name, placeholder_arguments(schema))
    for uri in await session.list_resources():
        await session.read_resource(uri)
    for name in await session.list_prompts():
        await session.get_prompt(name)


async def call_every_kept_tool(session: Session, context: dict[str, Any]) -> None:
    """Call each tool the library kept (the invalid ``x-mcp-header`` ones must be gone)."""
    for name, schema in await session.list_tools():
        await session.call_tool(name, placeholder_arguments(schema))


async def echo_schema(session: Session, context: dict[str, Any]) -> None:
    """Send the focal tool's inputSchema back through the echo tool, as received."""
    tools = dict(await session.list_tools())
    if "json_schema_echo" in tools and "json_schema_2020_12_tool" in tools:
        await session.call_tool("json_schema_echo", {"schema": tools["json_schema_2020_12_tool"]})


def call(name: str, arguments: dict[str, Any] | None = None) -> Any:
    """The steps of a scenario that wants one tool called after listing."""

    async def run(session: Session, context: dict[str, Any]) -> None:
        await session.list_tools()
        await session.call_tool(name, arguments or {})

    return run


async def request_state(session: Session, context: dict[str, Any]) -> None:
    """The MRTR tools: one answered with state, one without, one with no resultType; the
    unrelated tool is called while the first is waiting for its input (see `elicit_for`)."""
    await session.list_tools()
    for name in ("test_mrtr_echo_state", "test_mrtr_no_state", "test_mrtr_no_result_type"):
        await session.call_tool(name, {})


SCENARIOS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[None]]] = {
    "initialize": list_and_call,
    "tools_call": call("add_numbers", {"a": 5, "b": 3}),
    "sse-retry": call("test_reconnection"),
    "elicitation-sep1034-client-defaults": call("test_client_elicitation_defaults"),
    "request-metadata": list_and_call,
    "sep-2322-client-request-state": request_state,
    "http-standard-headers": exercise_everything,
    "http-custom-headers": list_and_call,
    "http-invalid-tool-headers": call_every_kept_tool,
    "json-schema-ref-no-deref": list_and_call,
    "json-schema-2020-12-preservation": echo_schema,
}


def elicit_for(scenario: str, holder: dict[str, Session]) -> Elicit:
    """The elicitation answerer: accept; in the request-state scenario, first call the
    unrelated tool, which must carry nothing of this round."""
    unrelated_called = False

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        nonlocal unrelated_called
        if scenario == "sep-2322-client-request-state" and not unrelated_called:
            unrelated_called = True
            await holder["session"].call_tool("test_mrtr_unrelated", {})
        return await accept(params)

    return elicit


def scenario_auth(library: str, scenario: str, url: str, context: dict[str, Any]) -> Any:
    """The HTTP auth an OAuth scenario needs: the SDK's own provider for the SDK; for
    mcp-runner, that of `client_auth` (None elsewhere, or while that module is absent)."""
    if not scenario.startswith("auth/"):
        return None
    if library == "sdk":
        return sdk_auth(scenario, url, context)
    try:
        from client_auth import auth_for_scenario  # type: ignore[import-not-found]
    except ImportError:
        return None
    return auth_for_scenario(scenario, url, context)


async def run(library: str, url: str) -> None:
    """Connect with `library`, do the scenario's steps, close."""
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "initialize")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") or None
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    steps = SCENARIOS.get(scenario, list_and_call)
    if scenario.startswith("auth/"):
        steps = call_every_kept_tool
    holder: dict[str, Session] = {}
    connect = LIBRARIES[library](
        url, elicit_for(scenario, holder), version, scenario_auth(library, scenario, url, context)
    )
    async with connect as session:
        holder["session"] = session
        await steps(session, context)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=sorted(LIBRARIES), default="mcp-runner")
    parser.add_argument("url", help="the scenario server's URL (appended by the suite)")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        asyncio.run(asyncio.wait_for(run(args.library, args.url), SCENARIO_TIMEOUT))
    except BaseException as exc:  # report and fail; the suite keeps stderr
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"client_driver ({args.library}): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
