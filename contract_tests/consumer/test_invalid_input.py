"""Item 3: what the spec refuses, the wrapper refuses first, naming the field; nothing is sent."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
import respx
from flux_flex.errors import RequestValidationError
from flux_flex.spec import load_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.harness import SUBMIT_URL, accepted, wrapper
from contract_tests.consumer.strategies import (
    IMAGE_FIELDS,
    body_to_submit_kwargs,
    bounded_fields,
    invalid_request_bodies,
    invalid_values,
    request_schema,
    request_validator,
    wrapper_request_bodies,
)

SCALAR_FIELDS = [name for name in bounded_fields() if name not in IMAGE_FIELDS]
CASES = [(name, value) for name in SCALAR_FIELDS for value in invalid_values(name)]


def test_the_edges_come_from_the_spec() -> None:
    # Guards CASES: each bound the spec states yields a value just past it.
    names = {name for name, _ in CASES}
    assert {"width", "height", "guidance", "steps", "safety_tolerance", "webhook_url"} <= names
    assert {"user", "output_format"} <= names  # the vendor's 2026-09 fields
    assert ("user", "") in CASES  # one character too short
    assert any(name == "user" and len(str(value)) == 257 for name, value in CASES)
    assert ("output_format", "webp") not in CASES
    assert ("steps", 51) in CASES
    assert ("safety_tolerance", 6) in CASES
    assert ("width", 63) in CASES


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r:.30}" for n, v in CASES])
def test_each_invalid_value_is_refused_before_sending(name: str, value: Any) -> None:
    count("invalid input: spec edge or wrong type per field")
    with respx.mock(assert_all_called=False) as router, wrapper() as client:
        route = router.route().respond(200, json=accepted())
        kwargs: dict[str, Any] = {"prompt": "p", name: value}
        with pytest.raises(RequestValidationError) as caught:
            client.submit(**kwargs)
    assert route.call_count == 0, "an invalid request was sent"
    assert name in caught.value.fields
    assert name in str(caught.value)
    assert caught.value.status_code is None


@pytest.mark.parametrize("n", [9, 12])
def test_too_many_images_are_refused(n: int) -> None:
    count("invalid input: too many images")
    with respx.mock(assert_all_called=False) as router, wrapper() as client:
        route = router.route().respond(200, json=accepted())
        with pytest.raises(RequestValidationError) as caught:
            client.submit("p", input_images=[f"https://img.example/{i}.png" for i in range(n)])
    assert route.call_count == 0
    assert any("input_image" in field for field in caught.value.fields)


@pytest.mark.parametrize(
    "url",
    [
        "<string>",
        "",
        "not a url",
        "ftp://files.example/hook",
        "https://",
        "https:///path-without-host",
        "https://hook.example/" + "x" * 2070,
    ],
)
def test_bad_webhook_urls_are_refused(url: str) -> None:
    count("invalid input: bad webhook URL")
    with respx.mock(assert_all_called=False) as router, wrapper() as client:
        route = router.route().respond(200, json=accepted())
        with pytest.raises(RequestValidationError) as caught:
            client.submit("p", webhook_url=url)
    assert route.call_count == 0
    assert caught.value.fields == ["webhook_url"]


# Found by this suite: the client's URI check was looser than the spec's `format: uri`
# (RFC 3986) and `urlsplit` raised a bare ValueError on unbalanced brackets. Fixed in
# wrapper/flux_flex/_core/uri.py; these two tests keep it fixed.
@pytest.mark.parametrize("url", ["https://[", "https://]x[/", "http://[::1/hook"])
def test_a_malformed_webhook_url_is_refused_not_crashing(url: str) -> None:
    count("invalid input: malformed webhook URL (brackets)")
    with respx.mock(assert_all_called=False) as router, wrapper() as client:
        route = router.route().respond(200, json=accepted())
        with pytest.raises(RequestValidationError) as caught:
            client.submit("p", webhook_url=url)
    assert caught.value.fields == ["webhook_url"]
    assert route.call_count == 0


_URL_CHARS = [*"htps:/[]@%?#.-_~!$&'()*+,;=aAzZ09\\\"<>{}|^`", "é"]
_NEAR_URLS = st.one_of(
    st.text(st.sampled_from(_URL_CHARS), max_size=24).map(lambda s: "https://" + s),
    st.text(st.sampled_from(_URL_CHARS), max_size=24).map(lambda s: "https://h.example/" + s),
)


def test_the_wrapper_never_sends_a_webhook_url_the_spec_refuses() -> None:
    with respx.mock(assert_all_called=False) as router, wrapper() as client:
        route = router.post(SUBMIT_URL).respond(200, json=accepted())

        @settings(CONTRACT_SETTINGS, max_examples=200)
        @given(_NEAR_URLS)
        def check(url: str) -> None:
            count("invalid input: near-URL webhook strings")
            route.reset()
            spec_says_valid = request_validator().is_valid({"prompt": "p", "webhook_url": url})
            with contextlib.suppress(RequestValidationError):
                client.submit("p", webhook_url=url)
            if route.call_count:
                assert spec_says_valid, f"sent webhook_url={url!r}, which the spec refuses"

        check()


def test_unreadable_image_file_is_refused(tmp_path: Any) -> None:
    count("invalid input: unreadable image file")
    with respx.mock(assert_all_called=False) as router, wrapper() as client:
        route = router.route().respond(200, json=accepted())
        with pytest.raises(RequestValidationError) as caught:
            client.submit("p", input_images=[tmp_path / "missing.png"])
    assert route.call_count == 0
    assert any("input_image" in field for field in caught.value.fields)


def _agreement_bodies() -> st.SearchStrategy[tuple[dict[str, Any], str | None]]:
    valid = wrapper_request_bodies().map(lambda b: (b, None))
    return st.one_of(valid, invalid_request_bodies())


def test_local_validator_agrees_with_jsonschema() -> None:
    # The wrapper's check and Draft 2020-12 (format checker on) say the same of every body:
    # sent exactly when the spec's schema accepts it, refused naming the field otherwise.
    with (
        respx.mock(assert_all_called=False) as router,
        httpx.Client() as http,
        wrapper(http) as client,
    ):
        route = router.post(SUBMIT_URL).respond(200, json=accepted())

        @settings(CONTRACT_SETTINGS, max_examples=200)
        @given(_agreement_bodies())
        def check(case: tuple[dict[str, Any], str | None]) -> None:
            body, broken = case
            count("invalid input: validator agreement (valid and invalid bodies)")
            route.reset()
            spec_says_valid = request_validator().is_valid(body)
            assert spec_says_valid == (broken is None)
            refused: RequestValidationError | None = None
            try:
                client.submit(**body_to_submit_kwargs(body))
            except RequestValidationError as exc:
                refused = exc
            if refused is not None:
                assert not spec_says_valid, f"refused a body the spec accepts: {refused}"
                assert broken in refused.fields
                assert route.call_count == 0
            else:
                assert spec_says_valid, f"sent a body the spec refuses (field {broken})"
                assert route.call_count == 1

        check()


def _schemathesis_negative_bodies() -> st.SearchStrategy[Any]:
    from schemathesis import openapi
    from schemathesis.generation import GenerationMode

    operation = openapi.from_dict(load_spec())["/v1/flux-2-flex"]["POST"]
    return operation.as_strategy(generation_mode=GenerationMode.NEGATIVE).map(
        lambda case: case.body
    )


_WRAPPER_FIELDS = set(request_schema()["properties"])


def _as_wrapper_body(body: Any) -> dict[str, Any] | None:
    """``body`` if keyword arguments can say it (known keys, no nulls, images packed from
    ``input_image`` on), its image strings made URLs (the wrapper reads other strings as
    files or base64, a rule of its own); else None."""
    if not isinstance(body, dict) or "prompt" not in body or not set(body) <= _WRAPPER_FIELDS:
        return None
    if any(value is None for value in body.values()):
        return None
    present = [name in body for name in IMAGE_FIELDS]
    if present != sorted(present, reverse=True):
        return None
    return {
        k: (f"https://img.example/{i}.png" if k in IMAGE_FIELDS and isinstance(v, str) else v)
        for i, (k, v) in enumerate(body.items())
    }


def _family(field: str) -> str:
    # input_images / input_image_3: the wrapper takes a list, so any image field will do.
    return "input_image" if field.startswith("input_image") else field


def _expressible_negative_bodies() -> st.SearchStrategy[dict[str, Any]]:
    bodies = _schemathesis_negative_bodies().map(_as_wrapper_body)
    return bodies.filter(lambda b: b is not None)  # type: ignore[return-value]


def _spec_complaints(body: dict[str, Any]) -> set[str]:
    fields = set()
    for error in request_validator().iter_errors(body):
        fields.add(str(error.path[0]) if error.path else "prompt")
    return fields


def test_schemathesis_negative_bodies_get_the_same_verdict() -> None:
    # schemathesis' own generation (its negative mode breaks the schema on purpose; about a
    # third of what it draws stays valid): the wrapper refuses exactly what the spec refuses,
    # naming one of the fields the spec complains about, and sends the rest.
    with (
        respx.mock(assert_all_called=False) as router,
        httpx.Client() as http,
        wrapper(http) as client,
    ):
        route = router.post(SUBMIT_URL).respond(200, json=accepted())

        @settings(CONTRACT_SETTINGS, max_examples=80)
        @given(
            _schemathesis_negative_bodies().map(_as_wrapper_body).filter(lambda b: b is not None)
        )
        def check(body: dict[str, Any]) -> None:
            count("invalid input: schemathesis negative bodies, same verdict")
            route.reset()
            complaints = _spec_complaints(body)
            refused: RequestValidationError | None = None
            try:
                client.submit(**body_to_submit_kwargs(body))
            except RequestValidationError as exc:
                refused = exc
            if complaints:
                assert refused is not None, f"sent a body the spec refuses ({complaints})"
                assert route.call_count == 0
                named = {
                    f if not f.startswith("input_image") else "input_image" for f in refused.fields
                }
                wanted = {
                    f if not f.startswith("input_image") else "input_image" for f in complaints
                }
                assert named & wanted, (refused.fields, complaints)
            elif refused is not None:
                # The wrapper's one rule beyond the spec: webhooks go to http(s) URLs.
                assert refused.fields == ["webhook_url"], refused
                assert not str(body["webhook_url"]).lower().startswith(("http://", "https://"))
            else:
                assert route.call_count == 1

        check()
