"""Bare Streamable HTTP baseline on 127.0.0.1, path /mcp, plain JSON answers.

Two implementations of the same minimal endpoint (legacy sessions: initialize ->
Mcp-Session-Id, DELETE ends one; 2026-07-28: self-contained POSTs with the
MCP-Protocol-Version / Mcp-Method headers, no session):

--impl asgi     (default, THE baseline): a raw ASGI callable -- no Starlette, no
                routing, no middleware -- on one uvicorn worker with the same uvicorn
                settings as every other server here. All the servers compared run
                on uvicorn, so this is the practical limit for them.
--impl asyncio  a hand-written HTTP/1.1 asyncio.Protocol with no uvicorn at all. Faster
                than anything on uvicorn; the benchmark uses it to show the load
                generator's own ceiling.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from _bare import MODERN, Answerer
from _common import server_args

JSON_CT = (b"content-type", b"application/json")
REASONS = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
}


class Endpoint:
    def __init__(self, tools_spec: str | None) -> None:
        self.answerer = Answerer(tools_spec)
        self.sessions: dict[bytes, dict] = {}

    def handle(
        self, method: str, path: str, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, extra headers, body) for one HTTP request."""
        if path != "/mcp":
            return 404, [], b""
        if method == "DELETE":
            sid = headers.get(b"mcp-session-id")
            return (200, [], b"") if self.sessions.pop(sid, None) is not None else (404, [], b"")
        if method != "POST":
            return 405, [(b"allow", b"POST, DELETE")], b""
        try:
            msg = json.loads(body)
        except ValueError:
            return (
                400,
                [JSON_CT],
                b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
            )
        if not isinstance(msg, dict):
            return 400, [], b""
        extra: list[tuple[bytes, bytes]] = []
        if headers.get(b"mcp-protocol-version") == MODERN.encode():
            # 2026-07-28: no session; the routing header must agree with the body.
            if headers.get(b"mcp-method", b"").decode() != msg.get("method"):
                return 400, [], b""
        elif msg.get("method") == "initialize":
            sid = uuid.uuid4().hex.encode()
            self.sessions[sid] = {
                "protocolVersion": (msg.get("params") or {}).get("protocolVersion")
            }
            extra.append((b"mcp-session-id", sid))
        else:
            sid = headers.get(b"mcp-session-id")
            if sid is None:
                return 400, [], b""
            if sid not in self.sessions:
                return 404, [], b""
        reply = self.answerer.answer(msg)
        if reply is None:
            return 202, extra, b""
        return 200, [JSON_CT, *extra], json.dumps(reply, separators=(",", ":")).encode()


def asgi_app(endpoint: Endpoint):
    async def app(scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, headers, out = endpoint.handle(
            scope["method"], scope["path"], dict(scope["headers"]), body
        )
        headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    return app


class RawHTTP(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies only: what the load generator sends."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            method, path, _ = head[0].split(b" ", 2)
            status, extra, out = self.endpoint.handle(method.decode(), path.decode(), headers, body)
            lines = [
                b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"")),
                b"content-length: %d" % len(out),
            ]
            lines += [b"%s: %s" % kv for kv in extra]
            assert self.transport is not None
            self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + out)
            if headers.get(b"connection") == b"close":
                self.transport.close()
                return


def main() -> None:
    args = server_args(__doc__)
    endpoint = Endpoint(args.tools)
    if args.impl == "asyncio":

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: RawHTTP(endpoint), "127.0.0.1", args.port)
            async with server:
                await server.serve_forever()

        if args.stack == "fast":
            import uvloop

            uvloop.run(serve())
        else:
            asyncio.run(serve())
        return
    import uvicorn  # imported here so that --impl asyncio needs no uvicorn

    config = uvicorn.Config(
        asgi_app(endpoint),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="uvloop" if args.stack == "fast" else "asyncio",
        http="httptools" if args.stack == "fast" else "h11",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
