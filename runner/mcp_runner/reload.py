"""``mcp-runner serve --reload``: serve in a child process, and start a new one whenever a
plugin's source or the config file changes.

Changes are found by polling (each file's modification time and size, every
`POLL_SECONDS`): no dependency, and the same on every platform and file system. A plugin's
source is the directory of its package (every ``.py`` file below it, new ones included) or
its module's file; builtins are not watched.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import log

#: Seconds between two looks at the watched files.
POLL_SECONDS = 0.5
#: Seconds a server is given to finish after SIGTERM before it is killed.
STOP_SECONDS = 10.0

Snapshot = dict[Path, tuple[int, int]]


def plugin_sources(records: Iterable[Any]) -> list[Path]:
    """The source of each plugin that is neither builtin nor disabled: its package's
    directory, or its module's file (a plugin that failed to import is watched too, so fixing
    it reloads; one the configuration turns back on is seen through the config file)."""
    sources: set[Path] = set()
    for record in records:
        if record.source == "builtin" or record.status == "disabled":
            continue
        module = record.value.split(":", 1)[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or not spec.has_location:
            continue
        origin = Path(spec.origin)
        sources.add(origin.parent if spec.submodule_search_locations else origin)
    return sorted(sources)


def snapshot(paths: Iterable[Path]) -> Snapshot:
    """Modification time and size of every watched file (``.py`` files below a directory)."""
    found: Snapshot = {}
    for path in paths:
        files = path.rglob("*.py") if path.is_dir() else [path]
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            found[file] = (stat.st_mtime_ns, stat.st_size)
    return found


def changed(before: Snapshot, after: Snapshot) -> Path | None:
    """One file that was changed, added or removed between two snapshots, or None."""
    for file in sorted(before.keys() | after.keys()):
        if before.get(file) != after.get(file):
            return file
    return None


def child_command(argv: list[str]) -> list[str]:
    """``mcp-runner ARGV`` with this interpreter, without ``--reload``, nor ``--directory``
    (the child starts in the directory the supervisor changed to)."""
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--directory":
            skip = True
        elif arg != "--reload" and not arg.startswith("--directory="):
            args.append(arg)
    return [sys.executable, "-m", "mcp_runner", *args]


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def supervise(command: list[str], watched: list[Path]) -> int:
    """Run `command`, restarting it when a file under `watched` changes, until interrupted
    (SIGINT or SIGTERM); a server that exits by itself is started again on the next change.
    Returns the exit status for the supervisor: 0 when interrupted."""

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    names = ", ".join(str(p) for p in watched) or "nothing"
    log.announce(f"mcp-runner: reloading on changes to {names}", "reload watching", paths=names)
    state = snapshot(watched)
    child = subprocess.Popen(command)
    reported_exit = False
    try:
        while True:
            time.sleep(POLL_SECONDS)
            if child.poll() is not None and not reported_exit:
                reported_exit = True
                log.announce(
                    f"mcp-runner: the server exited with status {child.returncode};"
                    " waiting for a change",
                    "reload server exited",
                    level="warning",
                    status=child.returncode,
                )
            now = snapshot(watched)
            file = changed(state, now)
            if file is None:
                continue
            state = now
            log.announce(f"mcp-runner: {file} changed; restarting", "reload", path=str(file))
            _stop(child)
            child = subprocess.Popen(command)
            reported_exit = False
    except KeyboardInterrupt:
        _stop(child)
        return 0


def watch_paths(runner: Any, config_source: str | None) -> list[Path]:
    """What ``--reload`` watches for `runner`: its plugins' sources and the config file."""
    paths = plugin_sources(runner.host.records.values())
    if config_source:
        paths.append(Path(config_source).absolute())
    return paths
