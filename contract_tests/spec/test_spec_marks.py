"""What the spec adds to the vendor's document is marked `x-flux-flex`, completely and well.

Our spec minus what it marks must be the vendor's document as
docs/api-facts.md#vendor-document describes it ("The vendor's published document, 2026"):
200 and 422 answers on the submission and get_result, only 200 on `/v1/credits`, no security
on get_result, no links, no webhooks. Anything of ours
left unmarked would survive the strip and break one of these; a mark on something the vendor
publishes would hide vendor drift from `make upstream-check` and shows up in
test_upstream_check's in-step tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from contract_tests.spec.vendor_docs import upstream_check
from contract_tests.spec_tools import ROOT, load_spec

MARK = "x-flux-flex"
OPERATIONS = [("/v1/flux-2-flex", "post"), ("/v1/get_result", "get"), ("/v1/credits", "get")]


def vendor_shape() -> dict[str, Any]:
    return upstream_check.without_ours(load_spec())  # type: ignore[no-any-return]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


# The vendor's answers per operation: 422 where FastAPI validates a body or a query, none on
# `/v1/credits` (no parameters, no body).
VENDOR_ANSWERS = {
    ("/v1/flux-2-flex", "post"): {"200", "422"},
    ("/v1/get_result", "get"): {"200", "422"},
    ("/v1/credits", "get"): {"200"},
}


@pytest.mark.parametrize(("route", "method"), OPERATIONS)
def test_without_our_marks_each_operation_answers_what_the_vendors_does(
    route: str, method: str
) -> None:
    assert set(vendor_shape()["paths"][route][method]["responses"]) == VENDOR_ANSWERS[route, method]


def test_without_our_marks_get_result_has_no_security_and_the_others_need_the_key() -> None:
    paths = vendor_shape()["paths"]
    assert "security" not in paths["/v1/get_result"]["get"]
    assert "security" not in vendor_shape()  # nor a document-wide default
    for route, method in [("/v1/flux-2-flex", "post"), ("/v1/credits", "get")]:
        assert paths[route][method]["security"] == [{"APIKeyHeader": []}]


def test_without_our_marks_there_are_no_links_webhooks_ids_tags_or_marks() -> None:
    doc = vendor_shape()
    assert "webhooks" not in doc
    assert "tags" not in doc
    for path, node in walk(doc):
        if isinstance(node, dict):
            assert not {"links", MARK} & set(node), path
    for route, method in OPERATIONS:
        assert not {"operationId", "tags"} & set(doc["paths"][route][method])


def test_without_our_marks_only_the_vendors_schemas_are_left() -> None:
    assert set(vendor_shape()["components"]["schemas"]) == {
        "Flux2FlexInputs",
        "OutputFormat",
        "AsyncResponse",
        "AsyncWebhookResponse",
        "StatusResponse",
        "ResultResponse",
        "ResultWithCostResponse",
        "CreditsResponse",
        "ValidationError",
        "HTTPValidationError",
    }
    width = vendor_shape()["components"]["schemas"]["Flux2FlexInputs"]["properties"]["width"]
    assert width["anyOf"] == [{"type": "integer", "minimum": 64}, {"type": "null"}]  # the page's
    assert width["default"] == 0  # the vendor's, which the spec itself leaves out


def test_every_mark_is_well_formed() -> None:
    # A typo (`ours-key`, a key the node does not have) would silently mark nothing.
    marks = [(path, node) for path, node in walk(load_spec()) if isinstance(node, dict)]
    marks = [(path, node) for path, node in marks if MARK in node]
    assert len(marks) >= 15
    for path, node in marks:
        mark = node[MARK]
        assert mark in ({"ours": True},) or set(mark) in ({"ours-keys"}, {"vendor-keys"}), path
        for key in mark.get("ours-keys", []):
            assert key in node, f"{path}: marks {key!r}, which it does not have"
        for key in mark.get("vendor-keys", {}):
            assert key not in node, f"{path}: {key!r} is both stated and left out"


def test_without_ours_drops_marked_nodes_refs_to_them_and_listed_keys() -> None:
    # Guards the strip itself on a small document (the tests above lean on it).
    doc = {
        "paths": {"/a": {"get": {"x-flux-flex": {"ours-keys": ["tags"]}, "tags": ["t"]}}},
        "components": {"responses": {"Mine": {"x-flux-flex": {"ours": True}}}},
        "list": [{"x-flux-flex": {"ours": True}}, {"$ref": "#/components/responses/Mine"}, 1],
        "kept": {"$ref": "#/components/responses/Gone"},
        "size": {"type": "integer", "x-flux-flex": {"vendor-keys": {"default": 0}}},
    }
    assert upstream_check.without_ours(doc) == {
        "paths": {"/a": {"get": {}}},
        "components": {"responses": {}},
        "list": [1],
        "kept": {"$ref": "#/components/responses/Gone"},
        "size": {"type": "integer", "default": 0},
    }


def test_the_docs_name_the_vendor_revision_the_spec_follows() -> None:
    revision = load_spec()["info"]["x-vendor-revision"]
    assert re.fullmatch(r"\d{4}-\d{2}", revision)
    page = (ROOT / "docs" / "maintainers" / "vendor.md").read_text(encoding="utf-8")
    assert f"revision {revision}" in page
