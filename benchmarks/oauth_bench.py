"""What client OAuth costs: the import, and the time an ``httpx.Auth`` adds to each request
once a token is kept. Compares `mcp_runner.client.oauth.OAuth` with a plain Authorization
header and, where authlib is installed, with authlib's ``AsyncOAuth2Client``.

    python benchmarks/oauth_bench.py                   # the interpreter with mcp-runner
    /path/to/venv-with-authlib/bin/python benchmarks/oauth_bench.py   # authlib's figures

Requests go to an ``httpx.MockTransport`` answering 200 at once, so the figures are the
client side alone (no network, no server). The clients take turns, round by round, and each
row is the median of its rounds, so a busy machine slows every row alike.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

ROUNDS, PER_ROUND = 15, 2_000
URL = "http://mcp.test/mcp"


def import_ms(module: str, before: str = "httpx", runs: int = 7) -> float | None:
    """Median milliseconds to import `module` in a fresh interpreter that has already
    imported `before`."""
    code = (
        f"import time, {before}; t = time.perf_counter(); import {module}; "
        "print((time.perf_counter() - t) * 1000)"
    )
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            return None
        samples.append(float(done.stdout))
    return statistics.median(samples)


def transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, content=b"{}"))


async def compare(clients: dict[str, tuple[httpx.AsyncClient, dict[str, Any]]]) -> dict[str, float]:
    """Microseconds per POST for each client: the median of rounds taken in turn."""
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(ROUNDS):
        for name, (client, kw) in clients.items():
            start = time.perf_counter()
            for _ in range(PER_ROUND):
                await client.post(URL, content=b"{}", **kw)
            samples[name].append((time.perf_counter() - start) / PER_ROUND * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


async def main() -> None:
    clients: dict[str, tuple[httpx.AsyncClient, dict[str, Any]]] = {
        "plain Authorization header": (
            httpx.AsyncClient(transport=transport()),
            {"headers": {"Authorization": "Bearer t"}},
        )
    }
    imports: dict[str, float | None] = {}
    try:
        from mcp_runner.client.oauth import MemoryTokenStore, OAuth, OAuthError, Tokens
    except ImportError:
        pass
    else:
        store = MemoryTokenStore()
        await store.set(f"tokens {URL}", Tokens("t", expires_at=time.time() + 3600).to_dict())
        auth = OAuth(store=store)
        clients["mcp_runner OAuth"] = (httpx.AsyncClient(transport=transport(), auth=auth), {})
        try:
            bound = MemoryTokenStore()
            await bound.set(
                f"tokens {URL}",
                Tokens("t", token_type="DPoP", expires_at=time.time() + 3600).to_dict(),
            )
            dpop = OAuth(store=bound, dpop=True)
        except OAuthError:  # no joserfc: no DPoP row
            pass
        else:
            clients["mcp_runner OAuth, DPoP (a proof signed per request)"] = (
                httpx.AsyncClient(transport=transport(), auth=dpop),
                {},
            )
        imports["mcp_runner.client.oauth (after httpx and mcp_runner.client)"] = import_ms(
            "mcp_runner.client.oauth", "httpx, mcp_runner.client"
        )
    try:
        from authlib.integrations.httpx_client import AsyncOAuth2Client
    except ImportError:
        pass
    else:
        token = {"access_token": "t", "token_type": "Bearer", "expires_at": time.time() + 3600}
        clients["authlib AsyncOAuth2Client"] = (
            AsyncOAuth2Client(token=token, transport=transport()),
            {},
        )
        imports["authlib.integrations.httpx_client (after httpx)"] = import_ms(
            "authlib.integrations.httpx_client"
        )
    figures = await compare(clients)
    for client, _ in clients.values():
        await client.aclose()
    base = figures["plain Authorization header"]
    print(f"Python {sys.version.split()[0]}, httpx {httpx.__version__}")
    print("| per request | µs | added |\n|---|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value:.1f} | {value - base:+.1f} |")
    print("\n| import | ms |\n|---|---|")
    for name, ms in imports.items():
        print(f"| {name} | {ms:.1f} |" if ms is not None else f"| {name} | failed |")


if __name__ == "__main__":
    asyncio.run(main())
