"""The distributions people install: the host and each first-party plugin carry the Apache-2.0
LICENSE, complete metadata and a README that renders on a package index; they build without
setuptools deprecation warnings; the host's sdist runs its own tests; the plugins and the
scaffold depend on a host range that matches this version; CHANGELOG.md states the policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import mcp_runner
import pytest
from mcp_runner.scaffold import write_plugin
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ("conformance", "files", "openapi", "redis", "sqlite")
PROJECTS = {"mcp-runner": ROOT, **{f"mcp-runner-{name}": ROOT / "plugins" / name for name in PLUGINS}}
REPOSITORY = "https://github.com/mcp-runner/mcp-runner"
VERSION = Version(mcp_runner.__version__)
NEXT_MINOR = Version(f"{VERSION.major}.{VERSION.minor + 1}")


def project_table(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def host_requirement(dependencies: list[str]) -> Requirement:
    return next(r for r in map(Requirement, dependencies) if r.name == "mcp-runner")


def test_the_license_is_apache_2_everywhere() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    for name in PLUGINS:
        assert (ROOT / "plugins" / name / "LICENSE").read_text(encoding="utf-8") == text, name


@pytest.mark.parametrize("dist", PROJECTS)
def test_metadata(dist: str) -> None:
    table = project_table(PROJECTS[dist])
    project = table["project"]
    assert project["name"] == dist
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert project["authors"] == [{"name": "mcp-runner developers"}]
    assert project["urls"] and all(url.startswith(REPOSITORY) for url in project["urls"].values())
    classifiers = project["classifiers"]
    assert {"Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12", "Programming Language :: Python :: 3.13"} <= set(classifiers)
    # PEP 639: the license expression replaces license classifiers (setuptools rejects both)
    assert not [c for c in classifiers if c.startswith("License ::")]
    setuptools = Requirement(next(r for r in table["build-system"]["requires"] if r.startswith("setuptools")))
    assert not setuptools.specifier.contains("76.9"), "license expressions need setuptools>=77"


def test_the_host_version_is_written_once() -> None:
    table = project_table(ROOT)
    assert "version" not in table["project"] and "version" in table["project"]["dynamic"]
    assert table["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mcp_runner.__version__"}


@pytest.mark.parametrize("plugin", PLUGINS)
def test_first_party_plugins_pin_this_minor_version_of_the_host(plugin: str) -> None:
    project = project_table(ROOT / "plugins" / plugin)["project"]
    assert Version(project["version"]) == VERSION, "first-party plugins are released with the host"
    pin = host_requirement(project["dependencies"])
    assert str(pin.specifier) == f"<{NEXT_MINOR},>={VERSION.major}.{VERSION.minor}"
    assert pin.specifier.contains(VERSION) and not pin.specifier.contains(NEXT_MINOR)


def test_the_scaffold_depends_on_this_version(tmp_path: Path) -> None:
    root = write_plugin("weather", tmp_path / "plugin")
    dependencies = project_table(root)["project"]["dependencies"]
    assert str(host_requirement(dependencies)) == f"mcp-runner>={VERSION}"


@pytest.mark.parametrize("readme", ["README.md", *(f"plugins/{name}/README.md" for name in PLUGINS)])
def test_readmes_link_only_to_absolute_addresses(readme: str) -> None:
    """A package index shows the README without the repository around it: a relative link
    there points nowhere."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)[^)]*\)", text) + re.findall(r"^\[[^]]+\]:\s*(\S+)", text, re.M)
    assert targets or readme != "README.md"
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert not relative, f"{readme}: relative links {relative}"


def test_changelog_states_the_versioning_policy() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    policy = text.split("## Versioning", 1)[1].split("\n## ", 1)[0]
    assert "Semantic Versioning" in policy
    for surface in ("hook", "setting", "command line", "mcp-runner>="):
        assert surface in policy, surface
    assert f"({VERSION})" in text, "the Unreleased section names the version it becomes"


