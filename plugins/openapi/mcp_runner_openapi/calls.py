"""One bridged call: arguments into an HTTP request, sent through the API's pooled client
(or in process to an ASGI app), and the response into a ``CallToolResult`` or resource
contents."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import pydantic_core
from mcp_runner import EmbeddedResource, ToolResult, outgoing_http_client

from .asgi import with_state
from .config import ApiOptions
from .operations import Argument, Operation

if TYPE_CHECKING:
    from mcp_runner.auth import Principal

    from .validate import Validator

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class CallFailed(Exception):
    """The request could not be made or answered (the message is what the client sees)."""


@dataclass(slots=True, frozen=True)
class Reply:
    """An API's answer, its body read whole."""

    status: int
    reason: str
    media: str  # the content type, without parameters, lower case
    body: bytes
    url: str


class Api:
    """One bridged API: its options, and the one `httpx.AsyncClient` its calls share,
    opened on first use and closed with `aclose`."""

    def __init__(self, name: str, options: ApiOptions, base_url: str, app: Any = None) -> None:
        self.name = name
        self.options = options
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.app_state: dict[str, Any] = {}  # the app's lifespan state, given to each request
        self.status: dict[str, Any] | None = None  # what `mcp-runner plugins` shows
        self._client: httpx.AsyncClient | None = None
        self._origin = _origin(self.base_url)
        self._static_query = list(options.query.items())
        # auth = "passthrough": the URI a caller's token must name in its audience to be sent
        self.audience = (options.audience or self.base_url) if options.auth else None

    def client(self) -> httpx.AsyncClient:
        """The pooled client (the ASGI app's transport for an app called in process)."""
        client = self._client
        if client is None or client.is_closed:
            transport = (
                httpx.ASGITransport(app=with_state(self.app, self.app_state))
                if self.app is not None
                else None
            )
            client = self._client = outgoing_http_client(  # calls carry the trace
                transport=transport,
                headers=self.options.headers,
                timeout=self.options.timeout,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return client

    async def aclose(self) -> None:
        """Close the pooled client (its connections)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- the request -------------------------------------------------------------------------------
    async def send(
        self, op: Operation, arguments: Mapping[str, Any], principal: Principal | None = None
    ) -> Reply:
        """Send the request for `op` with `arguments` (and, with ``auth = "passthrough"``, the
        token of the caller `principal`); the body is read up to the size limit.

        Redirects are followed only on the API's own host. Raises `CallFailed`.
        """
        request = self.build(op, arguments)
        if self.audience is not None:
            request.headers["authorization"] = self.authorization(op, self.audience, principal)
        client = self.client()
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException:
                raise CallFailed(
                    f"{op.label} timed out after {self.options.timeout:g} s ({self.name})"
                ) from None
            except httpx.HTTPError as exc:
                raise CallFailed(
                    f"cannot reach {self.name} for {op.label}: {type(exc).__name__}: {exc}"
                ) from None
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    target = urljoin(str(request.url), response.headers["location"])
                    if _origin(target) != self._origin:
                        raise CallFailed(
                            f"{op.label}: refused a redirect to another host ({target})"
                        )
                    method = "GET" if response.status_code == 303 else request.method
                    content = None if method == "GET" else request.content
                    request = client.build_request(
                        method, target, content=content, headers=request.headers
                    )
                    continue
                body = await self._read(response, op)
            finally:
                await response.aclose()
            return Reply(
                response.status_code,
                response.reason_phrase,
                response.headers.get("content-type", "").split(";", 1)[0].strip().lower(),
                body,
                str(request.url),
            )
        raise CallFailed(f"{op.label}: more than {MAX_REDIRECTS} redirects")

    def authorization(self, op: Operation, audience: str, principal: Principal | None) -> str:
        """The ``Authorization`` header that passes the caller's token through: only a token
        whose audience names `audience` (RFC 8707); else `CallFailed` saying why."""
        if principal is None or principal.token is None:
            raise CallFailed(
                f"{op.label}: {self.name} takes the caller's bearer token "
                '(auth = "passthrough") and this request carries none'
            )
        token = principal.token_for(audience)
        if token is None:
            raise CallFailed(
                f"{op.label}: the caller's token is not passed to {self.name}: its audience "
                f"(aud) does not name {audience} (RFC 8707)"
            )
        return f"Bearer {token}"

    async def _read(self, response: httpx.Response, op: Operation) -> bytes:
        limit = self.options.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise CallFailed(
                f"{op.label}: the answer is {declared} bytes, over the limit of {limit}"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise CallFailed(f"{op.label}: the answer is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def build(self, op: Operation, arguments: Mapping[str, Any]) -> httpx.Request:
        """The `httpx.Request` for `op` with (validated) `arguments`."""
        path = op.path
        query: list[tuple[str, str | int | float | bool | None]] = list(self._static_query)
        headers: dict[str, str] = {}
        cookies: list[str] = []
        fields: dict[str, Any] = {}
        payload: Any = _UNSET
        for argument in op.arguments:
            if argument.name not in arguments:
                continue
            value = arguments[argument.name]
            location = argument.location
            if location == "path":
                path = path.replace("{" + argument.wire + "}", _path_value(value, argument))
            elif location == "query":
                if value is not None:
                    query.extend(_query_pairs(argument, value))
            elif location == "header":
                if value is not None:
                    headers[argument.wire] = _joined(value)
            elif location == "cookie":
                if value is not None:
                    cookies.append(f"{argument.wire}={quote(_joined(value), safe='')}")
            elif location == "body":
                fields[argument.wire] = value
            else:
                payload = value
        if cookies:
            headers["cookie"] = "; ".join(cookies)
        url = self.base_url + path
        content, data, files, media = _body(op, fields, payload)
        if media is not None:
            headers["content-type"] = media
        client = self.client()
        return client.build_request(
            op.method.upper(),
            url,
            params=query or None,
            headers=headers,
            content=content,
            data=data,
            files=files,
        )


_UNSET: Any = object()


def _body(
    op: Operation, fields: dict[str, Any], payload: Any
) -> tuple[bytes | None, dict[str, Any] | None, dict[str, Any] | None, str | None]:
    """``(content, form data, files, content type)`` of the request body."""
    media = op.body_media
    if media is None or (payload is _UNSET and not fields):
        return None, None, None, None
    value = fields if payload is _UNSET else payload
    if media == "application/x-www-form-urlencoded":
        return None, {k: _form(v) for k, v in value.items() if v is not None}, None, None
    if media == "multipart/form-data":
        data: dict[str, Any] = {}
        files: dict[str, Any] = {}
        binary = _binary_fields(op)
        for key, item in value.items():
            if key in binary and isinstance(item, str):
                files[key] = (key, _decoded(item, key))
            elif item is not None:
                data[key] = _form(item)
        return None, data, files or None, None
    if media == "application/octet-stream":
        return _decoded(value, "body") if isinstance(value, str) else b"", None, None, media
    if media.startswith("text/"):
        text = value if isinstance(value, str) else pydantic_core.to_json(value).decode()
        return text.encode(), None, None, media
    return pydantic_core.to_json(value), None, None, media


def _binary_fields(op: Operation) -> set[str]:
    props = op.input_schema.get("properties", {})
    return {
        a.wire
        for a in op.arguments
        if a.location == "body" and props.get(a.name, {}).get("contentEncoding") == "base64"
    }


def _decoded(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CallFailed(f"{name}: not valid base64") from None


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return pydantic_core.to_json(value).decode()


def _form(value: Any) -> str:
    return (
        _scalar(value)
        if not isinstance(value, dict | list)
        else pydantic_core.to_json(value).decode()
    )


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{_scalar(v)}" for k, v in value.items())
    return _scalar(value)


def _path_value(value: Any, argument: Argument) -> str:
    if isinstance(value, list):
        text = ",".join(quote(_scalar(v), safe="") for v in value)
    elif isinstance(value, dict):
        sep = "=" if argument.explode else ","
        text = ",".join(
            f"{quote(str(k), safe='')}{sep}{quote(_scalar(v), safe='')}" for k, v in value.items()
        )
    else:
        text = quote(_scalar(value), safe="")
    if argument.style == "label":
        return "." + text
    if argument.style == "matrix":
        return f";{argument.wire}={text}"
    return text


def _query_pairs(argument: Argument, value: Any) -> list[tuple[str, str]]:
    name = argument.wire
    if isinstance(value, list):
        if argument.explode and argument.style == "form":
            return [(name, _scalar(v)) for v in value]
        sep = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(argument.style, ",")
        return [(name, sep.join(_scalar(v) for v in value))]
    if isinstance(value, dict):
        if argument.style == "deepObject":
            return [(f"{name}[{k}]", _scalar(v)) for k, v in value.items()]
        if argument.explode:
            return [(str(k), _scalar(v)) for k, v in value.items()]
        return [(name, ",".join(f"{k},{_scalar(v)}" for k, v in value.items()))]
    return [(name, _scalar(value))]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


# -- the answer ------------------------------------------------------------------------------------


def tool_result(api: Api, op: Operation, reply: Reply, output: Validator | None) -> ToolResult:
    """The tool's result for a response: an error for 4xx/5xx, ``structuredContent`` checked
    against the output schema, or content by the response's type."""
    if reply.status >= 400:
        return failure(error_text(api, op, reply))
    media = reply.media
    body = reply.body
    if not body:
        return ToolResult([{"type": "text", "text": f"{reply.status} {reply.reason}".strip()}])
    if _is_json(media):
        try:
            data = pydantic_core.from_json(body)
        except ValueError:
            return failure(f"{op.label}: the answer is not valid JSON ({len(body)} bytes)")
        text = body.decode("utf-8", "replace")
        if op.output_schema is None or output is None:
            return ToolResult([{"type": "text", "text": text}])
        structured = {"result": data} if op.wrap_output else data
        problems = output.errors(structured)
        if problems:
            return failure(
                f"{op.label}: the answer does not match the response schema the description "
                f"declares ({'; '.join(problems)}); set output_schema = false for this API to "
                f"take answers as they come. The answer: {_shortened(text, api.options.max_error_chars)}"
            )
        return ToolResult([{"type": "text", "text": text}], structured)
    return ToolResult([_content_block(reply.url, media, body)])


def resource_value(uri: str, reply: Reply) -> EmbeddedResource:
    """The contents of ``resources/read`` for a successful answer: text for JSON and text
    types, else the bytes as a blob, with the answer's media type."""
    media = reply.media or "application/octet-stream"
    body = reply.body
    if _is_json(media) or _is_text(media):
        return EmbeddedResource(uri, text=body.decode("utf-8", "replace"), mime_type=media)
    return EmbeddedResource(uri, blob=body, mime_type=media)


def error_text(api: Api, op: Operation, reply: Reply) -> str:
    """What a 4xx/5xx answer says: the status and the (shortened) body."""
    body = reply.body.decode("utf-8", "replace").strip()
    text = f"{op.label} answered HTTP {reply.status} {reply.reason}".rstrip()
    if body:
        text += f": {_shortened(body, api.options.max_error_chars)}"
    return text


def failure(message: str) -> ToolResult:
    """An ``isError`` result saying `message`."""
    return ToolResult([{"type": "text", "text": message}], is_error=True)


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _is_text(media: str) -> bool:
    return (
        media.startswith("text/")
        or media.endswith("+xml")
        or media
        in (
            "application/xml",
            "application/javascript",
            "application/x-yaml",
            "application/yaml",
        )
    )


def _content_block(url: str, media: str, body: bytes) -> dict[str, Any]:
    if _is_text(media) or not media:
        return {"type": "text", "text": body.decode("utf-8", "replace")}
    encoded = base64.b64encode(body).decode()
    if media.startswith("image/"):
        return {"type": "image", "data": encoded, "mimeType": media}
    if media.startswith("audio/"):
        return {"type": "audio", "data": encoded, "mimeType": media}
    return {"type": "resource", "resource": {"uri": url, "mimeType": media, "blob": encoded}}
