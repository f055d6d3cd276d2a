"""DELETE of a legacy session removes everything Redis holds for it at once: its record, and
the event logs of its streams (which were left to expire before), on a real ``redis-server``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from replica_helpers import (
    REDIS,
    Replica,
    free_port,
    initialize,
    session_headers,
    start_redis,
    stop,
    wait_for_port,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
if not os.access(REDIS, os.X_OK):
    pytest.skip("redis-server is needed (apt-get install redis-server)", allow_module_level=True)


@pytest.fixture
def redis_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="mcp-runner-redis-delete-") as workdir:
        port = free_port()
        proc = start_redis(Path(workdir), "--port", str(port))
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop(proc)


def test_delete_removes_the_record_and_every_stream_log(redis_url: str, tmp_path: Path) -> None:
    store = redis.Redis.from_url(redis_url)
    replica = Replica({"MCP_RUNNER_PLUGINS__REDIS__URL": redis_url}, tmp_path)
    try:
        with httpx.Client(timeout=10.0) as http:
            session = initialize(http, replica.url)
            other = initialize(http, replica.url)
            for sid in (session, other):
                for n in range(2):  # two streamed calls: two logged streams each
                    call = {"jsonrpc": "2.0", "id": 10 + n, "method": "tools/call"}
                    call["params"] = {
                        "name": "progress",
                        "arguments": {"steps": 2},
                        "_meta": {"progressToken": f"p{n}"},
                    }
                    answered = http.post(replica.url, headers=session_headers(sid), json=call)
                    assert answered.headers["content-type"].startswith("text/event-stream")
            logs = store.keys(f"mcp-runner:e:{session}:*")
            assert len(logs) == 2
            assert store.exists(f"mcp-runner:s:{session}", f"mcp-runner:l:{session}") == 2
            ended = http.delete(replica.url, headers=session_headers(session))
            assert ended.status_code == 204
        assert store.keys(f"mcp-runner:*{session}*") == []
        assert len(store.keys(f"mcp-runner:e:{other}:*")) == 2  # another session's are kept
        assert store.exists(f"mcp-runner:s:{other}") == 1
    finally:
        replica.stop()
        store.close()
