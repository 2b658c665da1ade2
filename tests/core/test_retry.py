"""Retry decisions: idempotency-aware, Retry-After honoured, budget respected."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from flux_flex import RetryPolicy
from flux_flex._core.retry import FailureKind, RetryDecision, decide, parse_retry_after

POLICY = RetryPolicy(max_retries=2, backoff_initial=0.5, backoff_factor=2.0, backoff_max=8.0)
RNG = random.Random(3)


def _decide(idempotent: bool, attempt: int = 0, **kw: object) -> tuple[bool, float]:
    d = decide(POLICY, idempotent=idempotent, attempt=attempt, rng=RNG, **kw)  # type: ignore[arg-type]
    return d.retry, d.delay


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_never_retried_on_5xx_but_get_is(status: int) -> None:
    assert _decide(False, status=status)[0] is False
    assert _decide(True, status=status)[0] is True


@pytest.mark.parametrize("kind", [FailureKind.TIMEOUT, FailureKind.NETWORK])
def test_post_not_retried_when_it_may_have_left(kind: FailureKind) -> None:
    assert _decide(False, failure=kind)[0] is False
    assert _decide(True, failure=kind)[0] is True


def test_connect_error_retried_for_post_and_get() -> None:
    assert _decide(False, failure=FailureKind.CONNECT)[0] is True
    assert _decide(True, failure=FailureKind.CONNECT)[0] is True


@pytest.mark.parametrize("idempotent", [True, False])
def test_429_retried_after_retry_after_seconds(idempotent: bool) -> None:
    assert _decide(idempotent, status=429, headers={"Retry-After": "1"}) == (True, 1.0)


def test_429_without_retry_after_backs_off() -> None:
    retry, delay = _decide(False, status=429, headers={})
    assert retry
    assert 0.25 <= delay <= 0.5


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_never_retried(status: int) -> None:
    assert _decide(True, status=status)[0] is False


def test_budget_is_respected() -> None:
    assert _decide(True, attempt=1, status=503)[0] is True
    assert _decide(True, attempt=2, status=503)[0] is False
    assert _decide(False, attempt=2, status=429)[0] is False


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_factor=2.0, backoff_max=3.0)
    rng = random.Random(0)
    assert 0.5 <= policy.backoff(0, rng) <= 1.0
    assert 1.0 <= policy.backoff(1, rng) <= 2.0
    assert 1.5 <= policy.backoff(5, rng) <= 3.0


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_longer_than_retry_after_max_is_not_waited_for(status: int) -> None:
    # Waiting less than the server asked would only earn another refusal: give up at once
    # (the error then carries the server's Retry-After).
    policy = RetryPolicy(retry_after_max=5)

    def after(value: str) -> RetryDecision:
        headers = {"retry-after": value}
        return decide(policy, idempotent=True, attempt=0, rng=RNG, status=status, headers=headers)

    assert after("99") == RetryDecision(retry=False)
    assert after("5") == RetryDecision(True, 5.0, retry_after=5.0)


def test_only_a_server_delay_is_marked_as_retry_after() -> None:
    backoff = decide(POLICY, idempotent=True, attempt=0, rng=RNG, status=503, headers={})
    assert backoff.retry
    assert backoff.retry_after is None


def test_a_broken_protocol_is_never_resent() -> None:
    # A redirect loop answers the same way every time.
    assert _decide(True, failure=FailureKind.PROTOCOL)[0] is False
    assert _decide(False, failure=FailureKind.PROTOCOL)[0] is False


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0  # past: at once
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_stays_at_its_cap_however_many_resends() -> None:
    # A huge retry budget must not overflow the exponential growth into an error.
    policy = RetryPolicy(max_retries=10_000, backoff_factor=10.0, backoff_max=8.0)
    rng = random.Random(0)
    delays = [policy.backoff(attempt, rng) for attempt in (0, 400, 5_000)]
    assert all(0 < delay <= 8.0 for delay in delays)
    assert delays[1] >= 4.0  # full jitter over the cap: at least half of it