# --- built distributions ---------------------------------------------------------------------


def build(project: Path, outdir: Path, *kinds: str) -> str:
    """Build `kinds` (--sdist, --wheel) of `project` with this environment's setuptools (no
    network) and return what the build printed."""
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), *kinds, str(project)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONWARNINGS="default"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Each distribution's output directory and build log."""
    pytest.importorskip("build", reason="the test extra installs build")
    out = tmp_path_factory.mktemp("dists")
    return {dist: (out, build(root, out, "--sdist", "--wheel")) for dist, root in PROJECTS.items()}


@pytest.mark.e2e
@pytest.mark.slow  # packaging does not depend on the interpreter: built once, on 3.11
@pytest.mark.parametrize("dist", PROJECTS)
def test_wheel_and_sdist_build_cleanly_and_carry_the_license(dist: str, built: dict[str, tuple[Path, str]]) -> None:
    out, log = built[dist]
    assert "Deprecat" not in log and "deprecated" not in log, log
    stem = f"{dist.replace('-', '_')}-{VERSION}"
    with zipfile.ZipFile(out / f"{stem}-py3-none-any.whl") as wheel:
        assert "Apache License" in wheel.read(f"{stem}.dist-info/licenses/LICENSE").decode()
        metadata = wheel.read(f"{stem}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata and "Author: mcp-runner developers" in metadata
    assert f"Project-URL: Repository, {REPOSITORY}" in metadata
    with tarfile.open(out / f"{stem}.tar.gz") as sdist:
        names = set(sdist.getnames())
    assert f"{stem}/LICENSE" in names
    assert any(n.startswith(f"{stem}/tests/test_") for n in names), "the sdist carries its tests"
    assert not [n for n in names if "/build/" in n or "__pycache__" in n]


@pytest.mark.e2e
@pytest.mark.slow  # packaging does not depend on the interpreter: built once, on 3.11
def test_the_host_sdist_runs_its_own_tests(built: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    out, _ = built["mcp-runner"]
    with tarfile.open(out / f"mcp_runner-{VERSION}.tar.gz") as sdist:
        sdist.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"mcp_runner-{VERSION}"
    # the sdist's own package first, in this process and in every server a test spawns
    env = dict(os.environ, PYTHONPATH=str(unpacked / "runner"))
    where = subprocess.run(
        [sys.executable, "-c", "import mcp_runner; print(mcp_runner.__file__)"],
        capture_output=True, text=True, cwd=unpacked, env=env, timeout=60,
    )
    assert where.stdout.strip() == str(unpacked / "runner" / "mcp_runner" / "__init__.py")
    tests = [
        "tests/test_uritemplate.py",
        "tests/test_stdio_raw.py::test_ping_before_initialize",  # e2e: a served process over stdio
        "tests/test_docs.py::test_nav_lists_every_page_it_links",  # the docs travel with the tests
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        capture_output=True, text=True, cwd=unpacked, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\d+ passed", done.stdout) and "error" not in done.stdout.lower()


@pytest.mark.e2e
@pytest.mark.slow  # packaging does not depend on the interpreter: built once, on 3.11
def test_a_plugin_sdist_runs_its_own_tests(built: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    """sqlite's, as one of the plugins whose tests need nothing outside their own directory
    (conformance's and files' too; openapi's and redis's also read the repository's
    tests/fixtures)."""
    out, _ = built["mcp-runner-sqlite"]
    stem = f"mcp_runner_sqlite-{VERSION}"
    with tarfile.open(out / f"{stem}.tar.gz") as sdist:
        sdist.extractall(tmp_path, filter="data")
    unpacked = tmp_path / stem
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning", "tests"],
        capture_output=True, text=True, cwd=unpacked, env=dict(os.environ, PYTHONPATH=str(unpacked)), timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\d+ passed", done.stdout)
