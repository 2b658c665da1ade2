"""Validate a submission against the packaged spec; report errors in FastAPI's 422 shape.

The schema comes from ``flux_flex.spec.request_body_schema()`` (the spec shipped in the
package), checked by ``jsonschema``'s Draft 2020-12 validator with a format checker, so a
change to the spec changes what the fake accepts: there is no hand-copied model here.

With ``strict_dimensions``, width and height are checked as the vendor's document writes
them, without the spec's ``0`` branch (marked ``x-flux-flex`` ours): an explicit 0 then gets
pydantic's ``greater_than_equal`` error for ``minimum: 64``, as a FastAPI server that checks
a sent value against the bound answers it (docs/api-facts.md#width-and-height-0).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

# jsonschema ships no type information (types-jsonschema is not a dependency).
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from jsonschema.exceptions import (  # type: ignore[import-untyped]
    ValidationError as SchemaError,
)
from jsonschema.exceptions import best_match

from flux_flex._core.uri import is_uri
from flux_flex.spec import load_spec, request_body_schema

__all__ = ["FieldErrorDict", "parse_json_body", "validate_query", "validate_submission"]

FieldErrorDict = dict[str, Any]


# jsonschema checks `format: uri` only when the optional `rfc3987`/`rfc3986-validator`
# packages are installed; the client's own RFC 3986 check is the one rule both sides share.
def _is_uri(instance: object) -> bool:
    return not isinstance(instance, str) or is_uri(instance)


_format_checker = FormatChecker()
_format_checker.checks("uri")(_is_uri)


_DIMENSIONS = ("width", "height")
_MARK = "x-flux-flex"


def _vendors_dimensions(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with width/height as the vendor's document has them: our marked branches
    (the lenient ``0``) left out."""
    schema = copy.deepcopy(schema)
    for name in _DIMENSIONS:
        prop = schema["properties"][name]
        prop["anyOf"] = [b for b in prop["anyOf"] if not (b.get(_MARK) or {}).get("ours")]
    return schema


@cache
def _validator(strict_dimensions: bool = False) -> Draft202012Validator:
    schema = request_body_schema()
    if strict_dimensions:
        schema = _vendors_dimensions(schema)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker)


# jsonschema keyword -> pydantic v2 error type (what FastAPI puts in `type`).
_TYPES = {
    "minimum": "greater_than_equal",
    "exclusiveMinimum": "greater_than",
    "maximum": "less_than_equal",
    "exclusiveMaximum": "less_than",
    "minLength": "string_too_short",
    "maxLength": "string_too_long",
    "enum": "enum",
    "const": "literal_error",
    "format": "url_parsing",
    "pattern": "string_pattern_mismatch",
}
_JSON_TYPES = {
    "integer": "int_type",
    "number": "float_type",
    "string": "string_type",
    "boolean": "bool_type",
    "object": "model_attributes_type",
    "array": "list_type",
    "null": "none_required",
}


def _leaf(error: SchemaError) -> SchemaError:
    """For an ``anyOf`` failure, the branch error that says most about the value.

    A branch whose ``type`` the value does not have was not the one meant: its other
    complaints (e.g. ``maximum: 0`` of the ``0`` branch for ``64.5``) are noise. Among the
    branches of the right type, the first one's error wins (the vendor's branch comes
    first); when no branch has the right type, the first branch's type error does, which is
    what pydantic reports ("Input should be a valid integer").
    """
    while error.context:
        mistyped = {e.relative_schema_path[0] for e in error.context if e.validator == "type"}
        fitting = [e for e in error.context if e.relative_schema_path[0] not in mistyped]
        pool = fitting or [e for e in error.context if e.validator == "type"] or error.context
        first = min(e.relative_schema_path[0] for e in pool)
        error = best_match([e for e in pool if e.relative_schema_path[0] == first])
    return error


_TYPE_WORDS = {
    "integer": "a valid integer",
    "number": "a valid number",
    "string": "a valid string",
    "boolean": "a valid boolean",
    "object": "a valid dictionary or object to extract fields from",
    "array": "a valid list",
    "null": "None",
}
_NEVER_ECHOED = frozenset({"webhook_secret"})


