"""The speed peers' own virtualenv: FastMCP 4.x and the official ``mcp`` 2.x SDK.

Never installed into mcp-runner's interpreter (mcp-runner must not depend on them).
``ensure_peers()`` reuses benchmarks/.venv-peers when it already holds the right
versions, and otherwise creates it:

1. ``pip install fastmcp==4.1.6`` (brings mcp 2.x);
2. if that fails (a registry missing a pin such as certifi>=2026.10.19), the fallback
   ``pip install --no-deps fastmcp==4.1.6 fastmcp-slim==4.1.6`` and then
   ``pip install -r benchmarks/peers-requirements.txt``.

``python benchmarks/peers.py [--fast]`` does only this step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-peers"
FASTMCP_PIN = "fastmcp==4.1.6"
FALLBACK = ["fastmcp==4.1.6", "fastmcp-slim==4.1.6"]
REQUIREMENTS = HERE / "peers-requirements.txt"
FAST_EXTRAS = ["uvloop", "httptools"]


def _log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def versions(python: Path | str) -> dict[str, str] | None:
    """{"fastmcp": ..., "mcp": ...} installed for ``python``, or None."""
    code = (
        "import importlib.metadata as m\n"
        "for d in ('fastmcp', 'mcp'):\n"
        "    try: print(d, m.version(d))\n"
        "    except m.PackageNotFoundError: print(d, '-')\n"
    )
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    found = dict(line.split() for line in out.stdout.splitlines() if line.strip())
    return found


def _ok(found: dict[str, str] | None) -> bool:
    return bool(found) and found["fastmcp"].startswith("4.") and found["mcp"].startswith("2.")


def has_modules(python: Path | str, modules: list[str]) -> bool:
    code = (
        "import importlib.util as u, sys\n"
        "sys.exit(0 if all(u.find_spec(m) for m in sys.argv[1:]) else 1)"
    )
    return subprocess.run([str(python), "-c", code, *modules], capture_output=True).returncode == 0


def _pip(python: Path, *args: str) -> bool:
    _log("pip install " + " ".join(args))
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        tail = "\n".join(line for line in out.stderr.splitlines() if "is ignored" not in line)[
            -1500:
        ]
        _log(f"pip failed ({out.returncode}):\n{tail}")
    return out.returncode == 0


def ensure_peers(venv: Path = VENV, *, fast: bool = False) -> Path:
    """The peers' interpreter, installing whatever is missing. Raises RuntimeError."""
    python = venv / "bin" / "python"
    if not _ok(versions(python)):
        if not python.exists():
            _log(f"creating {venv}")
            # The base interpreter of the one running (a venv's python makes a venv of its base).
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        if not _pip(python, FASTMCP_PIN):
            _log(
                "plain install failed; "
                "using the fallback recipe (--no-deps + peers-requirements.txt)"
            )
            if not (_pip(python, "--no-deps", *FALLBACK) and _pip(python, "-r", str(REQUIREMENTS))):
                raise RuntimeError("could not install the peers; see the pip output above")
        found = versions(python)
        if not _ok(found):
            raise RuntimeError(f"peers venv has the wrong versions: {found}")
    if fast and not has_modules(python, FAST_EXTRAS) and not _pip(python, *FAST_EXTRAS):
        raise RuntimeError("could not install uvloop/httptools into the peers venv")
    return python


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--venv", type=Path, default=VENV)
    parser.add_argument("--fast", action="store_true", help="also install uvloop and httptools")
    args = parser.parse_args()
    python = ensure_peers(args.venv, fast=args.fast)
    print(python, versions(python))


if __name__ == "__main__":
    main()
