"""The one masking rule: secrets out of any text or JSON-like value; URLs fit for logs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from flux_flex import FieldError, ProtocolError, RequestValidationError
from flux_flex._core.redact import (
    MASK,
    MIN_FRAGMENT,
    mask_error,
    mask_secrets,
    masked_flow,
    safe_url,
)
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = "sk-live-0123456789abcdef"
SECRET = 'whsec/"odd" secret+é'


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        SECRET,
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        quote(SECRET, safe=""),
        quote_plus(SECRET, safe=""),
    ],
    ids=["key", "raw", "json-ascii", "json-utf8", "url", "url-plus"],
)
def test_every_encoding_of_a_secret_is_masked(form: str) -> None:
    text = f"before {form} after"
    masked = mask_secrets(text, [KEY, SECRET])
    assert masked == f"before {MASK} after"


def test_nested_values_and_keys_are_masked_into_new_objects() -> None:
    value = {
        "detail": [{"msg": f"bad key {KEY}", "loc": ["body", KEY]}],
        KEY: (1, f"x{SECRET}y"),
        "n": 3,
        "raw": KEY.encode(),
    }
    masked = mask_secrets(value, [KEY, SECRET])
    assert masked == {
        "detail": [{"msg": f"bad key {MASK}", "loc": ["body", MASK]}],
        MASK: (1, f"x{MASK}y"),
        "n": 3,
        "raw": MASK.encode(),
    }
    assert value["detail"][0]["msg"].endswith(KEY)  # the original is left alone


def test_a_run_of_the_secret_is_masked_a_short_hint_is_not() -> None:
    truncated = KEY[:MIN_FRAGMENT]
    assert mask_secrets(f"key {truncated}…", [KEY]) == f"key {MASK}…"
    middle = KEY[5:17]
    assert mask_secrets(f"[{middle}]", [KEY]) == f"[{MASK}]"
    hint = KEY[: MIN_FRAGMENT - 1]
    assert mask_secrets(f"key {hint}…", [KEY]) == f"key {hint}…"


def test_short_and_missing_secrets_mask_nothing() -> None:
    assert mask_secrets("abc abc", ["abc", None, ""]) == "abc abc"
    value = {"a": [1]}
    assert mask_secrets(value, []) is value


def test_attrs_instances_are_masked_field_by_field() -> None:
    error = FieldError("webhook_url", "format", f"webhook_url: bad {KEY}")
    assert mask_secrets(error, [KEY]) == FieldError(
        "webhook_url", "format", f"webhook_url: bad {MASK}"
    )


def test_mask_error_reaches_message_attributes_and_causes() -> None:
    cause = ProtocolError(f"cause {KEY}", raw={"k": KEY})
    error = RequestValidationError(
        f"refused {KEY}",
        errors=[FieldError("x", "r", f"x: {KEY}")],
        body={"detail": KEY},
        headers={"x-echo": KEY},
    )
    error.__cause__ = cause
    mask_error(error, [KEY])
    for exc in (error, cause):
        assert KEY not in f"{exc} {exc!r} {exc.args} {vars(exc)}"
    assert error.errors[0].message == f"x: {MASK}"
    assert error.headers == {"x-echo": MASK}
    assert cause.raw == {"k": MASK}


def test_masked_flow_masks_what_the_flow_raises_and_passes_the_rest() -> None:
    def flow() -> Any:
        answer = yield "first"
        assert answer == "answered"
        raise ProtocolError(f"leak {KEY}", raw=KEY)

    wrapped = masked_flow(flow(), [KEY])
    assert next(wrapped) == "first"
    with pytest.raises(ProtocolError) as caught:
        wrapped.send("answered")
    assert KEY not in str(caught.value)
    assert caught.value.raw == MASK

    def returns() -> Any:
        yield None
        return 42

    done = masked_flow(returns(), [KEY])
    next(done)
    with pytest.raises(StopIteration) as stop:
        done.send(None)
    assert stop.value.value == 42


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://u:p@api.bfl.ai:8443/v1/get_result?id=a&sig=s",
            "https://api.bfl.ai:8443/v1/get_result",
        ),
        ("http://127.0.0.1:9/v1/flux-2-flex", "http://127.0.0.1:9/v1/flux-2-flex"),
        ("https://[::1]:8080/x#frag", "https://[::1]:8080/x"),
        ("https://[", "<unparsable URL>"),
    ],
)
def test_safe_url_drops_query_and_user_info(url: str, shown: str) -> None:
    assert safe_url(url) == shown


_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)
_SECRETS = st.text(st.characters(codec="utf-8"), min_size=4, max_size=40)


@settings(max_examples=200, deadline=None, database=None)
@given(_SECRETS, _TEXT, _TEXT, st.sampled_from(["raw", "json", "url", "plus"]))
def test_no_planted_secret_survives_in_any_form(
    secret: str, before: str, after: str, form: str
) -> None:
    planted = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "url": quote(secret, safe=""),
        "plus": quote_plus(secret, safe=""),
    }[form]
    masked = mask_secrets([f"{before}{planted}{after}", {planted: planted}], [secret])
    for text in _strings(masked):
        assert secret not in text
        assert planted not in text


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []
