"""Hypothesis strategies drawn from the spec itself (the packaged copy the client ships).

Nothing here restates a bound, a field name or a status by hand: each strategy reads the
schema from ``flux_flex.spec``, so a spec change changes what is generated.
"""

from __future__ import annotations

import copy
import json
import math
from functools import cache
from typing import Any, cast

from flux_flex.spec import component_schema, load_spec, request_body_schema
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

API_KEY = "test-key-0123456789"
BASE_URL = "https://api.contract.test"
SUBMIT_PATH = "/v1/flux-2-flex"
RESULT_PATH = "/v1/get_result"
DELIVERY_HOST = "https://delivery.contract.test"

IMAGE_FIELDS = ("input_image", *(f"input_image_{n}" for n in range(2, 9)))

# A URL both the spec (`format: uri`) and any sane webhook check accept. hypothesis-jsonschema
# does not generate `format: uri` at all, so it is supplied here.
_HOST_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_PATH_SEGMENT = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=10
)


@st.composite
def http_urls(draw: st.DrawFn, schemes: tuple[str, ...] = ("https", "http")) -> str:
    """An absolute http(s) URL with a host, optional port, path and query."""
    scheme = draw(st.sampled_from(schemes))
    labels = draw(st.lists(_HOST_LABEL, min_size=1, max_size=3))
    host = ".".join([*labels, draw(st.sampled_from(["com", "test", "example", "io"]))])
    port = draw(st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")))
    path = "/".join(draw(st.lists(_PATH_SEGMENT, max_size=4)))
    query = draw(st.one_of(st.just(""), _PATH_SEGMENT.map(lambda q: f"?q={q}")))
    return f"{scheme}://{host}{port}/{path}{query}"


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with ``additionalProperties: false`` at its top level."""
    return {**schema, "additionalProperties": False}


def request_schema() -> dict[str, Any]:
    """The POST body schema, standalone (``#/components`` refs resolve)."""
    return request_body_schema()


@cache
def request_validator() -> Draft202012Validator:
    """Draft 2020-12 validator of the request body, with the format checker on."""
    return Draft202012Validator(
        request_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def spec_request_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Any body the spec allows (nulls, unknown keys and all), webhook URLs made real URLs."""
    return from_schema(request_schema(), custom_formats={"uri": http_urls()})  # type: ignore[return-value]


def _field_schemas() -> dict[str, Any]:
    return dict(request_schema()["properties"])


@st.composite
def wrapper_request_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A body the spec allows that the wrapper's keyword arguments can express exactly.

    Drawn from the spec's schema (no unknown keys, no nulls: a null is "not set" for a keyword
    argument), then the images are made URLs (the wrapper reads paths and decodes base64, but
    passes URLs through untouched) and packed from ``input_image`` on, as ``input_images=[...]``
    maps them. Strings hold only text the API can take: a NUL or a lone surrogate, which the
    wrapper refuses beyond the spec (docs/api-facts.md, "Text the API cannot take"), becomes
    U+FFFD, keeping every length.
    """
    schema = _strict(request_schema())
    props = schema["properties"]
    schema["properties"] = {
        name: _non_null(field) for name, field in props.items() if name != "input_image_blob_path"
    }
    drawn = cast(dict[str, Any], draw(from_schema(schema, custom_formats={"uri": http_urls()})))
    body = {k: v for k, v in drawn.items() if v is not None and k not in IMAGE_FIELDS}
    images = draw(st.lists(http_urls(("https",)), max_size=len(IMAGE_FIELDS)))
    body.update(zip(IMAGE_FIELDS, images, strict=False))
    return cast(dict[str, Any], _sendable(body))


def _sendable(value: Any) -> Any:
    """``value`` with each NUL and lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return "".join(
            "\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value
        )
    if isinstance(value, dict):
        return {key: _sendable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sendable(item) for item in value]
    return value


def _non_null(field: dict[str, Any]) -> dict[str, Any]:
    branches = field.get("anyOf")
    if branches is None:
        return field
    kept = [b for b in branches if b.get("type") != "null"]
    return {**{k: v for k, v in field.items() if k != "anyOf"}, "anyOf": kept}


def body_to_submit_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    """Map a wrapper-expressible body to ``FluxFlex.submit`` keyword arguments."""
    kwargs = {k: v for k, v in body.items() if k not in IMAGE_FIELDS}
    images = [body[name] for name in IMAGE_FIELDS if name in body]
    if images:
        kwargs["input_images"] = images
    return kwargs


def expected_wrapper_body(body: dict[str, Any]) -> dict[str, Any]:
    """What the wrapper must send for ``body`` given as keyword arguments.

    ``body`` itself, except width/height 0: the client documents (``FluxFlex.submit``) that
    it leaves those out, since docs/api-facts.md#image-size gives 0 and absent the same
    meaning (the model chooses). Nothing may be added.
    """
    return {
        k: v
        for k, v in body.items()
        if not (k in ("width", "height") and v == 0 and not isinstance(v, bool))
    }


# --- invalid values, built from each field's schema -----------------------------------------


def _bounds_just_past(field: dict[str, Any]) -> list[Any]:
    """Values just outside every numeric or length bound the field's branches state."""
    out: list[Any] = []
    branches = field.get("anyOf", [field])
    for branch in branches:
        kind = branch.get("type")
        if kind in ("integer", "number"):
            step: float = 1 if kind == "integer" else 1e-6
            if "minimum" in branch:
                out.append(branch["minimum"] - step)
            if "maximum" in branch:
                out.append(branch["maximum"] + step)
            if kind == "number" and "minimum" in branch:
                out.append(math.nextafter(float(branch["minimum"]), -math.inf))
            if kind == "number" and "maximum" in branch:
                out.append(math.nextafter(float(branch["maximum"]), math.inf))
        if kind == "string":
            if "maxLength" in branch:
                out.append("https://a.test/" + "x" * (branch["maxLength"] - 14))
            if "minLength" in branch and branch["minLength"] > 0:
                out.append("x" * (branch["minLength"] - 1))
    return out


_WRONG_TYPES: list[Any] = [True, False, 7, -3, 2.5, "12", "", "true", [1], {"a": 1}, [], {}]
_NOT_URIS = ["<string>", "not a url", "://missing-scheme", "http://exa mple.com/", "\\\\x"]


@cache
def _field_validator(name: str) -> Draft202012Validator:
    field = {**_field_schemas()[name], "components": request_schema()["components"]}
    return Draft202012Validator(field, format_checker=Draft202012Validator.FORMAT_CHECKER)


def invalid_values(name: str) -> list[Any]:
    """Values of field ``name`` that its own schema refuses: bounds just past, wrong types."""
    field = _field_schemas()[name]
    candidates = [*_bounds_just_past(field), *_WRONG_TYPES]
    if name == "webhook_url":
        candidates += _NOT_URIS
    validator = _field_validator(name)
    seen: list[Any] = []
    for value in candidates:
        if not validator.is_valid(value) and not any(_same(value, s) for s in seen):
            seen.append(value)
    return seen


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and json.dumps(a) == json.dumps(b)


def bounded_fields() -> list[str]:
    """Fields whose schema states a bound, a type or an enum a value can break."""
    return [name for name in _field_schemas() if invalid_values(name)]


@st.composite
def invalid_request_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A wrapper-expressible valid body with one field replaced by a value its schema refuses."""
    body = draw(wrapper_request_bodies())
    name = draw(st.sampled_from([n for n in bounded_fields() if n not in IMAGE_FIELDS]))
    value = draw(st.sampled_from(invalid_values(name)))
    # a null is "not set" for a keyword argument, never a refusal
    if value is None:  # pragma: no cover - None is valid for every nullable field
        value = "x"
    return {**body, name: value}, name


# --- responses, drawn from each response schema ---------------------------------------------


def response_schema(name: str) -> dict[str, Any]:
    """A component schema, standalone, with ``format: uri`` kept."""
    return component_schema(name)


def responses(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Instances of component ``name`` (unknown keys included, as the spec allows)."""
    return from_schema(response_schema(name), custom_formats={"uri": http_urls()})  # type: ignore[return-value]


@cache
def _small_422s() -> st.SearchStrategy[dict[str, Any]]:
    # The spec's schema with short arrays: long ones add generation time, not coverage.
    schema = copy.deepcopy(response_schema("HTTPValidationError"))
    schema["properties"]["detail"]["maxItems"] = 3
    schema["components"]["schemas"]["ValidationError"]["properties"]["loc"]["maxItems"] = 3
    return from_schema(schema)  # type: ignore[return-value]


@st.composite
def fastapi_422s(draw: st.DrawFn) -> dict[str, Any]:
    """HTTPValidationError bodies drawn from the spec, most ``loc``s made the way FastAPI
    writes them for a body field (``["body", "<field of the request schema>"]``)."""
    body: dict[str, Any] = draw(_small_422s())
    fields = sorted(request_schema()["properties"])
    for item in body.get("detail", []):
        if draw(st.integers(0, 3)):
            item["loc"] = ["body", draw(st.sampled_from(fields))]
    return body


def statuses() -> list[str]:
    """Every task status the spec names."""
    return list(load_spec()["components"]["schemas"]["StatusResponse"]["enum"])


@st.composite
def ready_results(draw: st.DrawFn) -> dict[str, Any]:
    """``result`` of a Ready task (drawn from ReadyResult), its ``sample`` on the delivery host."""
    result = draw(responses("ReadyResult"))
    name = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12))
    return {**result, "sample": f"{DELIVERY_HOST}/samples/{name}.png"}


@st.composite
def result_responses(draw: st.DrawFn, status: str) -> dict[str, Any]:
    """A ResultResponse drawn from its schema with the given status (Ready: a ReadyResult)."""
    body = draw(responses("ResultResponse"))
    body["status"] = status
    if status == "Ready":
        body["result"] = draw(ready_results())
    return body


def error_statuses(operation_id: str) -> list[int]:
    """The error statuses the spec lists for an operation."""
    for item in load_spec()["paths"].values():
        for op in item.values():
            if op.get("operationId") == operation_id:
                return sorted(int(code) for code in op["responses"] if code != "200")
    raise KeyError(operation_id)


def error_body_schema(operation_id: str, status: int) -> str:
    """Name of the component schema of an error response of an operation."""
    spec = load_spec()
    for item in spec["paths"].values():
        for op in item.values():
            if op.get("operationId") == operation_id:
                node = op["responses"][str(status)]
                ref: str = node["$ref"]
                response = spec["components"]["responses"][ref.rsplit("/", 1)[1]]
                schema_ref: str = response["content"]["application/json"]["schema"]["$ref"]
                return schema_ref.rsplit("/", 1)[1]
    raise KeyError(operation_id)
