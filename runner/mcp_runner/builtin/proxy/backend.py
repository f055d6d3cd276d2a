"""One backend server: its client session, start and restart with backoff, its share of the
composition, and the calls forwarded to it (with the questions it asks back)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import __version__
from ...client import (
    Client,
    ConnectionClosed,
    Interrupted,
    LogMessage,
    McpClientError,
    RequestInfo,
    RequestTimeout,
    SessionExpired,
)
from ...protocol.errors import INTERNAL_ERROR, INVALID_REQUEST, UNSUPPORTED_VERSION, McpError
from ...protocol.inputs import InputRequired
from ...protocol.session import LEVEL_RANK
from ...protocol.tasks import negotiated
from ...registry import CompositionError
from .call import BackendDown, CallerToken, ForwardedCall, QuestionUnclaimed
from .components import stage

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ...components import Component
    from ...protocol.session import Request
    from .config import ProxySettings, ServerConfig
    from .manager import ProxyManager

DEPTH_ENV = "MCP_RUNNER_PROXY_DEPTH"  # how deep in a chain of proxies a stdio backend runs
PARK_KEY = "proxy"  # in a 2026-07-28 request's state: the token of a call waiting for input
RENEW_AFTER = 1.0  # seconds a session must have lived for its loss to be renewed at once


def chain_depth() -> int:
    """How many proxies deep this process runs (0: not a proxy's backend)."""
    try:
        return int(os.environ.get(DEPTH_ENV, "0"))
    except ValueError:
        return 0


class Backend:
    """One mounted server: its client session, its state, its share of the registry.

    States: ``configured``, ``starting``, ``ready``, ``unresponsive`` (connected, but no
    answer to a ping within ``ping_timeout``), ``restarting``, ``failed``, ``disabled``,
    ``stopped``. Its calls fail fast (`BackendDown`) unless it is ``ready``.
    """

    def __init__(
        self, manager: ProxyManager, name: str, config: ServerConfig, section: ProxySettings
    ) -> None:
        self.manager = manager
        self.name = name
        self.config = config
        self.section = section
        self.plugin = f"proxy.{name}"
        self.namespace = section.namespace(name)
        self.lazy = section.is_lazy(config)
        self.state = config.initial_state
        self.attempt = 0
        self.error: str | None = None
        self.client: Client | None = None
        self.task: asyncio.Task[None] | None = None
        self.settled = asyncio.Event()  # clear while an attempt to connect is under way
        self.calls: list[ForwardedCall] = []
        self.listing: dict[str, list[Any]] | None = None
        self.fingerprint: str | None = None
        self.skipped: list[str] = []
        self.retry_at: float | None = None
        self.ready_since: float | None = None
        self.restarts = 0
        self._refresh: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._oauth: Any = None  # the `OAuth` of an ``oauth`` backend: its tokens outlive restarts
        self.severed: dict[asyncio.Task[Any], str] = {}  # request tasks cut off, and why
        # The backend's tasks our clients hold (``<name>:<its id>``) are reached through it.
        manager.runner.engine.tasks.relays[name] = self._task_method

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start (and keep restarting) the backend in a task of its own, unless started."""
        if self.task is None and self.state == "configured":
            self.state = "starting"
            self.task = asyncio.create_task(self._supervise(), name=f"proxy backend {self.name}")

    async def stop(self) -> None:
        """Stop the backend and abandon its calls."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for background in (self._refresh, self._watch):
            if background is not None:
                background.cancel()
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        for call in list(self.calls):
            call.abandon()
        if self.state != "disabled":
            self.state = "stopped"

    def fail(self, why: str) -> None:
        """Give up on the backend for good (``failed``), saying why on stderr."""
        self.state = "failed"
        self.error = why
        self.retry_at = None
        self.settled.set()
        print(f"mcp-runner: proxy backend {self.name!r} failed: {why}", file=sys.stderr, flush=True)

    async def ensure_started(self) -> None:
        """Start a lazy backend; wait (up to its startup timeout) for one starting, or
        reconnecting at once (a new HTTP session after the server lost ours)."""
        if self.state == "configured" and self.lazy:
            self.start()
        if self.state == "starting" or (self.state == "restarting" and not self.settled.is_set()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.startup_timeout):
                    await self.settled.wait()

    def _make_client(self) -> Client:
        config = self.config
        options: dict[str, Any] = dict(
            era=config.era,
            client_info={"name": "mcp-runner-proxy", "version": __version__},
            log_level=config.log_level,
            on_log=self._on_log,
            on_list_changed=self._on_list_changed,
            on_resource_updated=self._on_resource_updated,
            sampling=self._forward_question,
            elicitation=self._forward_question,
            connect_timeout=None,
            listen=True,
        )
        if config.command is not None:
            cwd = None
            if config.cwd is not None:
                path = Path(config.cwd).expanduser()
                cwd = str(path if path.is_absolute() else self.section.base_dir / path)
            env = {**config.env, DEPTH_ENV: str(chain_depth() + 1)}
            client = Client.stdio(
                config.command, config.args, env=env, cwd=cwd, prefer=config.prefer, **options
            )
            client.tasks.declare()  # its tasks are relayed (`relay_task`)
            return client
        assert config.url is not None
        if config.oauth is not None and self._oauth is None:
            from ...client.oauth import OAuth

            settings = dict(config.oauth)
            if settings.get("token_file"):
                path = Path(str(settings["token_file"])).expanduser()
                settings["token_file"] = (
                    path if path.is_absolute() else self.section.base_dir / path
                )
            self._oauth = OAuth.from_settings(settings)
        client = Client.http(
            config.url,
            headers=config.static_headers(),
            auth=self._oauth,
            prefer=config.prefer,
            **options,
        )
        client.tasks.declare()
        return client

    async def _supervise(self) -> None:
        policy = self.section.restart
        while True:
            self.state = "starting" if self.attempt == 0 else "restarting"
            try:
                client = self._make_client()
            except ValueError as exc:  # its credentials are missing
                self.fail(str(exc))
                return
            try:
                async with asyncio.timeout(self.config.startup_timeout):
                    await client.connect()
                    await self._compose(client)
            except asyncio.CancelledError:
                await client.close()
                raise
            except Exception as exc:
                await client.close()
                self.attempt += 1
                self.error = _describe(exc, self.config.startup_timeout)
                if _permanent(exc):
                    self.fail(self.error)
                    return
            else:
                self.client = client
                self.state = "ready"
                self.error = None
                self.attempt = 0
                self.retry_at = None
                self.ready_since = began = time.time()
                self.settled.set()
                if self.config.ping_interval > 0:
                    self._watch = asyncio.create_task(self._watch_liveness(client))
                reason = await client.wait_closed()
                if self._watch is not None:
                    self._watch.cancel()
                    self._watch = None
                self._lost(client, reason)
                await client.close()
                print(
                    f"mcp-runner: proxy backend {self.name!r}: {self.error}",
                    file=sys.stderr,
                    flush=True,
                )
                if isinstance(reason, SessionExpired) and time.time() - began > RENEW_AFTER:
                    continue  # the server answered (it restarted): a new session at once
            if policy.max_attempts is not None and self.attempt > policy.max_attempts:
                self.fail(f"gave up after {policy.max_attempts} attempts: {self.error}")
                return
            delay = policy.delay(self.attempt)
            self.state = "restarting"
            self.retry_at = time.monotonic() + delay
            self.settled.set()
            await asyncio.sleep(delay)

    async def _watch_liveness(self, client: Client) -> None:
        """Ping the backend every ``ping_interval`` seconds. One that gives no answer within
        ``ping_timeout`` is ``unresponsive`` (a stopped or wedged process keeps its pipe
        open): its calls in flight fail and new ones fail fast, until it answers again, or
        until ``restart_unresponsive_after`` seconds have passed: then it is restarted."""
        interval, limit = self.config.ping_interval, self.config.ping_timeout
        after = self.config.restart_unresponsive_after
        while self.client is client:
            await asyncio.sleep(interval)
            try:
                await client.ping(timeout=limit)
                continue
            except McpClientError:
                continue  # an error is an answer too
            except RequestTimeout:
                self._unresponsive(client, f"no answer to a ping within {limit:g} s")
            except ConnectionClosed:
                return
            try:
                async with asyncio.timeout(after):
                    answered = await self._first_answer(client, interval)
            except TimeoutError:
                self._lost(client, f"unresponsive for {after:g} s, so restarted")
                closing = asyncio.ensure_future(client.close())  # the process is killed
                self.manager.background.add(closing)
                closing.add_done_callback(self.manager.background.discard)
                return
            if not answered:
                return
            self.state, self.error = "ready", None
            print(f"mcp-runner: proxy backend {self.name!r} answers again", file=sys.stderr)

    async def _first_answer(self, client: Client, interval: float) -> bool:
        """Wait for the unresponsive backend to answer a ping (False: the connection ended)."""
        while self.client is client:
            try:
                await client.ping(timeout=None)  # answered as soon as it wakes
            except McpClientError:
                pass  # an error is an answer too
            except ConnectionClosed:
                return False
            except Exception:  # the transport gave up waiting: ask again
                await asyncio.sleep(interval)
                continue
            return self.client is client
        return False

    def _unresponsive(self, client: Client, why: str) -> None:
        """The backend stopped answering: calls fail fast, and those in flight are cut off."""
        if self.client is not client:
            return
        self.state, self.error = "unresponsive", why
        print(
            f"mcp-runner: proxy backend {self.name!r} is unresponsive: {why}",
            file=sys.stderr,
            flush=True,
        )
        reason = f"Backend {self.name!r} is unresponsive ({why}): the call was cancelled"
        for call in list(self.calls):
            call.sever(self.severed, reason)
        for token, call in list(self.manager.parked.items()):
            if call.backend is self:
                self.manager.unpark(token)
                call.abandon()

    def _lost(self, client: Client, reason: Any) -> None:
        """The ready connection ended: down at once (calls fail fast from now on)."""
        if self.client is not client:
            return
        self.client = None
        self.settled.clear()
        self.ready_since = None
        self.state = "restarting"
        self.attempt = 1
        self.error = f"connection lost: {reason}"
        self.restarts += 1

    def _drop(self, client: Client, exc: BaseException) -> None:
        """A call found the connection gone (a stdio backend's pipe, or the whole client): down
        at once, before the reader notices, and what is left of it closed so it restarts. (One
        HTTP request losing its stream leaves the session up.)"""
        if self.client is client and (client.closed or self.config.transport == "stdio"):
            self._lost(client, exc)
            task = asyncio.ensure_future(client.close())
            self.manager.background.add(task)
            task.add_done_callback(self.manager.background.discard)

    # -- composition ----------------------------------------------------------------------------
    async def _compose(self, client: Client) -> None:
        """Mount the backend's listing (again, if it changed) as the plugin ``proxy.<name>``."""
        caps = client.server_capabilities
        listing: dict[str, list[Any]] = {
            "tools": [],
            "prompts": [],
            "resources": [],
            "templates": [],
        }
        fetch: dict[str, tuple[bool, Callable[[], Awaitable[list[Any]]]]] = {
            "tools": ("tools" in caps, client.list_tools),
            "prompts": ("prompts" in caps, client.list_prompts),
            "resources": ("resources" in caps, client.list_resources),
            "templates": ("resources" in caps, client.list_resource_templates),
        }
        for kind, (offered, lister) in fetch.items():
            if offered:
                try:
                    listing[kind] = await lister()
                except McpClientError:
                    listing[kind] = []
        completions = "completions" in caps
        fingerprint = json.dumps(
            {k: [x.raw for x in v] for k, v in listing.items()}, sort_keys=True, default=str
        ) + str(completions)
        if fingerprint == self.fingerprint:
            return
        registry = self.manager.runner.registry
        old = self.listing
        if old is not None:
            registry.remove_plugin(self.plugin)
        try:
            staged, self.skipped = stage(self, listing, completions)
            registry.merge(staged, self.namespace or None)
        except Exception as exc:
            if old is not None:
                with contextlib.suppress(Exception):
                    staged, self.skipped = stage(self, old, completions)
                    registry.merge(staged, self.namespace or None)
            if isinstance(exc, CompositionError):
                raise CompositionError(
                    f"cannot mount it: {exc} (for a proxied server: [proxy.servers.{self.name}] "
                    "namespace renames its tools and prompts; resource URIs are kept as they "
                    "are, so two servers offering the same URI cannot both be mounted)"
                ) from None
            raise
        self.listing = listing
        self.fingerprint = fingerprint

    def _on_list_changed(self, kind: str) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._refresh_soon())

    async def _refresh_soon(self) -> None:
        await asyncio.sleep(0.05)  # let a burst of list_changed settle into one refresh
        client = self.client
        if client is None or self.state != "ready":
            return
        try:
            await self._compose(client)
        except Exception as exc:
            print(
                f"mcp-runner: proxy backend {self.name!r}: refresh failed: {_describe(exc)}",
                file=sys.stderr,
                flush=True,
            )

    def _on_resource_updated(self, uri: str) -> None:
        self.manager.runner.notify_resource_updated(uri)

    # -- forwarding -----------------------------------------------------------------------------
    def oldest_call(self) -> ForwardedCall | None:
        """The longest-running call in flight with a request to speak for (None: no such)."""
        live = [c for c in self.calls if c.request is not None]
        return min(live, key=lambda c: c.started) if live else None

    def down_message(self) -> str:
        """What a call gets while the backend is not ready: its name, state and last error."""
        state = self.describe_state()
        return f"Backend {self.name!r} is {state}" + (f": {self.error}" if self.error else "")

    def describe_state(self) -> str:
        """The state in words (a restart's attempt and when the next try is)."""
        if self.state == "restarting":
            text = f"restarting (attempt {self.attempt}"
            if self.retry_at is not None and self.retry_at > time.monotonic():
                text += f", next try in {self.retry_at - time.monotonic():.1f} s"
            return text + ")"
        return self.state

    async def forward(
        self, request: Request, component: Component, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Send `method` to the backend for `request`, passing the backend's questions on
        (`BackendDown` when it is not ready, or stops answering meanwhile)."""
        try:
            try:
                return await self._forward(request, component, method, params)
            except SessionExpired:
                # Refused unrun: the HTTP backend restarted and lost our session. Once the
                # proxy has a new one (at once), the call goes again.
                return await self._forward(request, component, method, params)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            reason = self.severed.pop(task, None) if self.severed and task else None
            if reason is None or task is None:
                raise
            task.uncancel()
            raise BackendDown(reason) from None

    async def _forward(
        self, request: Request, component: Component, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """What `forward` does.

        On the 2026-07-28 wire a question becomes an input-required round: the backend call is
        parked (it goes on waiting for the answer) under a token in the request's state, and
        the client's retry picks it up again. If the park is gone (expired, another process),
        the backend call starts over and earlier answers are replayed from the state.
        """
        call: ForwardedCall | None = None
        if request.modern and isinstance(request.state, dict):
            token = request.state.get(PARK_KEY)
            if isinstance(token, str):
                call = self.manager.unpark(token)
        if call is None:
            if self.state != "ready":
                await self.ensure_started()
            client = self.client
            if client is not None and client.closed:
                self._lost(client, client.close_reason)
                client = None
            if self.state != "ready" or client is None:
                raise BackendDown(self.down_message())
            headers = self._caller_headers(request) if self.config.forward_token else None
            call = ForwardedCall(self, component, request)
            call.owner = asyncio.current_task()
            # A 2026-07-28 backend asks inside its own answer (input rounds) and keeps nothing
            # between rounds: its call can run inline and a question becomes our own round.
            # And a question for a client that can answer none is refused on the spot.
            call.inline = call.inline or client.era == "modern" or not _can_answer(request)
            self.calls.append(call)
            try:
                if call.inline:
                    return await client.request(
                        method,
                        params,
                        progress=call.progress_callback(),
                        tag=call,
                        timeout=None,
                        headers=headers,
                    )
                call.task = task = await client.start(
                    method, params, progress=call.progress_callback(), tag=call, headers=headers
                )
                # Most calls end without a question: wait for the answer itself; a question
                # interrupts this wait (`wake`) and the rounds take over.
                call.direct = True
                try:
                    return await task
                except Interrupted:
                    task.add_done_callback(call.wake)
                    call.direct = False
                finally:
                    if call.direct:  # ended here: questions it never took go elsewhere
                        call.direct = False
                        call.release()
            except ConnectionClosed as exc:
                self._drop(client, exc)
                raise
            finally:
                self.calls.remove(call)
        else:
            call.request = request
            call.component = component
            call.owner = asyncio.current_task()
        return await self._rounds(call, request)

    # -- tasks --------------------------------------------------------------------------------------
    async def relay_task(self, request: Request, created: dict[str, Any]) -> dict[str, Any]:
        """The answer to a call the backend answered with a task (`created`): the task itself,
        its id namespaced by this backend, for a client that declared the tasks extension;
        else the task's result, waited for here."""
        tasks = self.manager.runner.engine.tasks
        if negotiated(request):
            return await tasks.adopt(request, self.name, created)
        client = self.client
        if client is None:
            raise BackendDown(self.down_message())
        result = await client.tasks.result(str(created.get("taskId", "")))
        return result.raw

    async def _task_method(
        self, method: str, remote_id: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        if self.state != "ready":
            await self.ensure_started()
        client = self.client
        if self.state != "ready" or client is None:
            raise McpError(INTERNAL_ERROR, self.down_message(), {"backend": self.name})
        try:
            return await client.request(
                method, {"taskId": remote_id, **params}, headers={"Mcp-Name": remote_id}
            )
        except McpClientError as exc:
            raise McpError(exc.code, exc.message, exc.data) from None

    def _caller_headers(self, request: Request) -> dict[str, str]:
        """The caller's own bearer token, for a backend with ``forward_token``: only a token
        whose audience names this backend (`Principal.token_for`); else `CallerToken`."""
        audience = self.config.token_audience
        assert audience is not None
        principal = request.principal
        token_for = getattr(principal, "token_for", None)
        token = token_for(audience) if token_for is not None else None
        if token is None:
            raise CallerToken(
                f"Backend {self.name!r} takes each caller's own token, and this request has "
                f"none meant for it (a bearer token whose audience names {audience!r})"
            )
        return {"Authorization": f"Bearer {token}"}

    async def _rounds(self, call: ForwardedCall, request: Request) -> dict[str, Any]:
        """Wait for a started backend call, turning its questions into input rounds."""
        task = call.task
        assert task is not None
        self.calls.append(call)
        parked = False
        loop = asyncio.get_running_loop()
        try:
            while True:
                if call.pending is None and call.asks:
                    method, params, future = call.asks.popleft()
                    call.pending = (method, params, future, f"proxy_{call.seq}")
                    call.seq += 1
                if call.pending is not None:
                    method, params, future, key = call.pending
                    try:
                        answer = await request.ask(method, params, key)
                    except McpError as exc:
                        if not future.done():
                            future.set_exception(McpClientError(exc.code, exc.message, exc.data))
                    else:
                        if not future.done():
                            future.set_result(answer)
                    call.pending = None
                    continue
                if task.done():
                    try:
                        done: dict[str, Any] = task.result()
                    except ConnectionClosed as exc:
                        self._drop(task.client, exc)
                        raise
                    return done
                call.waiter = loop.create_future()
                await call.waiter
                call.waiter = None
        except InputRequired:
            # The engine seals request.state into the input-required result after this:
            # the token in it brings the client's retry back to this parked call.
            parked = True
            if call.token is None:
                call.token = secrets.token_urlsafe(16)
            if request.state is None:
                request.state = {}
            request.state[PARK_KEY] = call.token
            self.manager.park(call)
            raise
        finally:
            if call in self.calls:
                self.calls.remove(call)
            if not parked:
                call.abandon()

    async def _forward_question(self, params: dict[str, Any], info: RequestInfo) -> dict[str, Any]:
        """The backend asks something (elicitation, sampling): ask the client of the request it
        belongs to (when several are in flight and the wire does not say, the oldest; should
        that call end before taking the question, the next oldest)."""
        tagged = info.tag if isinstance(info.tag, ForwardedCall) else None
        while True:
            call = tagged or self.oldest_call()
            if call is None:
                raise McpClientError(
                    INVALID_REQUEST,
                    f"mcp-runner proxy: {info.method} from backend {self.name!r} arrived outside "
                    "any request it could be forwarded with",
                )
            if call.inline:
                request = call.request
                assert request is not None
                key = f"proxy_{call.seq}"  # the same on each round: answers are found again
                call.seq += 1
                try:
                    return await request.ask(info.method, params, key)
                except McpError as exc:
                    raise McpClientError(exc.code, exc.message, exc.data) from None
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            call.futures.add(future)
            call.asks.append((info.method, params, future))
            call.wake()
            try:
                answer: dict[str, Any] = await future
                return answer
            except QuestionUnclaimed:
                if tagged is None:
                    continue
                raise McpClientError(
                    INTERNAL_ERROR, "the request this question belonged to ended"
                ) from None
            except asyncio.CancelledError:
                if future.cancelled():
                    raise McpClientError(
                        INTERNAL_ERROR, "the request this question belonged to ended"
                    ) from None
                raise
            finally:
                call.futures.discard(future)

    async def _on_log(self, message: LogMessage) -> None:
        call = message.tag if isinstance(message.tag, ForwardedCall) else self.oldest_call()
        ctx = call.context() if call is not None else None
        level = message.level if message.level in LEVEL_RANK else "info"
        if ctx is not None:
            await ctx.log(level, message.data, logger=message.logger or self.name)
            return

        from ...log import get_logger

        get_logger("mcp_runner.proxy").info(
            "backend log", backend=self.name, level=level, logger=message.logger, data=message.data
        )

    # -- reporting ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The backend's entry in ``mcp-runner plugins``: its state and why, what it serves."""
        out: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "summary": self.describe_state(),
            **self.section.describe_server(self.name),
        }
        if self.state == "restarting":
            out["attempt"] = self.attempt
        if self.error:
            out["error"] = self.error
        if self.restarts:
            out["restarts"] = self.restarts
        client = self.client
        if client is not None and self.state in ("ready", "unresponsive"):
            out["era"] = client.era
            out["protocol_version"] = client.protocol_version
            out["server"] = {"name": client.server_info.name, "version": client.server_info.version}
            pid = getattr(client.transport, "pid", None)
            if pid is not None:
                out["pid"] = pid
        if self.listing is not None:
            out["tools"] = len(self.listing["tools"]) - sum(
                s.startswith("tool ") for s in self.skipped
            )
            out["prompts"] = len(self.listing["prompts"])
            out["resources"] = len(self.listing["resources"])
            out["resource_templates"] = len(self.listing["templates"])
        if self.skipped:
            out["skipped"] = list(self.skipped)
        return out


def _describe(exc: BaseException, timeout: float | None = None) -> str:
    if isinstance(exc, TimeoutError) and timeout is not None and type(exc) is TimeoutError:
        return f"no answer to the handshake within {timeout:g} s"
    text = str(exc)
    if type(exc).__name__ in ("ConnectionClosed", "McpClientError"):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _can_answer(request: Request) -> bool:
    """Whether the request's client declared a capability a backend's question needs."""
    caps = request.client_capabilities
    return "elicitation" in caps or "sampling" in caps


def _permanent(exc: BaseException) -> bool:
    """Failures that retrying cannot fix: no such command, an incompatible protocol, a
    composition the registry refuses."""
    if isinstance(exc, CompositionError):
        return True
    if isinstance(exc.__cause__, FileNotFoundError | PermissionError | NotADirectoryError):
        return True
    return isinstance(exc, McpClientError) and exc.code == UNSUPPORTED_VERSION
