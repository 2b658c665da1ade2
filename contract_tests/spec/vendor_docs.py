"""Documents shaped the way the vendor publishes its OpenAPI document, built from our spec.

The vendor serves a FastAPI document (docs/api-facts.md#vendor-document):
its own component names and titles, operationIds derived from the route, `anyOf` with
`{"type": "null"}` (and `anyOf: [{}, {"type": "null"}]` for a value of any type, as FastAPI
writes `Any | None`), no error statuses but 422 (none at all on `/v1/credits`), no security
on get_result, no links, no webhooks, and the endpoints of the vendor's other models and
tools beside FLEX's. `vendor_document()` builds one from our spec minus what the spec marks
`x-flux-flex` (ours), so a test can compare, mutate, or fuzz against it. Never a copied
vendor file: everything here is derived from spec/ or written here.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from types import ModuleType
from typing import Any, Literal

from contract_tests.spec_tools import ROOT, load_spec


def _load_upstream_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "upstream_check", ROOT / "scripts" / "upstream_check.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


upstream_check = _load_upstream_check()

# The vendor's names are its own (FastAPI derives them from its pydantic classes).
VENDOR_NAMES = {
    "Flux2FlexInputs": "FluxFlexInputs",
    "AsyncResponse": "AsyncResponse",
    "AsyncWebhookResponse": "AsyncWebhookResponse",
    "ResultResponse": "ResultResponse",
    "ResultWithCostResponse": "SettledCostResultResponse",
    "StatusResponse": "StatusResponse",
    "OutputFormat": "OutputFormat",
    "CreditsResponse": "CreditsOut",
    "HTTPValidationError": "HTTPValidationError",
    "ValidationError": "ValidationError",
}
OPERATION_IDS = {
    ("/v1/flux-2-flex", "post"): "generate_flux_2_flex_v1_flux_2_flex_post",
    ("/v1/get_result", "get"): "get_result_v1_get_result_get",
    ("/v1/credits", "get"): "get_credits_v1_credits_get",
}

TAGS = {("/v1/flux-2-flex", "post"): ["Models"], ("/v1/get_result", "get"): ["Utility"]}
# FastAPI's `Any | None`: the vendor's `result`, a value of any type (null included).
ANY_OR_NULL = {"anyOf": [{}, {"type": "null"}], "title": "Result"}

Form = Literal["ref", "inline", "allof"]


def vendor_document(form: Form = "ref", *, others: bool = True) -> dict[str, Any]:
    """Our spec minus our marks, dressed the vendor's way.

    ``form``: ``ref`` keeps ``$ref``s into components (renamed); ``inline`` replaces every
    schema ``$ref`` by a copy of its target; ``allof`` wraps each property ``$ref`` the
    pydantic-v1 way (``allOf: [{$ref}]``). ``others``: with the endpoints of the vendor's
    other models and tools (`OTHER_ENDPOINTS`), which the check lists but never follows.
    """
    doc: dict[str, Any] = upstream_check.without_ours(load_spec())
    doc["info"] = {"title": "BFL API", "version": "0.0.1", "description": "Vendor words."}
    doc["servers"] = [{"url": "https://api.bfl.ai", "description": "Vendor words."}]
    doc["tags"] = [{"name": "Models"}, {"name": "Utility"}]
    for (route, method), operation_id in OPERATION_IDS.items():
        operation = doc["paths"][route][method]
        operation["operationId"] = operation_id
        operation["summary"] = operation["description"] = "Vendor words."
        if (route, method) in TAGS:
            operation["tags"] = TAGS[route, method]
    schemas = doc["components"]["schemas"]
    assert set(schemas) == set(VENDOR_NAMES), "a new component: name it in VENDOR_NAMES"
    for name in ("ResultResponse", "ResultWithCostResponse"):
        schemas[name]["properties"]["result"] = copy.deepcopy(ANY_OR_NULL)
    doc["components"]["schemas"] = {VENDOR_NAMES[k]: v for k, v in schemas.items()}
    doc = _rename_refs(doc)
    _reword(doc)
    if others:
        _add_other_endpoints(doc)
    # FastAPI writes each operation's answers in place, never as components/responses.
    doc = _inline(doc, doc, "#/components/responses/")
    doc["components"].pop("responses")
    if form == "inline":
        doc = _inline(doc, doc, "#/components/schemas/")
        doc["components"].pop("schemas")
    elif form == "allof":
        doc = _wrap_in_all_of(doc)
    return doc


def _submission(body: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": ["Models"],
        "summary": "Vendor words.",
        "operationId": f"generate_{body.lower()}_post",
        "security": [{"APIKeyHeader": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        },
        "responses": {
            "200": {"description": "Successful Response", "content": {"application/json": answer}},
            "422": {
                "description": "Validation Error",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                    }
                },
            },
        },
    }


_BOTH_ANSWERS = {
    "schema": {
        "anyOf": [
            {"$ref": "#/components/schemas/AsyncResponse"},
            {"$ref": "#/components/schemas/AsyncWebhookResponse"},
        ]
    }
}
# The vendor's other models and tools, as its document lists them beside FLEX (shapes only:
# a few fields each, enough to be real schemas the check must leave alone).
OTHER_BODIES: dict[str, dict[str, Any]] = {
    "Flux2Inputs": {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string"},
            "disable_pup": {"type": "boolean", "default": False},
            "width": {"anyOf": [{"type": "integer", "minimum": 64}, {"type": "null"}]},
        },
    },
    "Flux3ImageInputs": {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string"},
            "aspect_ratio": {
                "anyOf": [{"type": "string", "enum": ["16:9", "1:1"]}, {"const": "auto"}],
                "default": "auto",
            },
            "resolution": {"type": "string", "enum": ["1k", "2k"], "default": "1k"},
        },
    },
    "Flux2EraseInputs": {
        "type": "object",
        "required": ["image", "mask"],
        "properties": {"image": {"type": "string"}, "mask": {"type": "string"}},
    },
}
OTHER_ENDPOINTS: dict[str, dict[str, Any]] = {
    "/v1/flux-2-pro": {"post": _submission("Flux2Inputs", _BOTH_ANSWERS)},
    # FLUX 3 (October 2026): a plain AsyncResponse, not the anyOf of the older endpoints.
    "/v1/flux-3-image": {
        "post": _submission(
            "Flux3ImageInputs", {"schema": {"$ref": "#/components/schemas/AsyncResponse"}}
        )
    },
    "/v1/flux-tools/erase-v1": {"post": _submission("Flux2EraseInputs", _BOTH_ANSWERS)},
}


def _add_other_endpoints(doc: dict[str, Any]) -> None:
    """The vendor lists its other endpoints first and FLEX's among them (order kept)."""
    doc["paths"] = {**copy.deepcopy(OTHER_ENDPOINTS), **doc["paths"]}
    schemas = doc["components"].setdefault("schemas", {})
    schemas.update(copy.deepcopy(OTHER_BODIES))


