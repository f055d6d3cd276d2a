"""Fixtures of the openapi plugin's tests: the fixture apps and helpers importable, and the
store app served by uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

from openapi_helpers import served_app  # noqa: E402


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    """The store app served by uvicorn on 127.0.0.1 (a real HTTP API)."""
    with served_app("store_app:app") as url:
        yield url
