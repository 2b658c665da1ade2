"""Every request is checked against the packaged spec; refusals have FastAPI's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from flux_flex.testing import FakeBFL
from flux_flex.testing._validation import _is_uri, validate_submission

from .conftest import RESULT, SUBMIT, client_for


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    with FakeBFL(task_seconds=0.01, deliver_webhooks=False) as fake, client_for(fake) as client:
        yield client


def _detail(answer: httpx.Response) -> list[dict[str, object]]:
    assert answer.status_code == 422, answer.text
    detail: list[dict[str, object]] = answer.json()["detail"]
    assert all({"loc", "msg", "type"} <= set(error) for error in detail)
    return detail


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"prompt": "p", "width": 63}, ["body", "width"], "greater_than_equal"),
        ({"prompt": "p", "width": "64"}, ["body", "width"], "int_type"),
        ({"prompt": "p", "guidance": 10.5}, ["body", "guidance"], "less_than_equal"),
        ({"prompt": "p", "steps": 1.5}, ["body", "steps"], "int_from_float"),
        ({"prompt": "p", "width": 64.5}, ["body", "width"], "int_from_float"),
        ({"prompt": "p", "height": 1e3 + 0.5}, ["body", "height"], "int_from_float"),
        ({"prompt": "p", "safety_tolerance": None}, ["body", "safety_tolerance"], "int_type"),
        ({"prompt": "p", "output_format": "gif"}, ["body", "output_format"], "enum"),
        ({"prompt": "p", "user": ""}, ["body", "user"], "string_too_short"),
        ({"prompt": "p", "user": "u" * 257}, ["body", "user"], "string_too_long"),
        ({"prompt": "p", "user": 7}, ["body", "user"], "string_type"),
        ({"prompt": "p", "webhook_url": "not a url"}, ["body", "webhook_url"], "url_parsing"),
        ({"prompt": 5}, ["body", "prompt"], "string_type"),
        ({"prompt": "p", "prompt_upsampling": "yes"}, ["body", "prompt_upsampling"], "bool_type"),
        ({}, ["body", "prompt"], "missing"),
    ],
)
def test_invalid_field_gets_422_naming_it(
    api: httpx.Client, body: dict[str, object], loc: list[str], kind: str
) -> None:
    (error,) = _detail(api.post(SUBMIT, json=body))
    assert (error["loc"], error["type"]) == (loc, kind)
    assert isinstance(error["msg"], str)
    assert error["msg"]


def test_messages_follow_fastapi(api: httpx.Client) -> None:
    (error,) = _detail(api.post(SUBMIT, json={"prompt": "p", "width": 63}))
    assert error == {
        "loc": ["body", "width"],
        "msg": "Input should be greater than or equal to 64",
        "type": "greater_than_equal",
        "input": 63,
        "ctx": {"ge": 64},
    }
    (error,) = _detail(api.post(SUBMIT, json={"prompt": "p", "output_format": "gif"}))
    assert error["msg"] == "Input should be 'jpeg', 'png' or 'webp'"


def test_a_fractional_size_is_about_an_integer_not_the_zero_branch(api: httpx.Client) -> None:
    # width is anyOf [integer >= 64, integer 0..0 (ours), null]: 64.5 fits no branch's
    # type, and pydantic (FastAPI) says so, not "less than or equal to 0".
    (error,) = _detail(api.post(SUBMIT, json={"prompt": "p", "width": 64.5}))
    assert error == {
        "loc": ["body", "width"],
        "msg": "Input should be a valid integer, got a number with a fractional part",
        "type": "int_from_float",
        "input": 64.5,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "p", "output_format": "webp"},
        {"prompt": "p", "user": "u"},
        {"prompt": "p", "user": "u" * 256},
        {"prompt": "p", "user": None},
        {"prompt": "p", "width": 64.0},  # an integral number is an integer (JSON Schema)
    ],
)
def test_the_vendors_2026_fields_are_accepted(api: httpx.Client, body: dict[str, object]) -> None:
    assert api.post(SUBMIT, json=body).status_code == 200


def test_an_invalid_secret_is_not_echoed(api: httpx.Client) -> None:
    (error,) = _detail(api.post(SUBMIT, json={"prompt": "p", "webhook_secret": 12345}))
    assert error["loc"] == ["body", "webhook_secret"]
    assert "input" not in error
    assert "12345" not in json.dumps(error)


def test_several_errors_are_all_reported(api: httpx.Client) -> None:
    locs = [e["loc"] for e in _detail(api.post(SUBMIT, json={"width": 1, "steps": 99}))]
    assert sorted(map(str, locs)) == sorted(
        map(str, [["body", "prompt"], ["body", "steps"], ["body", "width"]])
    )


_DEEPLY_NESTED = b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("content", "content_type", "kind"),
    [
        (b"{not json", "application/json", "json_invalid"),
        (b'{"prompt": NaN}', "application/json", "json_invalid"),
        (b"\xff\xfe", "application/json", "json_invalid"),
        (b"", "application/json", "missing"),
        (b"prompt=p", "application/x-www-form-urlencoded", "model_attributes_type"),
        (b'{"prompt": "p"}', "text/plain", "model_attributes_type"),
        (b"[1, 2]", "application/json", "model_attributes_type"),
        (b'"p"', "application/json", "model_attributes_type"),
        (
            b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "application/json",
            "json_invalid",
        ),
        (b'{"prompt": "p", "seed": ' + b"9" * 5000 + b"}", "application/json", "json_invalid"),
    ],
)
def test_unparsable_or_wrong_type_body_is_422_never_500(
    api: httpx.Client, content: bytes, content_type: str, kind: str
) -> None:
    answer = api.post(SUBMIT, content=content, headers={"content-type": content_type})
    assert _detail(answer)[0]["type"] == kind
    assert _detail(answer)[0]["loc"][0] == "body"


def test_unknown_fields_are_ignored(api: httpx.Client) -> None:
    answer = api.post(SUBMIT, json={"prompt": "p", "input_image_9": "x", "colour": "red"})
    assert answer.status_code == 200


def test_json_content_type_with_charset_is_accepted(api: httpx.Client) -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    assert api.post(SUBMIT, content=b'{"prompt": "p"}', headers=headers).status_code == 200


def test_missing_query_id_is_422_in_query(api: httpx.Client) -> None:
    assert _detail(api.get(RESULT)) == [
        {"loc": ["query", "id"], "msg": "Field required", "type": "missing"}
    ]


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 403), ("", 401)])
def test_missing_or_wrong_key(api: httpx.Client, key: str | None, status: int) -> None:
    headers = {"x-key": key} if key is not None else {}
    with httpx.Client(base_url=api.base_url, headers=headers) as other:
        for answer in (
            other.post(SUBMIT, json={"prompt": "p"}),
            other.get(RESULT, params={"id": "x"}),
        ):
            assert answer.status_code == status
            assert isinstance(answer.json()["detail"], str)


def test_lone_surrogates_in_the_prompt_do_not_break_answers(api: httpx.Client) -> None:
    answer = api.post(
        SUBMIT, content=b'{"prompt": "\\ud800 fox"}', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200
    polled = api.get(RESULT, params={"id": answer.json()["id"]})
    assert polled.status_code == 200


def test_huge_sizes_cost_more_than_any_balance_and_never_exhaust_memory() -> None:
    body = {"prompt": "p", "width": 10**30, "height": 10**30}
    with FakeBFL(task_seconds=0.0, balance=1e12) as rich, client_for(rich) as api:
        answer = api.post(SUBMIT, json=body)
        assert answer.status_code == 200
        assert api.get(RESULT, params={"id": answer.json()["id"]}).json()["status"] == "Error"
        with FakeBFL() as fake, client_for(fake) as other:
            assert other.post(SUBMIT, json=body).status_code == 402


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://example.com/hook?x=1#f", True),
        ("http://127.0.0.1:8080/", True),
        ("http://[::1]:80/a", True),
        ("urn:isbn:0451450523", True),
        ("a:", True),
        ("<string>", False),
        ("/relative/path", False),
        ("http://exa mple.com", False),
        ("http://[::1/", False),
        ("", False),
    ],
)
def test_uri_format(value: str, valid: bool) -> None:
    assert _is_uri(value) is valid


def test_validation_reads_the_packaged_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    import flux_flex.testing._validation as validation

    schema = validation.request_body_schema()
    schema["properties"]["steps"]["anyOf"][0]["maximum"] = 60
    validation._validator.cache_clear()
    monkeypatch.setattr(validation, "request_body_schema", lambda: schema)
    try:
        assert validate_submission({"prompt": "p", "steps": 55}) == []
    finally:
        monkeypatch.undo()
        validation._validator.cache_clear()
    assert validate_submission({"prompt": "p", "steps": 55}) != []


# -- width/height 0: the open question, both readings (docs/api-facts.md#width-and-height-0) ---
@pytest.fixture(scope="module")
def strict_api() -> Iterator[httpx.Client]:
    with (
        FakeBFL(task_seconds=0.01, deliver_webhooks=False, strict_dimensions=True) as fake,
        client_for(fake) as client,
    ):
        yield client


def _greater_than_equal_64(field: str) -> dict[str, object]:
    """What FastAPI (pydantic v2) answers for an explicit 0 against `minimum: 64`."""
    return {
        "type": "greater_than_equal",
        "loc": ["body", field],
        "msg": "Input should be greater than or equal to 64",
        "input": 0,
        "ctx": {"ge": 64},
    }


@pytest.mark.parametrize("field", ["width", "height"])
def test_strict_dimensions_refuse_an_explicit_0_as_fastapi_would(
    strict_api: httpx.Client, api: httpx.Client, field: str
) -> None:
    assert _detail(strict_api.post(SUBMIT, json={"prompt": "p", field: 0})) == [
        _greater_than_equal_64(field)
    ]
    assert api.post(SUBMIT, json={"prompt": "p", field: 0}).status_code == 200  # the default


def test_strict_dimensions_report_both_in_the_order_of_the_fields(
    strict_api: httpx.Client,
) -> None:
    # pydantic reports a body's errors in field order: width is declared before height.
    detail = _detail(strict_api.post(SUBMIT, json={"prompt": "p", "height": 0, "width": 0}))
    assert detail == [_greater_than_equal_64("width"), _greater_than_equal_64("height")]


@pytest.mark.parametrize(
    "body",
    [{}, {"width": None, "height": None}, {"width": 64, "height": 1024}, {"width": 512}],
)
def test_strict_dimensions_take_what_the_vendors_schema_takes(
    strict_api: httpx.Client, body: dict[str, object]
) -> None:
    assert strict_api.post(SUBMIT, json={"prompt": "p", **body}).status_code == 200


def test_strict_dimensions_change_only_width_and_height() -> None:
    bodies: list[object] = [
        {"prompt": "p", "width": 63},
        {"prompt": "p", "guidance": 10.5},
        {"prompt": "p", "user": ""},
        {"prompt": "p", "width": 1024, "height": 768, "steps": 50},
    ]
    for body in bodies:
        lenient = validate_submission(body)
        assert validate_submission(body, strict_dimensions=True) == lenient
