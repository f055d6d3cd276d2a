"""The documentation keeps up with the code: every hook has a reference section showing its
exact signature and a test, and every setting is documented with its default.

The site itself is built (strictly) by the tox ``docs`` environment, not here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest
from mcp_runner import hookspecs
from mcp_runner.config import HttpSettings, ServerSettings
from pydantic import BaseModel
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"

HOOKS = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if name.startswith("mcp_runner_") and inspect.isfunction(fn)
)


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _test_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(TESTS.rglob("test_*.py")))


def test_hookspecs_are_found() -> None:
    assert "mcp_runner_register" in HOOKS
    assert len(HOOKS) >= 11


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_reference_section(hook: str) -> None:
    headings = set(re.findall(r"^## (\S+)\s*$", _text("hooks.md"), re.MULTILINE))
    assert hook in headings, f"docs/hooks.md has no '## {hook}' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    test_name = "test_hook_" + hook.removeprefix("mcp_runner_")
    assert re.search(rf"^\s*(async\s+)?def {test_name}\(", _test_sources(), re.MULTILINE), (
        f"no test named {test_name} under tests/"
    )


def _signature(hook: str) -> str:
    """A hook's signature as hookspecs.py writes it: ``name(arg: Type, ...) -> Return``."""
    sig = inspect.signature(getattr(hookspecs, hook))
    args = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{hook}({args}) -> {sig.return_annotation}"


def _documented_signature(hook: str) -> str | None:
    """The first line of the first code block in the hook's section of docs/hooks.md."""
    match = re.search(rf"^## {hook}\s*\n+```python\n(.*)$", _text("hooks.md"), re.MULTILINE)
    return match.group(1).strip() if match else None


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_section_shows_its_signature(hook: str) -> None:
    """Name, argument names and types, and return type, as hookspecs.py declares them."""
    documented = _documented_signature(hook)
    assert documented is not None, f"docs/hooks.md, '## {hook}' does not open with its signature"
    assert documented == _signature(hook), "docs/hooks.md and hookspecs.py disagree"


def test_hook_sections_name_only_real_hooks() -> None:
    headings = re.findall(r"^## (mcp_runner_\w+)\s*$", _text("hooks.md"), re.MULTILINE)
    unknown = sorted(set(headings) - set(HOOKS))
    assert not unknown, f"docs/hooks.md documents hooks that hookspecs.py does not have: {unknown}"


def _render_default(info: FieldInfo) -> str:
    """A default as the configuration tables show it: a TOML literal, `unset` or `required`."""
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str | list):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _section_rows(text: str, heading: str) -> dict[str, list[str]]:
    """The table rows under `heading` (up to the next heading), keyed by their `name`."""
    lines = text.splitlines()
    assert heading in lines, f"docs/configuration.md has no heading {heading!r}"
    rows: dict[str, list[str]] = {}
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        match = re.match(r"^\| `(\w+)` \|(.*)\|\s*$", line)
        if match:
            rows.setdefault(match.group(1), [c.strip() for c in match.group(2).split("|")])
    return rows


SETTINGS_SECTIONS: list[tuple[str, str, str]] = [
    ("mcp_runner.config", "ServerSettings", "## `[server]`"),
    ("mcp_runner.config", "HttpSettings", "## `[http]`"),
    ("mcp_runner.config", "TasksSettings", "## `[tasks]`"),
    ("mcp_runner.config", "PluginConfig", "## Plugin tables"),
    ("mcp_runner.builtin.auth.settings", "AuthSettings", "### `[auth]`"),
    ("mcp_runner.builtin.auth.settings", "StaticToken", "### `[[auth.tokens]]`"),
    ("mcp_runner.builtin.auth.settings", "JwtSettings", "### `[auth.jwt]`"),
    ("mcp_runner.builtin.auth.settings", "IntrospectionSettings", "### `[auth.introspection]`"),
]


