"""Local validation from the spec: every bound at its edge and just past, nothing sent."""

from __future__ import annotations

from typing import Any

import pytest
from flux_flex import FluxFlex, RequestValidationError
from flux_flex._core.schema import check
from flux_flex._core.validation import body_errors

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


def test_interpreter_follows_refs() -> None:
    schema = {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer", "maximum": 3}}}
    assert check(2, schema) == []
    assert [v.rule for v in check(4, schema)] == ["maximum"]


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"steps": 51}, "steps", "maximum"),
        ({"guidance": 1.4}, "guidance", "minimum"),
        ({"input_images": ["https://x.example/a.png"] * 9}, "input_images", "maxItems"),
        ({"input_images": ["/does/not/exist.png"]}, "input_images[0]", "readable"),
        ({"webhook_url": "not a url"}, "webhook_url", "format"),
        ({"webhook_url": "mailto:me@example.com"}, "webhook_url", "scheme"),
    ],
)
def test_client_refuses_bad_input_before_any_request(
    kwargs: dict[str, Any], field: str, rule: str
) -> None:
    calls = []

    def handler(request: Any) -> Any:  # pragma: no cover - must not be reached
        calls.append(request)
        raise AssertionError("a request was sent")

    import httpx

    with (
        FluxFlex(
            api_key="k", http_client=httpx.Client(transport=httpx.MockTransport(handler))
        ) as c,
        pytest.raises(RequestValidationError) as info,
    ):
        c.submit("fox", **kwargs)
    assert calls == []
    assert (field, rule) in [(e.field, e.rule) for e in info.value.errors]
    assert info.value.status_code is None
    assert field in str(info.value)
    assert "nothing was sent" in str(info.value)


def test_all_errors_reported_at_once() -> None:
    with FluxFlex(api_key="k") as c, pytest.raises(RequestValidationError) as info:
        c.submit("fox", steps=0, guidance=11, safety_tolerance=9)
    assert info.value.fields == ["guidance", "steps", "safety_tolerance"]


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
