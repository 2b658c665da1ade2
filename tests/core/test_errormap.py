"""Error answers → the right error class, with advice and without secrets."""

from __future__ import annotations

import pytest
from flux_flex import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    InsufficientCreditsError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
)
from flux_flex._core.errormap import connection_error, error_from_response
from flux_flex._core.retry import FailureKind


@pytest.mark.parametrize(
    ("status", "cls", "advice"),
    [
        (401, AuthenticationError, "BFL_API_KEY"),
        (403, PermissionDeniedError, "BFL_API_KEY"),
        (402, InsufficientCreditsError, "Add credits"),
        (429, RateLimitError, "retry"),
        (500, ServerError, "Try again"),
        (503, ServerError, "Try again"),
        (418, APIError, "Check"),
    ],
)
def test_status_maps_to_class_with_advice(status: int, cls: type[APIError], advice: str) -> None:
    error = error_from_response(status, {"detail": "nope"}, {"x-request-id": "r1"}, submit=False)
    assert type(error) is cls
    assert error.status_code == status
    assert error.request_id == "r1"
    assert advice in str(error)
    assert "nope" in str(error)


def test_a_403_is_still_caught_as_an_authentication_error() -> None:
    error = error_from_response(403, {"detail": "forbidden"}, {}, submit=True)
    assert isinstance(error, AuthenticationError)
    assert issubclass(PermissionDeniedError, AuthenticationError)
    assert PermissionDeniedError.__module__ == "flux_flex"


def test_both_error_body_shapes_are_read() -> None:
    error = error_from_response(402, {"error": "Payment", "message": "Top up"}, {}, submit=True)
    assert "Payment: Top up" in str(error)
    assert error.body == {"error": "Payment", "message": "Top up"}


def test_submit_5xx_says_a_task_may_exist() -> None:
    error = error_from_response(503, "down", {}, submit=True)
    assert isinstance(error, ServerError)
    assert error.task_may_exist
    assert "not resent" in str(error)
    assert "Check your recent tasks" in str(error)


def test_429_carries_retry_after() -> None:
    error = error_from_response(429, {}, {"Retry-After": "7"}, submit=True)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert "after 7 s" in str(error)


def test_422_lists_fields() -> None:
    body = {
        "detail": [
            {"loc": ["body", "width"], "msg": "must be >= 64", "type": "greater_than_equal"},
            {"loc": ["body", "input_image", 0], "msg": "bad", "type": "value_error"},
        ]
    }
    error = error_from_response(422, body, {}, submit=True)
    assert isinstance(error, RequestValidationError)
    assert error.fields == ["width", "input_image.0"]
    assert error.errors[0].rule == "greater_than_equal"
    assert "width: must be >= 64" in str(error)


def test_secrets_never_in_messages_or_headers() -> None:
    error = error_from_response(
        401,
        {"detail": "key sk-secret-123 is wrong"},
        {"x-key": "sk-secret-123"},
        submit=False,
        secrets=("sk-secret-123",),
    )
    assert "sk-secret-123" not in str(error)
    assert "sk-secret-123" not in repr(error.headers)


def test_connection_errors() -> None:
    never_left = connection_error(FailureKind.CONNECT, "refused", submit=True)
    assert type(never_left) is APIConnectionError
    assert not never_left.task_may_exist
    maybe = connection_error(FailureKind.TIMEOUT, "read timeout", submit=True)
    assert isinstance(maybe, APITimeoutError)
    assert maybe.task_may_exist
    assert "billed task may exist" in str(maybe)
    poll = connection_error(FailureKind.NETWORK, "reset", submit=False, task_id="t9")
    assert not poll.task_may_exist
    assert "t9" in str(poll)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "abc-123", "detail": "internal error"},
        '{"id": "abc-123", "detail": "internal err',  # cut off: parse_body left it as text
    ],
)
def test_an_error_answer_that_names_the_task_carries_its_id(body: object) -> None:
    error = error_from_response(502, body, {}, submit=True)
    assert isinstance(error, ServerError)
    assert error.task_id == "abc-123"
    assert error.task_may_exist
    assert "abc-123" in str(error)


def test_a_refused_connection_names_the_url_without_its_query() -> None:
    url = "https://user:pw@api.example.test:8443/v1/get_result?id=t1&sig=SIGNATURE"
    error = connection_error(FailureKind.CONNECT, "ConnectError: refused", submit=False, url=url)
    text = str(error)
    assert "Could not connect to https://api.example.test:8443/v1/get_result" in text
    assert "SIGNATURE" not in text
    assert "pw" not in text
    timeout = connection_error(FailureKind.TIMEOUT, "ReadTimeout", submit=True, url=url)
    assert "No answer in time from https://api.example.test:8443" in str(timeout)
    broke = connection_error(FailureKind.NETWORK, "reset", submit=True, url=url)
    assert "The connection to https://api.example.test:8443/v1/get_result broke" in str(broke)


def test_secrets_are_masked_in_body_headers_fields_and_message() -> None:
    key = "sk-secret-123456789"
    body = {"detail": [{"loc": ["body", key], "msg": f"bad {key}", "type": key}]}
    error = error_from_response(
        422, body, {"X-Echo": f"k={key}", "x-key": key}, submit=True, secrets=[key]
    )
    assert isinstance(error, RequestValidationError)
    everything = f"{error} {error!r} {error.body} {error.headers} {error.errors} {error.fields}"
    assert key not in everything
    assert error.headers["x-echo"] == "k=***"
    assert "x-key" not in error.headers
