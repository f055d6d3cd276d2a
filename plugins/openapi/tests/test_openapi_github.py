"""A large real description: the GitHub REST API (npm ``@octokit/openapi``, MIT licensed,
1,000+ operations), fetched in the test set-up. It loads, every name is valid, and every
generated schema is valid JSON Schema 2020-12. How fast it loads is measured by
benchmarks/openapi_bench.py, not here: a shared machine makes timed tests flaky."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp_runner.components import TOOL_NAME
from openapi_helpers import github_spec, make_runner


@pytest.fixture(scope="module")
def spec() -> Path:
    path, why = github_spec()
    if path is None:
        pytest.skip(why)
    return path


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs_in(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs_in(v)]
    return []


def test_the_github_description_loads_with_valid_names_and_schemas(
    spec: Path, tmp_path: Path
) -> None:
    runner = make_runner(tmp_path, f'[openapi.apis.github]\nspec = "{spec}"\n')
    record = runner.host.records["openapi"]
    assert record.status == "ok", record.error
    tools = runner.registry.tools
    assert len(tools) > 1000
    checked_defs: set[int] = set()
    for tool in tools.values():
        assert TOOL_NAME.match(tool.name), tool.name
        for schema in (tool.input_schema, tool.output_schema):
            if schema is None:
                continue
            assert schema["type"] == "object"
            defs = schema.get("$defs", {})
            for ref in refs_in(schema):
                assert ref.startswith("#/$defs/") and ref[8:] in defs, (tool.name, ref)
            for definition in defs.values():  # shared between tools: each checked once
                if id(definition) not in checked_defs:
                    checked_defs.add(id(definition))
                    Draft202012Validator.check_schema(definition)
            Draft202012Validator.check_schema({k: v for k, v in schema.items() if k != "$defs"})
    repo = tools["repos_get"]
    assert repo.input_schema["required"] == ["owner", "repo"]
    assert repo.output_schema is not None and "full_name" in repo.output_schema["properties"]
    from mcp_runner_openapi import plugin

    (entry,) = plugin.mcp_runner_status(runner) or []
    assert any("is a lot for a model" in note for note in entry["notes"])  # warned
    assert any("shortened to" in note for note in entry["notes"])  # names over 64, reported


def test_the_github_description_curated(spec: Path, tmp_path: Path) -> None:
    config = (
        f'[openapi.apis.github]\nspec = "{spec}"\nnamespace = "gh"\n'
        'include = ["tag:issues", "GET /repos/{owner}/{repo}"]\nexclude = ["DELETE *"]\n'
    )
    runner = make_runner(tmp_path, config)
    names = set(runner.registry.tools)
    assert "gh_repos_get" in names and "gh_issues_create" in names
    assert all(n.startswith("gh_") and len(n) <= 64 for n in names)
    assert not any("delete" in n for n in names if n.startswith("gh_issues_delete"))
    assert len(names) < 100
