"""The user's part of the authorization code flow: send them to the authorization URL, take
the redirect back. `RedirectHandler` is the interface; `LoopbackRedirect` prints the URL and
listens on 127.0.0.1 for the redirect; `HeadlessRedirect` follows the URL itself, for
authorization servers that approve without a person (tests, automation)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING, Protocol, TextIO
from urllib.parse import parse_qsl, urljoin, urlsplit

from .errors import OAuthError

if TYPE_CHECKING:
    import httpx

_PAGE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"<!doctype html><title>Authorized</title><p>Authorization is done: you may close this "
    b"window.</p>"
)
_NOT_HERE = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class RedirectHandler(Protocol):
    """Takes the user through authorization and brings back the redirect's parameters."""

    async def redirect_uri(self) -> str:
        """The redirect URI to register and to send in the authorization request (a
        listener, if there is one, is ready when this returns)."""
        ...

    async def authorize(self, url: str) -> dict[str, str]:
        """Have the authorization URL visited; return the query parameters of the redirect to
        `redirect_uri()` (``code``, ``state``, ``iss``, or ``error``)."""
        ...


class LoopbackRedirect:
    """Prints the authorization URL (and opens a browser when `open_browser`), then waits for
    the redirect on ``http://127.0.0.1:<port><path>`` (RFC 8252's loopback redirect).

    `port` 0 takes a free port the first time and keeps it; `timeout` bounds the wait for
    the user, in seconds.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        path: str = "/callback",
        open_browser: bool = False,
        timeout: float = 300.0,
        out: TextIO | None = None,
    ) -> None:
        self.port = port
        self.path = path
        self.open_browser = open_browser
        self.timeout = timeout
        self.out = out
        self._server: asyncio.Server | None = None
        self._answer: asyncio.Future[dict[str, str]] | None = None

    async def redirect_uri(self) -> str:
        """Start listening (if not yet) and return ``http://127.0.0.1:<port><path>``."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def authorize(self, url: str) -> dict[str, str]:
        """Show the URL, wait for the browser to come back, stop listening."""
        await self.redirect_uri()
        self._answer = asyncio.get_running_loop().create_future()
        print(f"To authorize, open this URL in a browser:\n  {url}", file=self.out or sys.stderr)
        if self.open_browser:
            import webbrowser

            webbrowser.open(url)
        try:
            return await asyncio.wait_for(self._answer, self.timeout)
        except TimeoutError:
            raise OAuthError(f"no authorization came back within {self.timeout:g} s") from None
        finally:
            self._answer = None
            await self.close()

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10.0)
            parts = line.decode("latin-1").split()
            target = urlsplit(parts[1]) if len(parts) >= 2 and parts[0] == "GET" else None
            answer = self._answer
            if target is None or target.path != self.path or answer is None or answer.done():
                writer.write(_NOT_HERE)
            else:
                answer.set_result(dict(parse_qsl(target.query)))
                writer.write(_PAGE)
            await writer.drain()
        except (OSError, TimeoutError, UnicodeDecodeError):
            pass
        finally:
            writer.close()


class HeadlessRedirect:
    """Visits the authorization URL with an HTTP client and follows its redirects until one
    goes to `redirect_uri`, whose parameters it returns. For authorization servers that
    approve at once (test servers, pre-approved clients); nobody is asked anything."""

    def __init__(
        self,
        redirect_uri: str = "http://localhost:3000/callback",
        *,
        http_client: httpx.AsyncClient | None = None,
        max_redirects: int = 10,
    ) -> None:
        self._redirect_uri = redirect_uri
        self._http = http_client
        self.max_redirects = max_redirects

    async def redirect_uri(self) -> str:
        """The configured redirect URI (nothing listens on it)."""
        return self._redirect_uri

    async def authorize(self, url: str) -> dict[str, str]:
        """GET the URL and its redirects; the parameters of the one to `redirect_uri`."""
        import httpx

        target = urlsplit(self._redirect_uri)
        async with contextlib.AsyncExitStack() as stack:
            http = self._http
            if http is None:
                http = await stack.enter_async_context(httpx.AsyncClient())
            for _ in range(self.max_redirects):
                try:
                    response = await http.get(url, follow_redirects=False)
                except httpx.HTTPError as exc:
                    raise OAuthError(f"authorization request failed: {exc}") from exc
                location = response.headers.get("location")
                if not response.is_redirect or not location:
                    raise OAuthError(
                        f"the authorization endpoint answered HTTP {response.status_code} "
                        "without redirecting back"
                    )
                url = urljoin(url, location)
                landed = urlsplit(url)
                if (landed.scheme, landed.netloc, landed.path) == (
                    target.scheme,
                    target.netloc,
                    target.path,
                ):
                    return dict(parse_qsl(landed.query))
        raise OAuthError(f"more than {self.max_redirects} redirects during authorization")
