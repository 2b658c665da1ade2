"""Which failures are safe to retry, and after how long (idempotency-aware)."""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

__all__ = ["FailureKind", "RetryDecision", "RetryPolicy", "parse_retry_after"]


class FailureKind(enum.Enum):
    """How a request failed below HTTP."""

    CONNECT = "connect"  # the connection was never made: the request provably never left
    TIMEOUT = "timeout"  # sent (maybe), but no answer in time
    NETWORK = "network"  # the link broke after the request may have left


@attrs.frozen
class RetryPolicy:
    """Retry budget and backoff. ``max_retries`` counts resends after the first attempt.

    The delay before resend n (from 0) is ``backoff_initial * backoff_factor ** n`` capped
    at ``backoff_max``, with full jitter; a ``Retry-After`` header wins when present (capped
    at ``retry_after_max``).
    """

    max_retries: int = attrs.field(default=4, validator=attrs.validators.ge(0))
    backoff_initial: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    backoff_max: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    retry_after_max: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Jittered delay before resend number ``attempt`` (0 for the first resend)."""
        cap = min(self.backoff_initial * self.backoff_factor**attempt, self.backoff_max)
        return cap * (0.5 + rng.random() / 2)


@attrs.frozen
class RetryDecision:
    """Resend after ``delay`` seconds, or give up (``retry`` false)."""

    retry: bool
    delay: float = 0.0


GIVE_UP = RetryDecision(retry=False)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date. None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def decide(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    attempt: int,
    rng: random.Random,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    failure: FailureKind | None = None,
) -> RetryDecision:
    """Whether to resend a request that got ``status`` (or failed with ``failure``).

    ``attempt`` counts resends so far. A POST (not idempotent, billed) is resent only on
    a connect error (it never left) or a 429 (the task was refused); a GET also on 5xx,
    timeouts and broken connections.
    """
    if attempt >= policy.max_retries:
        return GIVE_UP
    if failure is not None:
        if failure is FailureKind.CONNECT or idempotent:
            return RetryDecision(True, policy.backoff(attempt, rng))
        return GIVE_UP
    if status is None:
        return GIVE_UP
    if status == 429:
        after = parse_retry_after(_header(headers or {}, "retry-after"))
        if after is not None:
            return RetryDecision(True, min(after, policy.retry_after_max))
        return RetryDecision(True, policy.backoff(attempt, rng))
    if idempotent and status >= 500:
        after = parse_retry_after(_header(headers or {}, "retry-after"))
        if after is not None:
            return RetryDecision(True, min(after, policy.retry_after_max))
        return RetryDecision(True, policy.backoff(attempt, rng))
    return GIVE_UP
