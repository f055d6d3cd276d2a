"""`RedisBackend`: a state backend on Redis.

Keys (under the prefix): ``s:<session>`` holds a session's record as JSON, expiring when the
session is idle; ``e:<session>:<stream>`` a list of the stream's last events, and
``l:<session>`` the set of the session's logged streams, expiring the same way (and deleted
with the session); ``t:<task>`` a task's record as JSON, expiring with the task's ttl, and
``o:<owner>`` a sorted set of the owner's tasks by expiry (for ``tasks.max_per_principal``);
one channel, ``bus``, carries every replica's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from mcp_runner.log import get_logger
from mcp_runner.transports.http import (
    BusMessage,
    LoggedEvent,
    StateBackend,
    StateUnavailable,
    TaskStore,
)
from redis.exceptions import RedisError

RETRY_SECONDS = 0.5  # between attempts to hear the bus again after a failure
# KEYS: the owner's set of tasks by expiry, the task's record; ARGV: now (s), the limit, the
# record, its ttl (ms), its id. 0 when the owner holds `limit` tasks already.
ADD_TASK = """
local now, ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl_ms)
redis.call('ZADD', KEYS[1], now + ttl_ms / 1000, ARGV[5])
if redis.call('PTTL', KEYS[1]) < ttl_ms then redis.call('PEXPIRE', KEYS[1], ttl_ms) end
return 1
"""


class RedisBackend(StateBackend, TaskStore):
    """Session records, stream logs, task records and the bus, in one Redis (or a compatible
    server)."""

    name = "redis"

    def __init__(self, url: str, key_prefix: str, timeout: float, **options: Any) -> None:
        """`options` go to redis-py's client as they are (the TLS ones: ``ssl_ca_certs``...)."""
        self.url = url
        self.prefix = key_prefix
        self.timeout = timeout
        self.channel = key_prefix + "bus"
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, **options
        )
        self._listener: asyncio.Task[None] | None = None
        # One round trip, atomic: drop the owner's expired tasks, count the rest, add this one.
        self._add_task = self.client.register_script(ADD_TASK)
        self.hearing = False  # subscribed to the bus now

    @contextlib.asynccontextmanager
    async def _operation(self) -> AsyncIterator[None]:
        """Bound an operation by the timeout; a failure becomes `StateUnavailable`."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailable(f"redis: {exc or type(exc).__name__}") from exc

    async def start(self, deliver: Callable[[BusMessage], None]) -> None:
        subscribed = asyncio.Event()
        self._listener = asyncio.ensure_future(self._listen(deliver, subscribed))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await subscribed.wait()

    async def _listen(
        self, deliver: Callable[[BusMessage], None], subscribed: asyncio.Event
    ) -> None:
        log = get_logger("mcp_runner.redis")
        failing = False
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self.timeout):
                    await pubsub.subscribe(self.channel)
                subscribed.set()
                self.hearing = True
                if failing:
                    log.info("bus heard again", channel=self.channel)
                    failing = False
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        deliver(json.loads(message["data"]))
            except (RedisError, OSError, TimeoutError) as exc:
                self.hearing = False
                if not failing:
                    log.warning("bus lost", channel=self.channel, error=repr(exc))
                    failing = True
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def check(self) -> dict[str, Any]:
        """Readiness: ``ok`` when Redis answers a PING within the timeout and the bus is heard,
        else ``failing`` with why."""
        try:
            async with self._operation():
                await self.client.ping()
        except StateUnavailable as exc:
            return {"state": "failing", "error": str(exc)}
        if self._listener is not None and not self.hearing:
            return {"state": "failing", "error": "redis answers, but the bus is not heard yet"}
        return {"state": "ok"}

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        with contextlib.suppress(Exception):
            await self.client.aclose()

    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    def _log_key(self, session_id: str, stream_id: str) -> str:
        return f"{self.prefix}e:{session_id}:{stream_id}"

    def _streams_key(self, session_id: str) -> str:
        return f"{self.prefix}l:{session_id}"

    async def save_session(self, session_id: str, record: dict[str, Any], ttl: float) -> None:
        async with self._operation():
            await self.client.set(
                self._session_key(session_id), json.dumps(record), ex=_seconds(ttl)
            )

    async def load_session(self, session_id: str, ttl: float) -> dict[str, Any] | None:
        async with self._operation():
            raw = await self.client.getex(self._session_key(session_id), ex=_seconds(ttl))
        return None if raw is None else json.loads(raw)  # type: ignore[no-any-return]

    async def keep_sessions(self, session_ids: list[str], ttl: float) -> None:
        async with self._operation(), self.client.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.expire(self._session_key(session_id), _seconds(ttl))
            await pipe.execute()

    async def delete_session(self, session_id: str) -> None:
        streams = self._streams_key(session_id)
        async with self._operation():
            logged = await self.client.smembers(streams)
            logs = [self._log_key(session_id, stream.decode()) for stream in logged]
            await self.client.delete(self._session_key(session_id), streams, *logs)

    async def append_event(
        self, session_id: str, stream_id: str, event: LoggedEvent, keep: int, ttl: float
    ) -> None:
        key = self._log_key(session_id, stream_id)
        announce = {"t": "event", "s": session_id, "k": stream_id, "e": list(event)}
        streams = self._streams_key(session_id)
        async with self._operation(), self.client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, json.dumps(event))
            pipe.ltrim(key, -keep, -1)
            pipe.expire(key, _seconds(ttl))
            pipe.sadd(streams, stream_id)  # so that DELETE finds every log of the session
            pipe.expire(streams, _seconds(ttl))
            pipe.publish(self.channel, json.dumps(announce))
            await pipe.execute()

    async def events_after(
        self, session_id: str, stream_id: str, seq: int
    ) -> list[LoggedEvent] | None:
        async with self._operation():
            raw = await self.client.lrange(self._log_key(session_id, stream_id), 0, -1)
        if not raw:
            return None
        events = sorted(tuple(json.loads(item)) for item in raw)
        return [(n, text, final) for n, text, final in events if n > seq]

    def _task_key(self, task_id: str) -> str:
        return f"{self.prefix}t:{task_id}"

    def _owner_key(self, owner: str) -> str:
        return f"{self.prefix}o:{owner}"

    async def add_task(self, task_id: str, record: dict[str, Any], ttl: float, limit: int) -> bool:
        async with self._operation():
            added = await self._add_task(
                keys=[self._owner_key(record["owner"]), self._task_key(task_id)],
                args=[time.time(), limit, json.dumps(record), _millis(ttl), task_id],
            )
        return bool(added)

    async def put_task(self, task_id: str, record: dict[str, Any], ttl: float) -> None:
        owned = self._owner_key(record["owner"])
        async with self._operation(), self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._task_key(task_id), json.dumps(record), px=_millis(ttl))
            pipe.zadd(owned, {task_id: time.time() + ttl})
            pipe.expire(owned, _seconds(ttl), nx=True)  # a new set
            pipe.expire(owned, _seconds(ttl), gt=True)  # never shortened by a shorter task
            await pipe.execute()

    async def get_task(self, task_id: str) -> dict[str, Any] | None:
        async with self._operation():
            raw = await self.client.get(self._task_key(task_id))
        return None if raw is None else json.loads(raw)  # type: ignore[no-any-return]

    async def publish(self, message: BusMessage) -> None:
        async with self._operation():
            await self.client.publish(self.channel, json.dumps(message))


def _seconds(ttl: float) -> int:
    return max(1, int(ttl))


def _millis(ttl: float) -> int:
    return max(1, int(ttl * 1000))
