"""The HTTP client the verifiers use to reach the authorization server (JWKS, introspection):
the host's outgoing client (the trace context on each call), never following redirects."""

from __future__ import annotations

from typing import Any

HTTPX_MISSING = "fetching keys or introspecting tokens needs the httpx package: pip install httpx"


def async_client(timeout: float) -> Any:
    """A new ``httpx.AsyncClient`` with `timeout` that does not follow redirects."""
    try:
        import httpx  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency of the test extra and of most installs
        raise RuntimeError(HTTPX_MISSING) from None
    from ...client.outgoing import outgoing_http_client

    return outgoing_http_client(timeout=timeout, follow_redirects=False)
