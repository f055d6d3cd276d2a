"""files: list, read and search files under configured root directories.

Relative paths resolve against the first root; absolute paths are accepted inside any root.
A path whose real location (after ``..`` and symlinks) is outside every root is refused.
"""

from __future__ import annotations

import codecs
import fnmatch
import mimetypes
import os
from pathlib import Path
from typing import Annotated, Literal

from mcp_runner import Context, EmbeddedResource, McpError, Plugin, ToolError
from pydantic import BaseModel, Field

from ._paths import SNIFF_BYTES, FilesSettings, Sandbox, looks_binary, raw_lines
from ._walk import walk_files

__all__ = ["FilesSettings", "plugin"]

INVALID_PARAMS = -32602
MAX_LINE_CHARS = 300
READ_ONLY = {"readOnlyHint": True, "openWorldHint": False}

plugin = Plugin(
    "files",
    description="List, read and search files under configured root directories",
    settings=FilesSettings,
    instructions=(
        "files: paths are relative to the first served root, or absolute inside a root; "
        "`list_roots` shows the roots. Nothing outside them can be read."
    ),
)


class Root(BaseModel):
    path: str
    uri: str


class Entry(BaseModel):
    name: str
    type: Literal["file", "directory", "symlink", "other"]
    size: int | None = None


class Listing(BaseModel):
    path: str
    entries: list[Entry]
    total: int = Field(description="Entries in the directory; more than listed if truncated.")
    truncated: bool


class FileText(BaseModel):
    path: str
    text: str
    offset: int = Field(description="Line number of the first line returned (1-based).")
    lines: int = Field(description="Number of lines returned.")
    next_offset: int | None = Field(description="Where to continue reading, if lines remain.")
    truncated: bool = Field(description="True if lines remain or a long line was cut.")


class Match(BaseModel):
    path: str
    line: int | None = None
    text: str | None = None


class SearchResult(BaseModel):
    matches: list[Match]
    truncated: bool = Field(description="True if the search stopped at max_results.")
    skipped: int = Field(description="Matching files not searched: binary or over max_read_bytes.")


def _setup(ctx: Context) -> tuple[FilesSettings, Sandbox]:
    settings: FilesSettings = ctx.settings
    return settings, Sandbox(settings.roots)


def _binary(path: str) -> ToolError:
    return ToolError(f"{path!r} is a binary file (or not UTF-8); read_file returns text only")


# -- tools ------------------------------------------------------------------------------------


@plugin.tool(annotations=READ_ONLY)
def list_roots(ctx: Context) -> list[Root]:
    """List the served root directories; relative paths start at the first one."""
    return [Root(path=str(root), uri=root.as_uri()) for root in ctx.settings.roots]


@plugin.tool(annotations=READ_ONLY)
def list_directory(ctx: Context, path: str = ".") -> Listing:
    """List a directory: each entry's name, type (file, directory, symlink) and size.

    Args:
        path: A directory, relative to the first root or absolute inside a root.
    """
    settings, box = _setup(ctx)
    real = box.directory(path)
    try:
        with os.scandir(real) as scan:
            children = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        raise ToolError(f"Cannot list {path!r}: {exc.strerror}") from None
    shown = children[: settings.max_results]
    return Listing(
        path=box.display(real),
        entries=[_entry(e) for e in shown],
        total=len(children),
        truncated=len(children) > len(shown),
    )


def _entry(entry: os.DirEntry[str]) -> Entry:
    try:
        if entry.is_symlink():
            return Entry(name=entry.name, type="symlink")
        if entry.is_dir():
            return Entry(name=entry.name, type="directory")
        if entry.is_file():
            return Entry(name=entry.name, type="file", size=entry.stat().st_size)
    except OSError:
        pass
    return Entry(name=entry.name, type="other")


