"""Where tokens and client registrations are kept between requests (and, in a file, between
runs): the `TokenStore` interface, in memory and in a file only its owner can read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol


class TokenStore(Protocol):
    """JSON-ready records by key. The OAuth client keeps ``tokens <server URL>`` and
    ``client <issuer>`` records; an implementation need not know what they mean."""

    async def get(self, key: str) -> dict[str, Any] | None:
        """The record under `key`, or None."""
        ...

    async def set(self, key: str, value: dict[str, Any] | None) -> None:
        """Keep `value` under `key` (None deletes the record)."""
        ...


class MemoryTokenStore:
    """Records in this process's memory: gone when it exits (the default)."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        """The record under `key`, or None."""
        return self._records.get(key)

    async def set(self, key: str, value: dict[str, Any] | None) -> None:
        """Keep `value` under `key` (None deletes the record)."""
        if value is None:
            self._records.pop(key, None)
        else:
            self._records[key] = value


class FileTokenStore:
    """Records in one JSON file, readable and writable by its owner alone (mode 0600).

    Each change rewrites the file whole, through a temporary file that replaces it, so a
    crash leaves the old file or the new one, never half of one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable or corrupt: start again (the flows can re-authorize)
        return data if isinstance(data, dict) else {}

    async def get(self, key: str) -> dict[str, Any] | None:
        """The record under `key`, or None."""
        value = self._read().get(key)
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: dict[str, Any] | None) -> None:
        """Keep `value` under `key` (None deletes the record)."""
        records = self._read()
        if value is None:
            if records.pop(key, None) is None:
                return
        else:
            records[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)  # even when a leftover file had another mode
                json.dump(records, out, indent=1, sort_keys=True)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, self.path)
