"""RFC 6570 URI templates: compiling and matching resource template URIs."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from mcp_runner.components import (
    DefinitionError,
    ResourceTemplate,
    compile_template,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------
# URI templates


def match(template: str, uri: str) -> dict[str, Any] | None:
    resource = ResourceTemplate(uri=template, name="t")
    resource.pattern, resource.variables, resource.exploded = compile_template(template)
    return resource.match(uri)


def test_template_simple_expression() -> None:
    assert match("shop://item/{id}", "shop://item/42") == {"id": "42"}
    assert match("shop://item/{id}", "shop://item/caf%C3%A9") == {"id": "café"}  # decoded
    assert match("shop://item/{id}", "shop://item/a/b") is None  # one segment only
    assert match("shop://item/{id}", "shop://item/") is None
    assert match("shop://{kind}/{id}", "shop://book/7") == {"kind": "book", "id": "7"}
    assert match("shop://item/{id}.json", "shop://item/7.json") == {"id": "7"}  # literals escaped
    assert match("shop://item/{id}.json", "shop://item/7xjson") is None


def test_template_reserved_expansion_spans_slashes() -> None:
    assert match("file:///{+path}", "file:///srv/docs/a b.txt") == {"path": "srv/docs/a b.txt"}
    assert match("file:///{+path}", "file:///") is None
    assert match("repo://{owner}/{+path}", "repo://ada/src/x.py") == {
        "owner": "ada",
        "path": "src/x.py",
    }


def test_template_query_parameters_are_optional() -> None:
    template = "search://docs{?q,lang}"
    assert match(template, "search://docs?q=mcp&lang=en") == {"q": "mcp", "lang": "en"}
    assert match(template, "search://docs?q=a%20b") == {"q": "a b"}
    assert match(template, "search://docs?lang=en") == {"lang": "en"}
    assert match(template, "search://docs") == {}
    assert match(template, "search://docs?other=1") is None


def test_template_other_operators() -> None:
    assert match("api://v{.major}", "api://v.2") == {"major": "2"}
    assert match("api://root{/version}", "api://root/v1") == {"version": "v1"}
    assert match("doc://page{#section}", "doc://page#intro") == {"section": "intro"}


def test_template_exploded_query_values_are_lists() -> None:
    assert match("search://docs{?tags*}", "search://docs?tags=a,b") == {"tags": ["a", "b"]}
    assert match("t://x{+rest*}", "t://xa,b") == {"rest": ["a", "b"]}
    _, names, exploded = compile_template("t://{a}{?b*,c}")
    assert names == ("a", "b", "c") and exploded == {"b": ","}


def test_template_exploded_lists_match_rfc_6570_expansions() -> None:
    assert match("tags://{tags*}", "tags://a,b,c") == {"tags": ["a", "b", "c"]}
    assert match("path://x{/segments*}", "path://x/a/b") == {"segments": ["a", "b"]}


def test_template_variable_names_are_checked() -> None:
    with pytest.raises(DefinitionError, match="bad variable name"):
        compile_template("x://{not-a-name}")
