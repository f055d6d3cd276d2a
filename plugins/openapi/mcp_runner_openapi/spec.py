"""Reading an OpenAPI description: from a file or a URL, JSON or YAML, within a size limit,
and following `$ref`s into other documents only where the description itself lives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pydantic_core

MAX_DOCUMENTS = 32
"""The most documents one description may pull in through external `$ref`s."""


class SpecError(Exception):
    """The description cannot be read or used (the message says where and why)."""


def parse_document(data: bytes, where: str) -> Any:
    """A JSON or YAML document (YAML needs the ``yaml`` extra: ``mcp-runner-openapi[yaml]``)."""
    text_start = data.lstrip()[:1]
    if text_start in (b"{", b"["):
        try:
            return pydantic_core.from_json(data)
        except ValueError as exc:
            raise SpecError(f"{where}: not valid JSON: {exc}") from None
    try:
        import yaml
    except ImportError:
        raise SpecError(
            f"{where} is YAML: install the yaml extra (pip install 'mcp-runner-openapi[yaml]')"
        ) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: not valid YAML: {exc}") from None


def read_location(location: str, max_bytes: int, timeout: float = 30.0) -> bytes:
    """The bytes at a URL (``http``/``https``, redirects kept on the same host) or a file."""
    if location.startswith(("http://", "https://")):
        return _fetch(location, max_bytes, timeout)
    path = Path(location.removeprefix("file://")).expanduser()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SpecError(f"{location}: {size} bytes, over the limit of {max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read {location}: {exc}") from None


def _fetch(url: str, max_bytes: int, timeout: float) -> bytes:
    import httpx

    origin = _origin(url)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(5):
            try:
                with client.stream(
                    "GET", url, headers={"Accept": "application/json, application/yaml, */*"}
                ) as response:
                    if response.is_redirect:
                        target = urljoin(url, response.headers.get("location", ""))
                        if _origin(target) != origin:
                            raise SpecError(f"{url}: refused a redirect to another host ({target})")
                        url = target
                        continue
                    if response.status_code >= 400:
                        raise SpecError(f"{url}: HTTP {response.status_code}")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise SpecError(f"{url}: over the limit of {max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                raise SpecError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
    raise SpecError(f"{url}: too many redirects")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def location_of(source: str) -> str:
    """The absolute location of a spec: a URL as given, a file as a ``file://`` URL."""
    if source.startswith(("http://", "https://", "file://")):
        return source
    return Path(source).expanduser().resolve().as_uri()


class Documents:
    """The description and the documents its external `$ref`s name, read on demand.

    An external reference is followed only to the description's own host (for a URL) or
    under its own directory (for a file), each document within `max_bytes`, at most
    `MAX_DOCUMENTS` of them. `resolve` follows one reference to what it names.
    """

    def __init__(
        self,
        root: Any,
        location: str,
        max_bytes: int,
        read: Callable[[str, int], bytes] = read_location,
    ) -> None:
        self.location = location
        self.max_bytes = max_bytes
        self.read = read
        self.documents: dict[str, Any] = {location: root}

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        """What `ref` (relative to the document `base`) names, and the document it is in."""
        target, fragment = (
            urldefrag(urljoin(base, ref)) if not ref.startswith("#") else (base, ref[1:])
        )
        document = self.documents.get(target)
        if document is None:
            document = self._load(target)
        return pointer(document, fragment, ref), target

    def _load(self, target: str) -> Any:
        if not self._allowed(target):
            raise SpecError(
                f"$ref to {target} refused: external references are followed only to the "
                f"description's own host or directory ({self.location})"
            )
        if len(self.documents) >= MAX_DOCUMENTS:
            raise SpecError(f"$ref to {target} refused: more than {MAX_DOCUMENTS} documents")
        data = self.read(target.removeprefix("file://"), self.max_bytes)
        document = parse_document(data, target)
        self.documents[target] = document
        return document

    def _allowed(self, target: str) -> bool:
        if self.location.startswith("file://"):
            if not target.startswith("file://"):
                return False
            root = Path(self.location.removeprefix("file://")).parent.resolve()
            candidate = Path(target.removeprefix("file://")).resolve()
            return candidate.is_relative_to(root)
        if self.location.startswith(("http://", "https://")):
            return _origin(target) == _origin(self.location)
        return False  # an app's document has nothing beside it


def pointer(document: Any, fragment: str, ref: str) -> Any:
    """The value at a JSON Pointer (RFC 6901) fragment of `document`."""
    node = document
    if not fragment:
        return node
    if not fragment.startswith("/"):
        raise SpecError(f"$ref {ref!r}: only JSON Pointer fragments are supported")
    for raw in fragment[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        part = _percent_decode(part)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SpecError(f"$ref {ref!r}: nothing at {fragment}")
    return node


def _percent_decode(part: str) -> str:
    if "%" not in part:
        return part
    from urllib.parse import unquote

    return unquote(part)