def _rename_refs(doc: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(doc)
    for ours, theirs in VENDOR_NAMES.items():
        text = text.replace(f'"#/components/schemas/{ours}"', f'"#/components/schemas/{theirs}"')
    return json.loads(text)  # type: ignore[no-any-return]


def _reword(node: Any) -> None:
    """Titles, descriptions and examples are the vendor's own (the check ignores them)."""
    if isinstance(node, dict):
        if isinstance(node.get("title"), str):
            node["title"] = node["title"].replace(" ", "")
        if isinstance(node.get("description"), str):
            node["description"] = "Vendor words."
        node.pop("examples", None)
        for value in node.values():
            _reword(value)
    elif isinstance(node, list):
        for value in node:
            _reword(value)


def _inline(node: Any, doc: dict[str, Any], prefix: str) -> Any:
    """``node`` with every ``$ref`` starting with ``prefix`` replaced by a copy of its target."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            target = upstream_check._pointer(doc, ref)
            return _inline(copy.deepcopy(target), doc, prefix)
        return {k: _inline(v, doc, prefix) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, doc, prefix) for v in node]
    return node


def _wrap_in_all_of(doc: dict[str, Any]) -> dict[str, Any]:
    for schema in doc["components"]["schemas"].values():
        for name, prop in (schema.get("properties") or {}).items():
            if "$ref" in prop:
                schema["properties"][name] = {"allOf": [prop], "title": name.title()}
    return doc


# -- finding nodes in a vendor document, whatever its form --------------------------------
def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, its ``$ref`` (and a one-member ``allOf``) followed."""
    while True:
        if "$ref" in node:
            node = upstream_check._pointer(doc, node["$ref"])
        elif len(node.get("allOf", ())) == 1:
            node = node["allOf"][0]
        else:
            return node


def operation(doc: dict[str, Any], route: str, method: str) -> dict[str, Any]:
    return doc["paths"][route][method]  # type: ignore[no-any-return]


def request_body(doc: dict[str, Any]) -> dict[str, Any]:
    """The FLEX request body's schema (the object with ``prompt``)."""
    body = resolve(doc, operation(doc, "/v1/flux-2-flex", "post")["requestBody"])
    return resolve(doc, body["content"]["application/json"]["schema"])


def body_field(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return request_body(doc)["properties"][name]  # type: ignore[no-any-return]


def response_schema(doc: dict[str, Any], route: str, method: str, status: str) -> dict[str, Any]:
    answer = resolve(doc, operation(doc, route, method)["responses"][status])
    return resolve(doc, answer["content"]["application/json"]["schema"])


def result_shapes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """get_result's 200 shapes, the one with ``cost`` first."""
    union = response_schema(doc, "/v1/get_result", "get", "200")
    shapes = [resolve(doc, s) for s in union["anyOf"]]
    return sorted(shapes, key=lambda s: "cost" not in s["properties"])


def first_value_branch(doc: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """The first non-null branch of a nullable property (the property itself otherwise)."""
    for branch in prop.get("anyOf", [prop]):
        branch = resolve(doc, branch)
        if branch.get("type") != "null":
            return branch
    raise AssertionError(f"no value branch in {prop}")
