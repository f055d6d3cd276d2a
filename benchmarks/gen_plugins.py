"""Generate mcp-runner plugins for the benchmarks.

Each generated plugin is a module ``mcp_runner_<prefix><k>`` holding ``plugin =
Plugin(...)`` and ``per_plugin`` ``async def`` tools (the same tools the peer servers
register with ``--tools``, from servers/_common.py). Three ways to hand them to
mcp-runner:

* ``--plugin mod:plugin`` arguments with PYTHONPATH=DEST (``loading="args"``): no install.
* entry points (``loading="entry-points"``): beside each module a minimal
  ``<dist>-0.0.0.dist-info`` (METADATA + entry_points.txt) is written, so that
  importlib.metadata finds an installed distribution with a ``mcp_runner`` entry
  point on PYTHONPATH -- the same discovery path as a pip install, without touching
  the interpreter under test (pip-installing them would leave 20 extra plugins in
  every later benchmark).
* real projects (``loading="projects"``): DEST/<dist>/pyproject.toml + module, for
  ``pip install`` (``--pip-install PYTHON`` does it).

CLI:  python benchmarks/gen_plugins.py DEST --prefix g --plugins 20 --per-plugin 2
          [--loading args|entry-points|projects] [--pip-install PYTHON]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "servers"))
from _common import generated_tool_names, generated_tool_source


def plugin_source(plugin_name: str, tool_names: list[str]) -> str:
    parts = [
        f'"""Generated mcp-runner benchmark plugin {plugin_name}."""\n',
        "from mcp_runner import Plugin\n",
        f'plugin = Plugin("{plugin_name}", '
        f'description="Generated benchmark plugin {plugin_name}")\n',
    ]
    for name in tool_names:
        parts.append("@plugin.tool\n" + generated_tool_source(name))
    return "\n\n".join(parts)


def write_plugins(
    dest: Path, prefix: str, plugins: int, per_plugin: int, loading: str = "args"
) -> list[str]:
    """Write the plugins into ``dest``; returns their ``module:plugin`` references."""
    dest.mkdir(parents=True, exist_ok=True)
    names = generated_tool_names(prefix, plugins, per_plugin)
    refs = []
    for k in range(plugins):
        plugin_name = f"{prefix}{k:02d}"
        module = f"mcp_runner_{plugin_name}"
        dist = f"mcp-runner-{plugin_name}"
        source = plugin_source(plugin_name, names[k * per_plugin : (k + 1) * per_plugin])
        refs.append(f"{module}:plugin")
        if loading == "projects":
            project = dest / dist
            project.mkdir(exist_ok=True)
            (project / f"{module}.py").write_text(source)
            (project / "pyproject.toml").write_text(
                "[build-system]\n"
                'requires = ["setuptools>=68"]\n'
                'build-backend = "setuptools.build_meta"\n\n'
                "[project]\n"
                f'name = "{dist}"\n'
                'version = "0.0.0"\n\n'
                "[project.entry-points.mcp_runner]\n"
                f'{plugin_name} = "{module}:plugin"\n\n'
                "[tool.setuptools]\n"
                f'py-modules = ["{module}"]\n'
            )
            continue
        (dest / f"{module}.py").write_text(source)
        if loading == "entry-points":
            info = dest / f"{module}-0.0.0.dist-info"
            info.mkdir(exist_ok=True)
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.0\n")
            (info / "entry_points.txt").write_text(
                f"[mcp_runner]\n{plugin_name} = {module}:plugin\n"
            )
            (info / "top_level.txt").write_text(f"{module}\n")
    return refs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dest", type=Path)
    parser.add_argument("--prefix", default="g")
    parser.add_argument("--plugins", type=int, default=20)
    parser.add_argument("--per-plugin", type=int, default=2)
    parser.add_argument("--loading", choices=["args", "entry-points", "projects"], default="args")
    parser.add_argument(
        "--pip-install", metavar="PYTHON", help="pip-install the projects into PYTHON"
    )
    args = parser.parse_args()
    if args.pip_install:
        args.loading = "projects"
    refs = write_plugins(args.dest, args.prefix, args.plugins, args.per_plugin, args.loading)
    if args.pip_install:
        projects = sorted(str(p) for p in args.dest.iterdir() if (p / "pyproject.toml").exists())
        subprocess.run(
            [args.pip_install, "-m", "pip", "install", "--no-deps", *projects], check=True
        )
    for ref in refs:
        print(ref)


if __name__ == "__main__":
    main()
