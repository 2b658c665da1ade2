"""The core's RFC 3986 check agrees with rfc3986-validator (jsonschema's `format: uri`)."""

from __future__ import annotations

import pytest
from flux_flex._core.uri import is_uri
from flux_flex._core.validation import body_errors
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc3986_validator import validate_rfc3986

_CHARS = list("htps:/[]@%?#.-_~!$&'()*+,;=aAzZ09\\\"<>{}|^` é")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com/hook", True),
        ("http://[::1]:8080/x", True),
        ("http://[v1.x]/", True),
        ("urn:isbn:123", True),
        ("https://h.example/%20?q=1#f", True),
        ("http://[::1/hook", False),
        ("https://[", False),
        ("http://[1:2:3:4:5:6:7:8:9]/", False),
        ("https://h.example/%zz", False),
        ("http://x y", False),
        ("https://x\n", False),  # rfc3986-validator's `$` lets a final newline through
        ("<string>", False),  # the endpoint page's own example value
    ],
)
def test_known_values(value: str, expected: bool) -> None:
    assert is_uri(value) is expected


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from(_CHARS), max_size=24))
def test_agrees_with_rfc3986_validator(tail: str) -> None:
    for value in ("https://" + tail, "https://h.example/" + tail, tail):
        expected = bool(validate_rfc3986(value)) and not value.endswith("\n")
        assert is_uri(value) is expected, value


@pytest.mark.parametrize("url", ["https://[", "http://[::1/hook", "https://]x[/"])
def test_body_errors_never_raise_on_odd_webhook_urls(url: str) -> None:
    fields = [error.field for error in body_errors({"prompt": "p", "webhook_url": url})]
    assert fields == ["webhook_url"]