def _describe(leaf: SchemaError) -> tuple[str, str, dict[str, Any] | None]:
    """pydantic v2's ``type``, ``msg`` and ``ctx`` for the failed keyword (what FastAPI says)."""
    keyword, limit = str(leaf.validator), leaf.validator_value
    if keyword == "type":
        first = str(limit[0] if isinstance(limit, list) else limit)
        value = leaf.instance
        if first == "integer" and isinstance(value, float) and not isinstance(value, bool):
            return (
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
                None,
            )
        return (
            _JSON_TYPES.get(first, "type_error"),
            f"Input should be {_TYPE_WORDS.get(first, first)}",
            None,
        )
    if keyword == "minimum":
        return (
            "greater_than_equal",
            f"Input should be greater than or equal to {limit}",
            {"ge": limit},
        )
    if keyword == "maximum":
        return "less_than_equal", f"Input should be less than or equal to {limit}", {"le": limit}
    if keyword == "enum":
        names = [repr(v) for v in limit]
        expected = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return "enum", f"Input should be {expected}", {"expected": expected}
    if keyword == "format":
        return "url_parsing", "Input should be a valid URL", {"error": f"not an absolute {limit}"}
    if keyword == "minLength":
        return (
            "string_too_short",
            f"String should have at least {limit} character(s)",
            {"min_length": limit},
        )
    if keyword == "maxLength":
        return (
            "string_too_long",
            f"String should have at most {limit} characters",
            {"max_length": limit},
        )
    return _TYPES.get(keyword, "value_error"), leaf.message, None


def _as_fastapi(error: SchemaError, instance: Any) -> list[FieldErrorDict]:
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "required" and isinstance(instance, dict):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if name not in instance]
        return [
            {"loc": ["body", *path, name], "msg": "Field required", "type": "missing"}
            for name in missing
        ]
    kind, message, ctx = _describe(_leaf(error))
    found: FieldErrorDict = {"loc": ["body", *path], "msg": message, "type": kind}
    if path and path[0] not in _NEVER_ECHOED:  # a whole body could carry the secret
        found["input"] = error.instance
    if ctx is not None:
        found["ctx"] = ctx
    return [found]


def validate_submission(body: Any, *, strict_dimensions: bool = False) -> list[FieldErrorDict]:
    """FastAPI-shaped errors of ``body`` against Flux2FlexInputs; empty when it is valid.

    ``strict_dimensions``: an explicit width/height of 0 is an error (see the module's doc).
    """
    validator = _validator(strict_dimensions)
    order = {name: i for i, name in enumerate(validator.schema.get("properties", {}))}

    def field_order(error: SchemaError) -> tuple[int, list[str]]:
        # pydantic reports a body's errors in the order its fields are declared.
        path = list(map(str, error.path))
        return (order.get(path[0], len(order)) if path else -1, path)

    errors: list[FieldErrorDict] = []
    for error in sorted(validator.iter_errors(body), key=field_order):
        errors.extend(_as_fastapi(error, body))
    return errors


@cache
def _required_query(path: str, method: str) -> tuple[str, ...]:
    operation = load_spec()["paths"][path][method.lower()]
    return tuple(
        p["name"]
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p.get("required")
    )


def validate_query(path: str, method: str, query: Mapping[str, str]) -> list[FieldErrorDict]:
    """FastAPI-shaped errors for the spec's required query parameters missing from ``query``.

    (Every query value arrives as a string, which is all the spec asks of ``id``.)
    """
    return [
        {"loc": ["query", name], "msg": "Field required", "type": "missing"}
        for name in _required_query(path, method)
        if name not in query
    ]


class _InvalidJSONError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _InvalidJSONError(f"{name} is not valid JSON")


def parse_json_body(raw: bytes) -> tuple[Any, list[FieldErrorDict]]:
    """Parse strict JSON (no NaN/Infinity); on failure, the FastAPI ``json_invalid`` error."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant), []
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        position = getattr(exc, "pos", 0) or 0
        return None, [
            {
                "loc": ["body", position],
                "msg": "JSON decode error",
                "type": "json_invalid",
                "ctx": {"error": str(exc)[:200]},
            }
        ]
