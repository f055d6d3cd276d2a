"""Settings, and the one place where a requested path is checked against the roots.

Paths are resolved with `os.path.realpath`, and a loop of symlinks is found by asking the
kernel (`os.stat`): the same on every Python, where `Path.resolve()` differs (3.13 no longer
raises on a loop).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mcp_runner import ToolError
from pydantic import BaseModel, ConfigDict, Field, field_validator

MiB = 1024 * 1024
SNIFF_BYTES = 8192


class FilesSettings(BaseModel):
    """``[plugins.files]``: the directories served, and how much a call may return."""

    model_config = ConfigDict(extra="forbid")

    roots: list[Path] = Field(
        default_factory=lambda: [Path.cwd()],
        min_length=1,
        validate_default=True,
        description="Directories served; relative paths resolve against the first one.",
    )
    max_read_bytes: int = Field(default=MiB, ge=1, description="Most bytes one read returns.")
    max_results: int = Field(default=200, ge=1, description="Most entries or matches returned.")

    @field_validator("roots")
    @classmethod
    def _real_directories(cls, roots: list[Path]) -> list[Path]:
        real = [Path(os.path.realpath(root.expanduser())) for root in roots]
        missing = [str(root) for root in real if not root.is_dir()]
        if missing:
            raise ValueError(f"not a directory: {', '.join(missing)}")
        return real


class Sandbox:
    """Resolves requested paths and refuses any whose real location is outside every root."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots

    def resolve(self, path: str) -> Path:
        """The real path of `path`: relative to the first root, or absolute inside any root.

        It need not exist; a loop of symlinks is refused.
        """
        try:
            given = Path(path)
            real = Path(os.path.realpath(given if given.is_absolute() else self.roots[0] / given))
        except (OSError, ValueError) as exc:  # NUL bytes
            raise ToolError(f"Cannot resolve path {path!r}: {exc}") from None
        if not self.contains(real):
            raise ToolError(
                f"Access denied: {path!r} resolves to {real}, outside the allowed roots "
                f"({', '.join(map(str, self.roots))})"
            )
        if _in_a_loop(real):
            raise ToolError(f"Cannot resolve path {path!r}: a loop of symlinks")
        return real

    def contains(self, real: Path) -> bool:
        """Whether a real (already resolved) path is inside a root."""
        return any(real.is_relative_to(root) for root in self.roots)

    def allows(self, path: Path) -> bool:
        """Whether `path` (a symlink, say) really is inside a root."""
        try:
            return self.contains(Path(os.path.realpath(path)))
        except (OSError, ValueError):
            return False

    def display(self, path: Path) -> str:
        """How results name a path: relative to the first root when inside it, else absolute."""
        first = self.roots[0]
        return path.relative_to(first).as_posix() if path.is_relative_to(first) else str(path)

    def file(self, path: str) -> Path:
        """The real path of an existing regular file under the roots."""
        real = self.resolve(path)
        if not real.exists():
            raise ToolError(f"No such file: {path!r}")
        if not real.is_file():
            raise ToolError(f"Not a regular file: {path!r}")
        return real

    def directory(self, path: str) -> Path:
        """The real path of an existing directory under the roots."""
        real = self.resolve(path)
        if not real.exists():
            raise ToolError(f"No such directory: {path!r}")
        if not real.is_dir():
            raise ToolError(f"Not a directory: {path!r}")
        return real


def _in_a_loop(real: Path) -> bool:
    """Whether `real` (as `os.path.realpath` left it) is a symlink that loops."""
    try:
        os.stat(real)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def looks_binary(head: bytes) -> bool:
    """True for data with a NUL byte in its first block, as text files have none."""
    return b"\0" in head[:SNIFF_BYTES]


def raw_lines(stream: BinaryIO, cap: int) -> Iterator[tuple[bytes, bool]]:
    """Each line's first `cap` bytes and whether it was cut, reading long lines in chunks."""
    while chunk := stream.readline(cap):
        head, cut = chunk, False
        while len(chunk) == cap and not chunk.endswith(b"\n"):
            chunk = stream.readline(cap)
            cut = cut or bool(chunk.rstrip(b"\r\n"))
        yield head, cut
