"""Every runnable code block in docs/ is run or checked, so a page cannot drift from the code.

The conventions a page follows are in CONTRIBUTING.md ("Writing docs"). In short:

* ``python`` blocks are executed as scripts, each in a temporary directory of its own (with
  the page's ``file:`` blocks in it); a block that defines ``test_*`` functions is run with
  pytest instead.
* ``console``/``sh``/``bash`` blocks run their ``$ `` lines through bash (the test
  environment's ``mcp-runner`` and ``python`` first on PATH) and compare the output written
  below each command; a trailing ``...`` line matches the rest. A shell block without ``$ ``
  lines must be marked ``not run``.
* ``toml`` blocks are parsed; settings files are validated by the runner, with the plugins
  and builtins that read their tables; ``pyproject.toml`` fragments are only parsed.
* ``json`` and ``yaml`` blocks are parsed.
* ``<!-- not run: reason -->`` on the line before a block skips it (counted, and reported).
* ``<!-- file: path -->`` on the line before a block writes it to `path` in the page's
  directory before the page's blocks run, instead of running it (blocks naming the same
  file are joined in page order); the directory is on ``PYTHONPATH``, and a python module
  written so is imported.
* ``<!-- docs-test prelude: code -->`` anywhere on a page is put before each of its python
  blocks (the imports and the ``plugin`` a page's fragments assume).
* Commands run with the plugins ``files``, ``sqlite`` and ``openapi`` allowed
  (``MCP_RUNNER_PLUGINS``); ``<!-- docs-test env: NAME=value ... -->`` anywhere on a page
  sets variables for all its blocks;
  ``<!-- docs-test cwd: checkout -->`` runs them in the repository's root instead of an
  empty directory (for pages that say "from a checkout"; they must only read there).
* A one-line ``python`` block ``name(args) -> type`` is a signature, not code
  (tests/test_docs.py checks the hooks' signatures against hookspecs.py).

Parsing is in the fast lane; running (subprocesses) is marked e2e.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent

PYTHON = {"python", "py"}
SHELL = {"console", "sh", "bash", "shell"}
PARSED = {"toml", "json", "yaml"}

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
MARK = re.compile(r"^\s*<!--\s*(not run|file):\s*(.*?)\s*-->\s*$")
PAGE_OPTION = re.compile(r"<!--\s*docs-test (env|cwd|prelude):\s*(.*?)\s*-->", re.DOTALL)
SIGNATURE = re.compile(r"^\w+\(.*\) -> .+\n$")
#: The plugins a reader has installed (the README's and the bridges'), not the test
#: distributions the test environment has beside them, nor Redis (which needs a server).
DEFAULT_PLUGINS = "files,sqlite,openapi"
PYPROJECT_TABLES = {"project", "build-system", "tool"}


@dataclass
class Block:
    """One fenced block of a page, with the marker on the line before it."""

    page: str
    line: int
    lang: str
    body: str
    mark: str = ""  # "", "not run" or "file"
    argument: str = ""  # the reason, or the file's path
    env: dict[str, str] = field(default_factory=dict)
    in_checkout: bool = False
    prelude: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def commands(self) -> list[tuple[str, str]]:
        """Each ``$ command`` (with its ``\\`` continuation lines) and the output below it."""
        found: list[tuple[str, str]] = []
        lines = iter(self.body.splitlines())
        for line in lines:
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    command += "\n" + next(lines, "")
                found.append((command, ""))
            elif found:
                found[-1] = (found[-1][0], found[-1][1] + line + "\n")
        return found


def _blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    options = PAGE_OPTION.findall(text)
    env = dict(
        pair.split("=", 1)
        for kind, value in options
        if kind == "env"
        for pair in shlex.split(value)
    )
    in_checkout = ("cwd", "checkout") in options
    prelude = "".join(value + "\n" for kind, value in options if kind == "prelude")
    found = []
    for match in FENCE.finditer(text):
        lang = match["lang"].lower()
        if lang not in PYTHON | SHELL | PARSED:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARK.match(before)
        indent = len(match["indent"])
        body = "".join(line[indent:] + "\n" for line in match["body"].splitlines())
        found.append(
            Block(
                page=path.name,
                line=text[: match.start()].count("\n") + 1,
                lang=lang,
                body=body,
                mark=marker[1] if marker else "",
                argument=marker[2] if marker else "",
                env=env,
                in_checkout=in_checkout,
                prelude=prelude,
            )
        )
    return found


BLOCKS = [b for page in sorted(DOCS.glob("*.md")) for b in _blocks(page)]
SIGNATURES = [b for b in BLOCKS if b.lang in PYTHON and SIGNATURE.match(b.body)]
RUN = [
    b
    for b in BLOCKS
    if (not b.mark and b.lang in PYTHON and b not in SIGNATURES)
    or (not b.mark and b.lang in SHELL and b.commands)
    or (b.mark == "file" and b.lang in PYTHON and b.argument.endswith(".py"))
]
PARSE = [b for b in BLOCKS if b.mark != "not run" and b.lang in PARSED]
MARKED = [b for b in BLOCKS if b.mark == "not run"]


def test_the_docs_have_blocks_and_the_count_is_reported(record_property: pytest.RecordProperty):
    """What is run, parsed and left out (marked), by count; the marked ones give a reason."""
    counts = {
        "run": len(RUN),
        "parsed": len(PARSE),
        "signatures": len(SIGNATURES),
        "marked not run": len(MARKED),
    }
    record_property("docs_blocks", counts)
    print("docs blocks:", counts)
    assert len(RUN) >= 40
    assert all(b.argument for b in MARKED), "a `not run` marker gives its reason"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.lang in SHELL and not b.mark], ids=lambda b: b.id
)
def test_shell_blocks_show_commands_or_are_marked(block: Block):
    assert block.commands, (
        f"docs/{block.id}: a {block.lang} block without `$ ` lines is never run; write its"
        " commands as `$ command` (with their output), or mark it <!-- not run: reason -->"
    )


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if b.lang in PYTHON and b.mark != "not run" and b not in SIGNATURES],
    ids=lambda b: b.id,
)
def test_python_blocks_compile(block: Block):
    try:
        ast.parse(block.prelude + block.body, filename=f"docs/{block.id}")
    except SyntaxError as exc:
        pytest.fail(f"docs/{block.id}: {exc}")


def _settings_toml(data: dict[str, object]) -> bool:
    return not PYPROJECT_TABLES & set(data)


@pytest.mark.parametrize("block", PARSE, ids=lambda b: b.id)
def test_data_blocks_parse(block: Block, tmp_path: Path):
    """JSON and YAML parse; TOML parses, and a settings file is what the runner accepts."""
    if block.lang == "json":
        json.loads(block.body)
    elif block.lang == "yaml":
        import yaml

        list(yaml.safe_load_all(block.body))
    else:
        data = tomllib.loads(block.body)
        if _settings_toml(data):
            _check_settings(block, tmp_path)


def _check_settings(block: Block, tmp_path: Path) -> None:
    """The runner reads the file with every installed plugin and builtin: no table or key is
    unknown, and no value has the wrong type or shape. (Checks of the machine, such as a root
    directory that exists, are the plugins' validators, "Value error" in pydantic's words:
    an example's paths need not exist here.)"""
    from mcp_runner.config import ConfigError, load_settings
    from mcp_runner.runner import Runner

    path = tmp_path / "mcp-runner.toml"
    path.write_text(block.body, encoding="utf-8")
    try:
        settings = load_settings(path, env={})
        runner = Runner(settings)
        runner.host.warn = lambda message: None
        runner.start()
    except ConfigError as exc:
        pytest.fail(f"docs/{block.id}: {exc}")
    configured = set(tomllib.loads(block.body).get("plugins", {}))
    refused = [
        f"{r.name}: {r.error}"
        for r in runner.host.failures()
        if r.phase == "config" and r.name in configured and "Value error" not in str(r.error)
    ]
    assert not refused, f"docs/{block.id}: " + "; ".join(refused)


# ---------------------------------------------------------------------------------------------
# Running: python scripts and `$` commands, in a directory per page


def _page_dir(block: Block, tmp_path: Path) -> Path:
    """`tmp_path` with the page's ``file:`` blocks written in it (blocks naming one file
    are joined, in page order)."""
    for other in BLOCKS:
        if other.page == block.page and other.mark == "file":
            target = tmp_path / other.argument
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as out:
                out.write(other.body + "\n\n")
    return tmp_path


def _environment(block: Block, cwd: Path) -> dict[str, str]:
    """This environment without its ``MCP_RUNNER_*`` variables, then (for commands)
    `DEFAULT_PLUGINS` allowed, then the page's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_RUNNER_")}
    if block.lang in SHELL:
        env["MCP_RUNNER_PLUGINS"] = DEFAULT_PLUGINS
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["PYTHONPATH"] = str(cwd)
    env.update(block.env)
    return env


def _defines_tests(source: str) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        for node in ast.parse(source).body
    )


def _matches(expected: str, actual: str) -> bool:
    """Exactly, or up to a final ``...`` line (the rest of the output is not shown)."""
    lines = expected.splitlines()
    if lines and lines[-1].strip() == "...":
        head = "".join(line + "\n" for line in lines[:-1])
        return actual.startswith(head)
    return actual == expected


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.e2e
@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_block_runs_as_written(block: Block, tmp_path: Path):
    files = _page_dir(block, tmp_path)
    cwd = ROOT if block.in_checkout else files
    env = _environment(block, files)
    if block.mark == "file":  # a module of the page: it imports
        module = block.argument.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        done = _run([sys.executable, "-c", f"import {module}"], env, files)
        assert done.returncode == 0, f"docs/{block.id}: import {module} failed:\n{done.stderr}"
        return
    if block.lang in PYTHON:
        script = files / ("test_docs_block.py" if _defines_tests(block.body) else "docs_block.py")
        script.write_text(block.prelude + block.body, encoding="utf-8")
        command = [sys.executable, str(script)]
        if script.name.startswith("test_"):
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
        done = _run(command, env, cwd)
        assert done.returncode == 0, f"docs/{block.id} failed:\n{done.stdout}{done.stderr}"
        return
    for command, output in block.commands:
        done = _run(["bash", "-c", command], env, cwd)
        actual = done.stdout + done.stderr
        if output.strip() in ("", "..."):
            assert done.returncode == 0, f"docs/{block.id}: `$ {command}` failed:\n{actual}"
        else:
            assert _matches(output, actual), (
                f"docs/{block.id}: `$ {command}` printed\n{actual}\nthe page shows\n{output}"
            )