@plugin.tool(annotations=READ_ONLY)
def read_file(
    ctx: Context,
    path: str,
    offset: Annotated[int, Field(ge=1)] = 1,
    limit: Annotated[int | None, Field(ge=1)] = None,
) -> FileText:
    """Read a UTF-8 text file, whole or by lines; binary files are refused.

    At most max_read_bytes are returned per call: when lines remain, `next_offset` says
    where to continue.

    Args:
        path: A file, relative to the first root or absolute inside a root.
        offset: The first line to return (1-based).
        limit: The most lines to return (default: as many as fit in max_read_bytes).
    """
    settings, box = _setup(ctx)
    real = box.file(path)
    budget = settings.max_read_bytes
    lines: list[str] = []
    used, cut_any, next_offset = 0, False, None
    try:
        with real.open("rb") as stream:
            if looks_binary(stream.read(SNIFF_BYTES)):
                raise _binary(path)
            stream.seek(0)
            for number, (raw, cut) in enumerate(raw_lines(stream, budget), 1):
                if number < offset:
                    continue
                if (limit is not None and len(lines) >= limit) or (
                    lines and used + len(raw) > budget
                ):
                    next_offset = number
                    break
                try:  # a cut line may end inside a character: that tail is dropped, not an error
                    lines.append(codecs.getincrementaldecoder("utf-8")().decode(raw, final=not cut))
                except UnicodeDecodeError:
                    raise _binary(path) from None
                used += len(raw)
                cut_any = cut_any or cut
    except OSError as exc:
        raise ToolError(f"Cannot read {path!r}: {exc.strerror}") from None
    return FileText(
        path=box.display(real),
        text="".join(lines),
        offset=offset,
        lines=len(lines),
        next_offset=next_offset,
        truncated=next_offset is not None or cut_any,
    )


@plugin.tool(annotations=READ_ONLY)
def search_files(
    ctx: Context, pattern: str, query: str | None = None, path: str = "."
) -> SearchResult:
    """Find files by glob pattern and, optionally, the lines in them containing some text.

    Without `query`, every file matching `pattern` is returned; with it, each matching line
    (case-insensitive) with its line number. Hidden directories (".git", ".venv") below
    `path` and symlinked directories are not entered; a symlink counts as a file when it
    leads to a regular file inside a root. At most max_results matches are returned.

    Args:
        pattern: A glob matched against file names and paths, e.g. "*.py" or "src/**/*.md".
        query: Text to find in the matching files (case-insensitive).
        path: The directory to search, relative to the first root or absolute inside a root.
    """
    settings, box = _setup(ctx)
    start = box.directory(path)
    patterns = {pattern, pattern.removeprefix("**/"), pattern.replace("/**/", "/")}
    needle = query.casefold() if query else None
    matches: list[Match] = []
    skipped = 0
    for file, relative in walk_files(box, start):
        if not any(fnmatch.fnmatch(file.name, p) or fnmatch.fnmatch(relative, p) for p in patterns):
            continue
        shown = box.display(file)
        if needle is None:
            matches.append(Match(path=shown))
        else:
            text = _searchable(file, settings.max_read_bytes)
            if text is None:
                skipped += 1
                continue
            for number, line in enumerate(text.split("\n"), 1):
                if needle in line.casefold():
                    matches.append(
                        Match(path=shown, line=number, text=line.strip()[:MAX_LINE_CHARS])
                    )
                    if len(matches) > settings.max_results:
                        break
        if len(matches) > settings.max_results:
            return SearchResult(matches=matches[:-1], truncated=True, skipped=skipped)
    return SearchResult(matches=matches, truncated=False, skipped=skipped)


def _searchable(file: Path, max_bytes: int) -> str | None:
    """The file's text, or None when it is too large, binary, not UTF-8, or unreadable."""
    try:
        if not file.is_file() or file.stat().st_size > max_bytes:
            return None
        data = file.read_bytes()
        return None if looks_binary(data) else data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# -- resources --------------------------------------------------------------------------------


@plugin.resource("files://roots", name="roots", mime_type="application/json")
def roots_resource(ctx: Context) -> list[Root]:
    """The served root directories; read files under them as file:///{path}."""
    return list_roots(ctx)


@plugin.resource("file:///{+path}", name="file")
def file_resource(ctx: Context, path: str) -> EmbeddedResource:
    """A file under the served roots: text (MIME type guessed from its name) or a blob."""
    settings, box = _setup(ctx)
    uri = Path("/", path).as_uri()
    try:
        real = box.file("/" + path)
        size = real.stat().st_size
        if size > settings.max_read_bytes:
            raise ToolError(
                f"{real} is {size} bytes, over max_read_bytes ({settings.max_read_bytes}); "
                "use the read_file tool to read it by lines"
            )
        data = real.read_bytes()
    except ToolError as exc:
        raise McpError(INVALID_PARAMS, str(exc), {"uri": uri}) from None
    except OSError as exc:
        raise McpError(INVALID_PARAMS, f"Cannot read {uri}: {exc.strerror}", {"uri": uri}) from None
    mime = mimetypes.guess_type(real.name)[0]
    if not looks_binary(data):
        try:
            return EmbeddedResource(uri, text=data.decode("utf-8"), mime_type=mime or "text/plain")
        except UnicodeDecodeError:
            pass
    return EmbeddedResource(uri, blob=data, mime_type=mime or "application/octet-stream")
