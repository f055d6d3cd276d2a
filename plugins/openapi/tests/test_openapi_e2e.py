"""End to end: the store app over real HTTP (uvicorn on 127.0.0.1) bridged from its published
description, called by the official MCP SDK client through ``mcp-runner serve`` over stdio
and over Streamable HTTP; and the seed's FastAPI service served from its entry point alone."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp import types as mt
from mcp_runner.testing import runner_command
from openapi_helpers import (
    SEED_MISSING,
    announced_url,
    make_runner,
    runner_env,
    seed_installed,
    serve_in,
    stop,
)
from store_app import API_KEY

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def config_for(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "mcp-runner.toml"
    path.write_text(
        f'[openapi.apis.store]\nspec = "{store_url}/openapi.json"\n'
        'headers = { "X-Api-Key" = "${STORE_KEY}" }\n'
    )
    return path


def text_of(result: Any) -> str:
    return "".join(b.text for b in result.content if isinstance(b, mt.TextContent))


async def exercise(client: Client) -> None:
    """What every transport must show: the tools, a read, a write with the API key, an error."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"get_item", "list_items", "create_item", "get_item_image"} <= set(tools)
    assert tools["get_item"].input_schema["required"] == ["item_id"]
    got = await client.call_tool("get_item", {"item_id": 1})
    assert not got.is_error and got.structured_content is not None
    assert got.structured_content["name"] == "hammer"
    created = await client.call_tool(
        "create_item", {"name": "rake", "category": "garden", "price": 4.5}
    )
    assert not created.is_error, text_of(created)
    assert created.structured_content is not None and created.structured_content["name"] == "rake"
    missing = await client.call_tool("get_item", {"item_id": 404})
    assert missing.is_error and "HTTP 404" in text_of(missing)
    image = await client.call_tool("get_item_image", {"item_id": 1})
    assert isinstance(image.content[0], mt.ImageContent)


def test_a_real_http_api_in_process(store_url: str, tmp_path: Path) -> None:
    runner = make_runner(tmp_path, config_for(tmp_path, store_url).read_text(), STORE_KEY=API_KEY)
    assert runner.host.records["openapi"].status == "ok"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            await runner.call_tool("list_items", {"category": "tools"}),
            await runner.call_tool("away", {}),
        )

    listed, away = serve_in(runner, scenario)
    assert [i["name"] for i in listed["structuredContent"]["result"]] == ["hammer"]
    assert away["isError"] is True and "another host" in away["content"][0]["text"]


def test_sdk_client_over_stdio(store_url: str, tmp_path: Path) -> None:
    command = runner_command()
    params = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "serve", "--config", str(config_for(tmp_path, store_url))],
        env=runner_env(MCP_RUNNER_PLUGINS="openapi", STORE_KEY=API_KEY),
    )

    async def scenario() -> None:
        async with Client(params, mode="legacy") as client:  # type: ignore[arg-type]
            await exercise(client)

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sdk_client_over_http(store_url: str, tmp_path: Path, mode: str) -> None:
    command = [
        *runner_command(),
        "serve",
        "--transport",
        "http",
        "--port",
        "0",
        "--config",
        str(config_for(tmp_path, store_url)),
    ]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=runner_env(MCP_RUNNER_PLUGINS="openapi", STORE_KEY=API_KEY),
    )
    try:
        url = announced_url(proc)

        async def scenario() -> None:
            async with Client(url, mode=mode, read_timeout_seconds=20) as client:  # type: ignore[arg-type]
                await exercise(client)

        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        stop(proc)


@pytest.mark.skipif(not seed_installed(), reason=SEED_MISSING)
def test_the_seed_app_served_from_its_entry_point_alone(tmp_path: Path) -> None:
    """``pip install`` the service, and its endpoints are tools: no configuration at all."""
    command = runner_command()
    params = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "serve"],
        env=runner_env(MCP_RUNNER_PLUGINS="seed_weather,openapi"),
        cwd=str(tmp_path),
    )

    async def scenario() -> None:
        async with Client(params, mode="legacy") as client:  # type: ignore[arg-type]
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {"get_weather", "send_notification"}
            weather = await client.call_tool("get_weather", {"city": "Lisbon"})
            assert weather.structured_content == {
                "city": "Lisbon",
                "temperature_c": 21.5,
                "conditions": "sunny",
            }
            sent = await client.call_tool(
                "send_notification", {"recipient": "ops", "message": "storm ahead"}
            )
            assert sent.structured_content == {"status": "sent", "recipient": "ops"}

    asyncio.run(asyncio.wait_for(scenario(), 60))
