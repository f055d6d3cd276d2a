"""Descriptions into JSON Schema 2020-12: `$ref`s (internal, external on the spec's own
host or directory, recursive), OpenAPI 3.0's dialect, allOf/oneOf/discriminators, YAML and
3.1 documents; and the compiled validator agreeing with `jsonschema`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from mcp_runner_openapi.validate import Validator
from openapi_helpers import make_runner

PET_30: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9/v1"}],
    "paths": {
        "/pets/{petId}": {
            "parameters": [{"$ref": "#/components/parameters/PetId"}],
            "get": {
                "operationId": "getPet",
                "summary": "One pet",
                "responses": {"200": {"$ref": "#/components/responses/Pet"}},
            },
            "put": {
                "operationId": "replacePet",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                    },
                },
                "responses": {"204": {"description": "done"}},
            },
        },
        "/owners": {
            "post": {
                "operationId": "createOwner",
                "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "external.json#/Owner"}}}
                },
                "responses": {"201": {"description": "created"}},
            }
        },
    },
    "components": {
        "parameters": {
            "PetId": {
                "name": "petId",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "responses": {
            "Pet": {
                "description": "a pet",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
            }
        },
        "schemas": {
            "Pet": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Cat"},
                    {"$ref": "#/components/schemas/Dog"},
                ],
                "discriminator": {
                    "propertyName": "kind",
                    "mapping": {
                        "cat": "#/components/schemas/Cat",
                        "dog": "#/components/schemas/Dog",
                    },
                },
            },
            "Base": {
                "type": "object",
                "required": ["kind", "name"],
                "properties": {
                    "kind": {"type": "string"},
                    "name": {"type": "string", "example": "Tom"},
                    "nickname": {"type": "string", "nullable": True},
                    "age": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                    "parent": {"$ref": "#/components/schemas/Pet"},
                },
            },
            "Cat": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {"type": "object", "properties": {"lives": {"type": "integer", "maximum": 9}}},
                ]
            },
            "Dog": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {"type": "object", "properties": {"good": {"type": "boolean"}}},
                ],
                "nullable": True,
            },
        },
    },
}
EXTERNAL = {
    "Owner": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/Address"}},
    },
    "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def write_spec(tmp_path: Path, spec: dict[str, Any], name: str = "spec.json") -> Path:
    (tmp_path / "external.json").write_text(json.dumps(EXTERNAL))
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec) if name.endswith(".yaml") else json.dumps(spec))
    return path


def tools_of(tmp_path: Path, spec_path: Path) -> dict[str, Any]:
    runner = make_runner(tmp_path, f'[openapi.apis.pets]\nspec = "{spec_path}"\n')
    record = runner.host.records["openapi"]
    assert record.status == "ok", record.error
    for tool in runner.registry.tools.values():
        Draft202012Validator.check_schema(tool.input_schema)
        if tool.output_schema is not None:
            Draft202012Validator.check_schema(tool.output_schema)
    return runner.registry.tools


@pytest.mark.parametrize("name", ["spec.json", "spec.yaml"])
def test_refs_internal_external_and_recursive(tmp_path: Path, name: str) -> None:
    tools = tools_of(tmp_path, write_spec(tmp_path, PET_30, name))
    get_pet = tools["getPet"]
    assert get_pet.input_schema["properties"]["petId"] == {"type": "integer", "minimum": 1}
    out = get_pet.output_schema
    assert out["required"] == ["result"]  # a oneOf, not an object: wrapped
    defs = out["$defs"]
    assert set(defs) == {"Pet", "Cat", "Dog", "Base"}
    assert defs["Pet"]["anyOf"] == [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]
    assert defs["Pet"]["allOf"][0] == {  # the discriminator, as plain 2020-12
        "if": {"properties": {"kind": {"const": "cat"}}, "required": ["kind"]},
        "then": {"$ref": "#/$defs/Cat"},
    }
    base = defs["Base"]["properties"]
    assert base["nickname"] == {"type": ["string", "null"]}
    assert base["age"] == {"type": "integer", "exclusiveMinimum": 0}
    assert base["name"]["examples"] == ["Tom"]
    assert base["parent"] == {"$ref": "#/$defs/Pet"}  # recursive, by reference
    assert defs["Dog"]["anyOf"][1] == {"type": "null"}
    validator = Draft202012Validator(out)
    validator.validate({"result": {"kind": "cat", "name": "Tom", "lives": 9}})
    assert not validator.is_valid({"result": {"kind": "cat", "name": "Tom", "lives": 10}})
    assert not Validator(out).errors({"result": {"kind": "cat", "name": "Tom", "lives": 9}})
    assert Validator(out).errors({"result": {"kind": "cat", "name": "Tom", "lives": 10}})
    owner = tools["createOwner"].input_schema
    assert set(owner["properties"]) == {"name_query", "name_body", "address"}
    assert owner["properties"]["address"] == {"$ref": "#/$defs/Address"}
    body = tools["replacePet"].input_schema["properties"]["body"]  # a oneOf: not flattened
    assert body["anyOf"] == [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]
    assert tools["replacePet"].input_schema["required"] == ["petId", "body"]


def test_an_external_ref_outside_the_spec_directory_is_refused(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(PET_30))
    body = spec["paths"]["/owners"]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {"$ref": "../../etc/passwd#/Owner"}
    inner = tmp_path / "inner"
    inner.mkdir()
    runner = make_runner(tmp_path, f'[openapi.apis.pets]\nspec = "{write_spec(inner, spec)}"\n')
    assert "createOwner" not in runner.registry.tools
    assert "getPet" in runner.registry.tools
    from mcp_runner_openapi import plugin

    (entry,) = plugin.mcp_runner_status(runner) or []
    assert any("refused" in note and "POST /owners" in note for note in entry["notes"])


def test_openapi_31_documents(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "http://127.0.0.1:9"}],
        "paths": {
            "/things": {
                "post": {
                    "operationId": "makeThing",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"type": ["object", "null"]}}
                            },
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "exclusiveMinimum": 0},
                        "label": {"type": ["string", "null"], "const": None},
                    },
                }
            }
        },
    }
    tools = tools_of(tmp_path, write_spec(tmp_path, spec))
    thing = tools["makeThing"]
    assert thing.input_schema["properties"]["size"] == {"type": "integer", "exclusiveMinimum": 0}
    assert thing.input_schema["required"] == ["size"]
    assert thing.output_schema["properties"]["result"] == {"type": ["object", "null"]}


SAMPLES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer", "minimum": 1}, [1, 0, 1.0, 1.5, True, "1"]),
    ({"type": ["string", "null"], "maxLength": 3}, ["abc", "abcd", None, 3]),
    ({"enum": [1, "a", None, [1]]}, [1, 1.0, True, "a", None, [1], [True]]),
    ({"type": "number", "multipleOf": 0.5, "exclusiveMaximum": 2}, [1.5, 2, 0.3]),
    (
        {
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
            },
            "additionalProperties": False,
        },
        [{"a": ["x", "y"]}, {"a": ["x", "x"]}, {"a": [1]}, {}, {"a": [], "b": 1}],
    ),
    (
        {"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "integer"}], "not": {"const": 5}},
        ["ab", "ba", 4, 5, 1.5],
    ),
    (
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        [1, 1.5, "x"],
    ),
    (
        {
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
            "$ref": "#/$defs/node",
        },
        [{"next": {"next": {}}}, {"next": {"next": 1}}],
    ),
    (
        {"prefixItems": [{"type": "integer"}], "items": {"type": "string"}, "minItems": 1},
        [[1, "a"], [], ["a"], [1, 2]],
    ),
    (
        {
            "if": {"required": ["x"]},
            "then": {"required": ["y"]},
            "patternProperties": {"^n_": {"type": "number"}},
        },
        [{"x": 1, "y": 2}, {"x": 1}, {"n_a": 1}, {"n_a": "b"}],
    ),
]


@pytest.mark.parametrize(("schema", "values"), SAMPLES)
def test_the_validator_agrees_with_jsonschema(schema: dict[str, Any], values: list[Any]) -> None:
    ours = Validator(schema)
    reference = Draft202012Validator(schema)
    for value in values:
        assert (not ours.errors(value)) == reference.is_valid(value), (
            schema,
            value,
            ours.errors(value),
        )
