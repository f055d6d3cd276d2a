"""The walk `search_files` makes: which files under a directory it looks at, in which order.

Every rule is stated here rather than left to os.walk, pathlib or glob, whose handling of
symlinks changes between Python versions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ._paths import Sandbox


def walk_files(box: Sandbox, start: Path) -> Iterator[tuple[Path, str]]:
    """The files under `start` to search, each with its path relative to `start` ("a/b.txt").

    - Depth first: a directory's files, then its subdirectories; names in code-point order.
    - Directories whose name starts with "." are not entered (`start` itself may be one).
    - A symlink is never entered as a directory. It counts as a file when the links, followed
      one after another, end at an existing regular file inside a root; a dangling link, a
      loop of links, or a link out of the roots or to anything else is left out.
    - Other entries that are not regular files (FIFOs, sockets, devices) are left out, and a
      directory that cannot be read is passed over.
    """
    pending = [(start, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            continue
        subdirectories = []
        for entry in entries:
            try:
                if entry.is_symlink():
                    is_file = _leads_to_a_file_inside(box, entry)
                elif entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        subdirectories.append((Path(entry.path), f"{prefix}{entry.name}/"))
                    continue
                else:
                    is_file = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if is_file:
                yield Path(entry.path), prefix + entry.name
        pending.extend(reversed(subdirectories))


def _leads_to_a_file_inside(box: Sandbox, link: os.DirEntry[str]) -> bool:
    try:
        target = link.stat()  # the kernel follows the links: a loop or a dangling one fails here
    except OSError:
        return False
    return stat.S_ISREG(target.st_mode) and box.allows(Path(link.path))
