"""Local validation from the spec: every bound at its edge and just past, nothing sent."""

from __future__ import annotations

from typing import Any

import pytest
from flux_flex._core.schema import check, vet
from flux_flex._core.validation import body_errors
from flux_flex.spec import request_body_schema
from hypothesis import given, settings
from hypothesis import strategies as st

OK_EDGES = [
    ("width", 64),
    ("width", 0),
    ("height", 64),
    ("height", 2048),
    ("guidance", 1.5),
    ("guidance", 10),
    ("steps", 1),
    ("steps", 50),
    ("safety_tolerance", 0),
    ("safety_tolerance", 5),
    ("output_format", "png"),
    ("output_format", "jpeg"),
    ("output_format", "webp"),
    ("user", "u"),
    ("user", "u" * 256),
    ("user", "é" * 256),
    ("webhook_url", "https://h.example/" + "a" * (2083 - 18)),
    ("webhook_url", "http://127.0.0.1:9/x"),
    ("seed", -3),
    ("prompt_upsampling", False),
]
BAD_EDGES = [
    ("width", 63, "minimum"),
    ("width", 1, "minimum"),
    ("height", 63, "minimum"),
    ("width", -1, "minimum"),
    ("guidance", 1.49, "minimum"),
    ("guidance", 10.01, "maximum"),
    ("steps", 0, "minimum"),
    ("steps", 51, "maximum"),
    ("safety_tolerance", -1, "minimum"),
    ("safety_tolerance", 6, "maximum"),
    ("output_format", "gif", "enum"),
    ("output_format", "WEBP", "enum"),
    ("user", "", "minLength"),
    ("user", "u" * 257, "maxLength"),
    ("user", 7, "type"),
    ("steps", 2.5, "type"),
    ("seed", "42", "type"),
    ("prompt_upsampling", "yes", "type"),
    ("width", True, "type"),
    ("webhook_url", "https://h.example/" + "a" * (2084 - 18), "maxLength"),
    ("webhook_url", "", "minLength"),
    ("webhook_url", "<string>", "format"),
    ("webhook_url", "ftp://h.example/x", "scheme"),
    ("webhook_url", "https:///nohost", "format"),
]


@pytest.mark.parametrize(("field", "value"), OK_EDGES)
def test_values_at_the_edge_pass(field: str, value: Any) -> None:
    assert body_errors({"prompt": "p", field: value}) == []


@pytest.mark.parametrize(("field", "value", "rule"), BAD_EDGES)
def test_values_just_past_the_edge_fail_naming_field_and_rule(
    field: str, value: Any, rule: str
) -> None:
    errors = body_errors({"prompt": "p", field: value})
    assert [(e.field, e.rule) for e in errors] == [(field, rule)]
    assert field in errors[0].message


def test_prompt_is_required_and_a_string() -> None:
    assert [(e.field, e.rule) for e in body_errors({})] == [("prompt", "required")]
    assert [(e.field, e.rule) for e in body_errors({"prompt": 3})] == [("prompt", "type")]


def test_interpreter_refuses_unknown_keywords() -> None:
    with pytest.raises(ValueError, match="pattern"):
        check("x", {"type": "string", "pattern": "^a"})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a"},
        {
            "properties": {
                "a": {
                    "anyOf": [{"type": "null"}, {"type": "string", "format": "uri", "pattern": "x"}]
                }
            }
        },
        {"additionalProperties": {"multipleOf": 2}},
        {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer", "exclusiveMaximum": 3}}},
    ],
)
def test_vetting_refuses_an_unknown_keyword_anywhere(schema: dict[str, Any]) -> None:
    # Vetted once, a schema is checked without looking at its keywords again: vetting
    # must find every keyword `check` would refuse, however deep, even where no value goes.
    with pytest.raises(ValueError, match="not supported"):
        vet(schema)


def test_the_request_schema_is_vetted_and_checks_alike_either_way() -> None:
    schema = request_body_schema()
    vet(schema)
    recursive = {"$ref": "#/$defs/a", "$defs": {"a": {"properties": {"b": {"$ref": "#/$defs/a"}}}}}
    vet(recursive)  # a schema that refers to itself is walked once
    for body in ({}, {"prompt": 3}, {"prompt": "p", "width": 7, "sead": 1}, {"prompt": "p"}):
        assert check(body, schema, vetted=True) == check(body, schema)


def test_interpreter_follows_refs() -> None:
    schema = {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer", "maximum": 3}}}
    assert check(2, schema) == []
    assert [v.rule for v in check(4, schema)] == ["maximum"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"width": 10}, "width must be >= 64 or 0, not 10"),
        ({"height": -1}, "height must be >= 64 or 0, not -1"),
        ({"steps": 51}, "steps must be <= 50, not 51"),
        ({"guidance": 1.4}, "guidance must be >= 1.5, not 1.4"),
    ],
)
def test_a_bound_is_worded_as_one_sentence(body: dict[str, object], message: str) -> None:
    assert [e.message for e in body_errors({"prompt": "p", **body})] == [message]


# --- additionalProperties: checked, and judged as jsonschema judges it ---------------------

_CLOSED = {
    "type": "object",
    "properties": {"seed": {"type": "integer"}, "inner": {"$ref": "#/$defs/inner"}},
    "additionalProperties": False,
    "$defs": {
        "inner": {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "integer", "minimum": 0},
        }
    },
}
_OPEN = {"type": "object", "properties": {"seed": {"type": "integer"}}, "additionalProperties": {}}


def test_a_member_the_schema_does_not_allow_is_named() -> None:
    found = check({"seed": 1, "sead": 2}, _CLOSED)
    assert [(v.path, v.rule) for v in found] == [("sead", "additionalProperties")]
    assert "did you mean 'seed'" in found[0].message


def test_a_schema_valued_additional_properties_checks_each_other_member() -> None:
    found = check({"inner": {"a": "x", "n": -1, "m": "s", "k": 3}}, _CLOSED)
    assert sorted((v.path, v.rule) for v in found) == [("inner.m", "type"), ("inner.n", "minimum")]
    assert check({"anything": [1, {"x": None}]}, _OPEN) == []


def test_the_request_schema_has_no_additional_properties_rule() -> None:
    # Extra keys cannot reach the body through the typed API (TypeError first), and the
    # spec itself lets unknown members through: the interpreter follows it.
    from flux_flex.spec import request_body_schema

    assert "additionalProperties" not in request_body_schema()
    assert body_errors({"prompt": "p", "future_field": 1}) == []


_NAMES = st.sampled_from(["seed", "sead", "inner", "a", "n", "x"])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_NAMES, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(_NAMES, _VALUES, max_size=4), st.sampled_from([_CLOSED, _OPEN]))
def test_the_interpreter_agrees_with_jsonschema(value: dict[str, Any], schema: Any) -> None:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    ours = check(value, schema)
    vet(schema)
    assert check(value, schema, vetted=True) == ours
    theirs = list(Draft202012Validator(schema).iter_errors(value))
    assert (ours == []) == (theirs == [])
    # The members jsonschema calls unexpected are the ones named by their own path.
    unexpected = set()
    for error in theirs:
        if error.validator == "additionalProperties" and error.validator_value is False:
            base = ".".join(str(p) for p in error.absolute_path)
            allowed = set(error.schema.get("properties", {}))
            for name in set(error.instance) - allowed:
                unexpected.add(f"{base}.{name}" if base else name)
    named = {v.path for v in ours if v.rule == "additionalProperties"}
    assert named == unexpected
