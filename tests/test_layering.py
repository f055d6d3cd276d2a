"""The package's layering, read from its source: who may import whom, and no module reading
another module's private names. docs/architecture.md states the rules this test enforces."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import mcp_runner
import pytest

PACKAGE = Path(mcp_runner.__file__).parent

# The layers, bottom up. A module belongs to the first layer with a prefix that matches its
# dotted path; it may import its own layer and the layers listed for it, nothing else.
# docs/architecture.md draws the same table.
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # layer: (module prefixes, layers it may import)
    "protocol": (("protocol",), ()),
    "client": (("client",), ("protocol",)),
    "model": (
        ("types", "components", "context", "registry", "middleware", "config", "log"),
        ("protocol",),
    ),
    "auth": (("auth",), ("protocol", "model")),
    "host": (
        ("hookspecs", "authoring", "plugins", "runner", "__version__"),
        ("protocol", "model", "auth"),
    ),
    "transports": (("transports",), ("protocol", "model", "auth", "host")),
    "builtin": (("builtin",), ("protocol", "model", "auth", "host", "client", "transports")),
    "surface": (
        ("cli", "testing", "install", "scaffold", "reload", "__main__", ""),
        ("protocol", "client", "model", "auth", "host", "transports", "builtin"),
    ),
}
# The one edge that crosses the table, and why.
EXCEPTIONS = {
    ("plugins", "builtin.errors"): "the last resort when an error mapper itself raises",
}
# Receivers whose underscore attributes a module may read: its own object and class.
OWN = frozenset({"self", "cls", "mcs"})


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def layer_of(dotted: str) -> str:
    for layer, (prefixes, _) in LAYERS.items():
        for prefix in prefixes:
            if dotted == prefix or dotted.startswith(prefix + ".") or (prefix == "" and not dotted):
                return layer
    raise AssertionError(f"module {dotted!r} is in no layer: add it to LAYERS")


def resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The dotted name (relative to the package) that a `from ... import` names."""
    if node.level == 0:
        name = node.module or ""
        return name.removeprefix("mcp_runner").lstrip(".") if name.startswith("mcp_runner") else ""
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *(node.module.split(".") if node.module else [])])


def imports(module: str, path: Path) -> Iterator[tuple[int, str, list[str]]]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(module, node, path.name == "__init__.py")
            if node.level or (node.module or "").startswith("mcp_runner"):
                yield node.lineno, target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mcp_runner."):
                    yield node.lineno, alias.name.removeprefix("mcp_runner."), []


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda v: str(v))
def test_layers_import_only_what_they_may(module: str, path: Path) -> None:
    own = layer_of(module)
    allowed = {own, *LAYERS[own][1]}
    wrong = []
    for line, target, names in imports(module, path):
        targets = [target] if target else []
        # `from . import x` names submodules: check each
        if names and (target == "" or target == module.rpartition(".")[0]):
            targets = [f"{target}.{n}".lstrip(".") for n in names]
        for t in targets:
            if (module, t) in EXCEPTIONS:
                continue
            if layer_of(t) not in allowed:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {t} ({layer_of(t)})")
            elif own == layer_of(t) == "builtin" and t.split(".")[:2] != module.split(".")[:2]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports another builtin, {t}")
    assert not wrong, f"layer {own!r} may import only {sorted(allowed)}:\n" + "\n".join(wrong)


def private_reads(module: str, path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    imported_modules = set()
    for line, target, names in imports(module, path):
        for name in names:
            if name.startswith("_") and not name.startswith("__"):
                yield f"{line}: from {target or '.'} import {name}"
        if not names:
            imported_modules.add(target.rsplit(".", 1)[-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if node.attr.startswith("__") and node.attr.endswith("__"):
                continue
            base = node.value
            if isinstance(base, ast.Name) and base.id in OWN:
                continue
            yield f"{node.lineno}: {ast.unparse(node)}"


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda v: str(v))
def test_no_module_reads_another_modules_private_names(module: str, path: Path) -> None:
    found = list(private_reads(module, path))
    assert not found, f"{path.relative_to(PACKAGE)} reads private names:\n" + "\n".join(found)


def test_nothing_walks_from_a_session_back_to_the_server() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for _, path in modules()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "session.server" in line or ".server.runner" in line
    ]
    assert not found, "\n".join(found)
