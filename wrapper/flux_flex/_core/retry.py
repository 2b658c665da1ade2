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
    PROTOCOL = "protocol"  # the answer broke HTTP (e.g. a redirect loop): resending cannot help


@attrs.frozen
class RetryPolicy:
    """Retry budget and backoff. ``max_retries`` counts resends after the first attempt.

    The delay before resend n (from 0) is ``backoff_initial * backoff_factor ** n`` capped
    at ``backoff_max``, with full jitter; a ``Retry-After`` header wins when present. A
    ``Retry-After`` longer than ``retry_after_max`` is not waited for: the error is raised at
    once (it carries the server's ``retry_after``).
    """

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff_initial: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    backoff_max: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    retry_after_max: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Jittered delay before resend number ``attempt`` (0 for the first resend)."""
        try:
            grown = self.backoff_initial * self.backoff_factor**attempt
        except OverflowError:  # a huge max_retries: the delay has long reached its cap
            grown = self.backoff_max
        cap = min(grown, self.backoff_max)
        return cap * (0.5 + rng.random() / 2)


@attrs.frozen
class RetryDecision:
    """Resend after ``delay`` seconds, or give up (``retry`` false).

    ``retry_after``: the delay is the server's ``Retry-After`` (never resend sooner).
    """

    retry: bool
    delay: float = 0.0
    retry_after: float | None = None


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
        if failure is FailureKind.PROTOCOL:
            return GIVE_UP
        if failure is FailureKind.CONNECT or idempotent:
            return RetryDecision(True, policy.backoff(attempt, rng))
        return GIVE_UP
    if status is None:
        return GIVE_UP
    if status == 429:
        after = parse_retry_after(_header(headers or {}, "retry-after"))
        return _after_or_backoff(policy, after, attempt, rng)
    if idempotent and status >= 500:
        after = parse_retry_after(_header(headers or {}, "retry-after"))
        return _after_or_backoff(policy, after, attempt, rng)
    return GIVE_UP


def _after_or_backoff(
    policy: RetryPolicy, after: float | None, attempt: int, rng: random.Random
) -> RetryDecision:
    if after is None:
        return RetryDecision(True, policy.backoff(attempt, rng))
    if after > policy.retry_after_max:
        return GIVE_UP  # longer than we wait: fail now (the error carries the Retry-After)
    return RetryDecision(True, after, retry_after=after)
