"""ASGI apps (FastAPI, Starlette, ...) served in process: recognising one, reading its OpenAPI
document, and running its lifespan around serving."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

from .spec import SpecError

OPENAPI_PATHS = ("/openapi.json", "/openapi.yaml", "/docs/openapi.json")


def import_app(spec: str) -> Any:
    """The object named by ``"module:attribute"`` (dotted attributes allowed)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SpecError(f"app = {spec!r}: expected 'module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def is_asgi_app(obj: Any) -> bool:
    """Whether `obj` looks like an ASGI 3 application: an async callable of
    ``(scope, receive, send)`` that is not a module, class or plugin."""
    if inspect.ismodule(obj) or inspect.isclass(obj) or not callable(obj):
        return False
    call = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj).__call__
    if not inspect.iscoroutinefunction(call):
        return False
    try:
        params = [
            p
            for p in inspect.signature(obj).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    return len(params) == 3


def app_document(app: Any) -> dict[str, Any]:
    """The app's OpenAPI document: ``app.openapi()`` for FastAPI, else ``GET /openapi.json``
    (or ``/openapi.yaml``) asked of the app in process."""
    build = getattr(app, "openapi", None)
    if callable(build):
        document = build()
        if isinstance(document, dict):
            return document
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the caller may be inside a loop
        return pool.submit(asyncio.run, _fetch_document(app)).result(timeout=30)


async def _fetch_document(app: Any) -> dict[str, Any]:
    import httpx

    from .spec import parse_document

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for path in OPENAPI_PATHS:
            response = await client.get(path)
            if response.status_code == 200:
                document = parse_document(response.content, f"the app's {path}")
                if isinstance(document, dict):
                    return document
    raise SpecError(f"the app answers none of {', '.join(OPENAPI_PATHS)} with an OpenAPI document")


@contextlib.asynccontextmanager
async def app_lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Run the app's ASGI lifespan (startup before serving, shutdown after) and give its
    state, which each request's scope then carries. An app without lifespan support is
    served as it is."""
    state: dict[str, Any] = {}
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    started = await _next_message(task, from_app)
    if started is None:  # the app does not speak lifespan
        yield state
        return
    if started["type"] == "lifespan.startup.failed":
        await asyncio.gather(task, return_exceptions=True)
        raise RuntimeError(f"the app's startup failed: {started.get('message', '')}")
    try:
        yield state
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await _next_message(task, from_app)
        await asyncio.gather(task, return_exceptions=True)


async def _next_message(
    task: asyncio.Task[Any], messages: asyncio.Queue[dict[str, Any]]
) -> dict[str, Any] | None:
    getter = asyncio.ensure_future(messages.get())
    done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    with contextlib.suppress(Exception):
        task.result()
    return None


def with_state(app: Any, state: dict[str, Any]) -> Any:
    """The app, each request's scope given a copy of the lifespan `state` (as ASGI servers
    do); the app itself when there is no state."""
    if not state:
        return app

    async def stateful(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"] = dict(state)
        await app(scope, receive, send)

    return stateful