@pytest.mark.parametrize(
    ("module", "model", "heading"), SETTINGS_SECTIONS, ids=[m for _, m, _ in SETTINGS_SECTIONS]
)
def test_every_setting_is_documented_with_its_default(
    module: str, model: str, heading: str
) -> None:
    cls: type[BaseModel] = getattr(importlib.import_module(module), model)
    rows = _section_rows(_text("configuration.md"), heading)
    problems = []
    for name, info in cls.model_fields.items():
        row = rows.get(name)
        if row is None:
            problems.append(f"{name}: no table row '| `{name}` | ...'")
            continue
        expected = _render_default(info)
        if row[0] != expected:
            problems.append(f"{name}: default shown as {row[0]}, the model says {expected}")
    documented_only = sorted(set(rows) - set(cls.model_fields))
    if documented_only:
        problems.append(f"documented but not fields: {', '.join(documented_only)}")
    assert not problems, f"docs/configuration.md, {heading}: " + "; ".join(problems)


def test_server_and_http_fields_are_all_mentioned() -> None:
    text = _text("configuration.md")
    for model in (ServerSettings, HttpSettings):
        for name in model.model_fields:
            assert f"`{name}`" in text, f"docs/configuration.md does not mention {name}"


def test_every_command_is_documented() -> None:
    from mcp_runner.cli import cli

    text = _text("cli.md")
    for name, command in cli.commands.items():
        assert f"## {name}" in text, f"docs/cli.md has no section for `mcp-runner {name}`"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and opt != "--help":
                    assert opt in text, f"docs/cli.md does not mention {name} {opt}"


def test_nav_lists_every_page_it_links() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in re.findall(r":\s*(\S+\.md)\s*$", nav, re.MULTILINE):
        assert (DOCS / page).is_file(), f"mkdocs.yml lists {page}, which does not exist"


def test_architecture_maps_every_module_of_the_package() -> None:
    """docs/architecture.md's module map names exactly the package's modules."""
    import mcp_runner

    package = Path(mcp_runner.__file__).parent
    tree = {str(p.relative_to(package)) for p in package.rglob("*.py")}
    section = _text("architecture.md").split("## Module map", 1)[1]
    mapped = set(re.findall(r"^\| `([\w/]+\.py)` \|", section, re.MULTILINE))
    assert not mapped - tree, f"the map names modules that do not exist: {sorted(mapped - tree)}"
    assert not tree - mapped, f"modules missing from the map: {sorted(tree - mapped)}"


def test_architecture_names_only_modules_that_exist() -> None:
    """Every module path the data-path prose names is in the tree."""
    import mcp_runner

    package = Path(mcp_runner.__file__).parent
    text = _text("architecture.md").split("## Module map", 1)[0]
    named = set(re.findall(r"\b((?:[a-z_]+/)*[a-z_]+\.py)\b", text))
    missing = sorted(n for n in named if not (any(package.rglob(n)) or (ROOT / n).exists()))
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    for folder in set(re.findall(r"`([a-z_]+(?:/[a-z_]+)*)/`", text)):
        assert (package / folder).is_dir(), (
            f"docs/architecture.md names a missing package {folder}/"
        )


@pytest.mark.parametrize(
    ("page", "opening"),
    [
        ("index.md", "The builtins are plugins like any other"),
        ("getting-started.md", "The builtin plugins"),
    ],
)
def test_builtin_lists_name_every_builtin(page: str, opening: str) -> None:
    """Where a page lists the builtins, it names each one the host loads."""
    from mcp_runner.plugins import BUILTINS

    text = _text(page)
    assert opening in text, f"docs/{page} no longer says {opening!r}"
    paragraph = text.split(opening, 1)[1].split("\n\n", 1)[0]
    missing = [name for name, _ in BUILTINS if f"`{name}`" not in paragraph]
    assert not missing, f"docs/{page}'s list of builtins misses {missing}"


FIRST_PARTY = r"mcp-runner(?:-(?:files|sqlite|openapi|redis|conformance))?"


def test_versions_shown_are_the_current_one() -> None:
    """Versions of the host and the first-party plugins in sample output, and the host
    versions the docs require, are this release's: they cannot drift from the code."""
    import mcp_runner

    shown = re.compile(rf"\b{FIRST_PARTY}(?:,? version)? (\d+\.\d+\.\d+)\b")
    required = re.compile(r"mcp-runner>=(\d+\.\d+(?:\.\d+)?)")
    current = mcp_runner.__version__
    problems = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for version in shown.findall(text):
            if version != current:
                problems.append(f"{page.name} shows version {version}")
        for version in required.findall(text):
            if not current.startswith(version):
                problems.append(f"{page.name} requires mcp-runner>={version}")
    assert not problems, f"the current version is {current}: " + "; ".join(problems)
