"""The journal's pure rules: what events write, the failure classification, and the
fingerprint (every state × every event and every planning case: test_journal_machine.py)."""

from __future__ import annotations

from typing import Any

import pytest
from flux_flex._core import journal as rules
from flux_flex._core.journal import State
from flux_flex.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    InsufficientCreditsError,
    ModerationError,
    ProtocolError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    WaitTimeoutError,
)

S = State
EVENTS: dict[str, rules.Event] = {
    "Begin": rules.Begin(),
    "Accepted": rules.Accepted("t1", "https://api.bfl.ai/v1/get_result?id=t1", 5.0),
    "Refused": rules.Refused("HTTP 422", "RequestValidationError"),
    "Lost": rules.Lost("HTTP 502", "ServerError"),
    "Abandoned": rules.Abandoned(),
    "Ended": rules.Ended("moderated", "ModerationError"),
    "Stopped": rules.Stopped("timed out", "WaitTimeoutError"),
    "Saved": rules.Saved("/out/a.png", "https://cdn/x", 7, 5.24),
}


def test_what_each_event_writes() -> None:
    accepted = rules.apply(S.SUBMITTING, EVENTS["Accepted"]).values
    assert accepted["task_id"] == "t1"
    assert accepted["submit_cost"] == 5.0
    assert accepted["polling_url"].endswith("id=t1")
    assert accepted["error"] is None
    refused = rules.apply(S.SUBMITTING, EVENTS["Refused"]).values
    assert refused == {
        "error": "HTTP 422",
        "error_type": "RequestValidationError",
        "retryable": True,
    }
    ended = rules.apply(S.SUBMITTED, EVENTS["Ended"]).values
    assert ended["retryable"] is False  # a billed task ended: a retry pays again
    lost = rules.apply(S.SUBMITTING, EVENTS["Lost"]).values
    assert lost["error"] == "HTTP 502"
    saved = rules.apply(S.SUBMITTED, EVENTS["Saved"]).values
    assert saved["path"] == "/out/a.png"
    assert (saved["seed"], saved["cost"], saved["error"]) == (7, 5.24, None)
    begin = rules.apply(S.FAILED, rules.Begin()).values
    assert begin["error"] is None
    assert begin["task_id"] is None
    assert rules.apply(S.SUBMITTING, rules.Abandoned()).values == {}


def test_errors_are_bounded() -> None:
    change = rules.apply(S.SUBMITTED, rules.Stopped("x" * 10_000, "E"))
    assert len(change.values["error"]) == rules.MAX_ERROR_CHARS


def test_an_unknown_event_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        rules.apply(None, "Begin")  # type: ignore[arg-type]


# -- plan -------------------------------------------------------------------------------------


# -- what happened, as events ------------------------------------------------------------------

SUBMIT_CASES: list[tuple[BaseException, type[Any]]] = [
    (RequestValidationError("422", status_code=422), rules.Refused),
    (RateLimitError("429", status_code=429, retry_after=3), rules.Refused),
    (AuthenticationError("401", status_code=401), rules.Refused),
    (AuthenticationError("403", status_code=403), rules.Refused),
    (InsufficientCreditsError("402", status_code=402), rules.Refused),
    (APIConnectionError("connect refused", task_may_exist=False), rules.Refused),
    (ConfigurationError("bad host"), rules.Refused),
    (ServerError("502", status_code=502, task_may_exist=True), rules.Lost),
    (ServerError("500 said no task", status_code=500), rules.Lost),  # 5xx: cannot be sure
    (APIConnectionError("reset after sending", task_may_exist=True), rules.Lost),
    (APITimeoutError("no answer", task_may_exist=True), rules.Lost),
    (ProtocolError("200 but not JSON"), rules.Lost),
    (RuntimeError("a bug"), rules.Lost),  # anything unexpected: may have left
    (ProtocolError("truncated ack", task_id="t9"), rules.Accepted),
    (ServerError("502 with an id", status_code=502, task_id="t8"), rules.Accepted),
]


@pytest.mark.parametrize(("error", "kind"), SUBMIT_CASES, ids=lambda v: type(v).__name__)
def test_submit_failures(error: BaseException, kind: type[Any]) -> None:
    event = rules.submit_failure(error)
    assert type(event) is kind
    if isinstance(event, rules.Accepted):
        assert event.task_id == error.task_id  # type: ignore[attr-defined]
    else:
        assert event.error_type == type(error).__name__
        assert str(error) in event.error


WAIT_CASES: list[tuple[BaseException, type[Any]]] = [
    (ModerationError("moderated", task_id="t", status="Content Moderated"), rules.Ended),
    (TaskFailedError("Error", task_id="t", status="Error"), rules.Ended),
    (TaskNotFoundError("gone", task_id="t", status="Task not found"), rules.Ended),
    (DownloadError("expired", task_id="t", status_code=403), rules.Ended),
    (DownloadError("expired", task_id="t", status_code=410), rules.Ended),
    (DownloadError("broke", task_id="t"), rules.Stopped),
    (DownloadError("5xx", task_id="t", status_code=503), rules.Stopped),
    (WaitTimeoutError("slow", task_id="t", waited=1.0), rules.Stopped),
    (ServerError("poll 500", status_code=500), rules.Stopped),
    (APIConnectionError("poll broke"), rules.Stopped),
    (OSError(28, "No space left on device"), rules.Stopped),
    (ConfigurationError("untrusted polling host"), rules.Stopped),
]


@pytest.mark.parametrize(("error", "kind"), WAIT_CASES, ids=lambda v: type(v).__name__)
def test_wait_failures(error: BaseException, kind: type[Any]) -> None:
    event = rules.wait_failure(error)
    assert type(event) is kind
    assert event.error_type == type(error).__name__


def test_gone_and_expired_say_so() -> None:
    gone = rules.wait_failure(TaskNotFoundError("x", task_id="t", status="Task not found"))
    assert "no longer knows" in gone.error
    expired = rules.wait_failure(DownloadError("x", task_id="t", status_code=404))
    assert "expired" in expired.error


# -- fingerprint -------------------------------------------------------------------------------

BODY = {"prompt": "a fox", "seed": 7, "width": 1024, "input_image": "QUJD" * 100}


def test_fingerprint_is_stable_and_order_free() -> None:
    first = rules.fingerprint(BODY, "/out/a.png")
    assert first == rules.fingerprint(dict(reversed(list(BODY.items()))), "/out/a.png")
    assert len(first) == 64


@pytest.mark.parametrize(
    ("body", "destination", "occurrence"),
    [
        ({**BODY, "seed": 8}, "/out/a.png", 0),
        ({**BODY, "input_image": "QUJE" * 100}, "/out/a.png", 0),  # other image content
        ({**BODY, "webhook_url": "https://hook"}, "/out/a.png", 0),
        (BODY, "/out/b.png", 0),
        (BODY, None, 0),
        (BODY, "/out/a.png", 1),  # the second identical request of a batch
    ],
)
def test_fingerprint_changes_with_what_matters(
    body: dict[str, Any], destination: str | None, occurrence: int
) -> None:
    assert rules.fingerprint(body, destination, occurrence) != rules.fingerprint(BODY, "/out/a.png")


def test_fingerprint_ignores_the_webhook_secret() -> None:
    with_secret = {**BODY, "webhook_secret": "s3cr3t-one"}
    other_secret = {**BODY, "webhook_secret": "another"}
    assert rules.fingerprint(with_secret, None) == rules.fingerprint(other_secret, None)
    assert rules.fingerprint(with_secret, None) == rules.fingerprint(BODY, None)
