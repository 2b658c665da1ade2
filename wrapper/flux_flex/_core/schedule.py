"""When to poll next: fast at first, backing off with jitter, guided by reported progress."""

from __future__ import annotations

import math
import random

import attrs

__all__ = ["PollPlanner", "PollSchedule", "normalize_progress"]


@attrs.frozen
class PollSchedule:
    """How a wait spaces its polls. All times in seconds.

    The n-th delay (n from 0) is ``initial * backoff ** n`` capped at ``max_interval``,
    multiplied by a random factor in ``[1 - jitter, 1 + jitter]``. With ``use_progress``,
    once the API reports rising progress the next poll is placed just after the predicted
    finish (``progress_margin`` later), never earlier than ``min_interval`` nor later than
    ``max_interval`` from now.
    """

    initial: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    backoff: float = attrs.field(default=1.5, validator=attrs.validators.ge(1))
    max_interval: float = attrs.field(default=4.0, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(
        default=0.1, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )
    use_progress: bool = True
    min_interval: float = attrs.field(default=0.05, validator=attrs.validators.ge(0))
    progress_margin: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))

    def scaled(self, factor: float) -> PollSchedule:
        """The same schedule with every time multiplied by ``factor`` (tests, benchmarks)."""
        return attrs.evolve(
            self,
            initial=self.initial * factor,
            max_interval=self.max_interval * factor,
            min_interval=self.min_interval * factor,
            progress_margin=self.progress_margin * factor,
        )


def normalize_progress(value: float | None, *, percent: bool) -> float | None:
    """``value`` as a 0..1 fraction; ``percent`` says the task reports 0..100.

    None for anything that is not a finite number (a NaN or infinite progress is no news).
    """
    if value is None or not math.isfinite(value):
        return None
    fraction = value / 100.0 if percent else value
    return min(max(fraction, 0.0), 1.0)


@attrs.define
class PollPlanner:
    """The schedule's state for one wait: feed it each poll's progress, ask for the next delay.

    Progress may be a fraction (0..1) or a percentage (0..100): once a value above 1 has
    been seen the task is taken to report percentages. The finish time is estimated from
    the rate between the first and the latest rising observation.
    """

    schedule: PollSchedule
    rng: random.Random = attrs.field(factory=random.Random)
    polls: int = 0
    _percent: bool = False
    _first: tuple[float, float] | None = None  # (time, fraction) of the first observation
    _last: tuple[float, float] | None = None
    _expected: float | None = None  # when the task should be done, per the last prediction
    _misses: int = 0  # prediction-timed polls that found the task still pending

    def started_at(self, when: float) -> None:
        """The task was submitted at ``when``: progress 0 then (sharpens the first estimate)."""
        if self._first is None:
            self._first = (when, 0.0)

    def observe(self, now: float, progress: float | None) -> None:
        """Record one poll made at ``now`` that reported ``progress`` (None if absent)."""
        self.polls += 1
        if progress is None or progress != progress or progress < 0:  # None, NaN, negative
            return
        if progress > 1.0 and not self._percent:
            # Switching scale: earlier observations were percentages too (values <= 1 %).
            self._percent = True
            if self._first is not None:
                self._first = (self._first[0], self._first[1] / 100.0)
            if self._last is not None:
                self._last = (self._last[0], self._last[1] / 100.0)
        fraction = normalize_progress(progress, percent=self._percent)
        assert fraction is not None
        if self._first is None or fraction < self._first[1]:
            self._first = (now, fraction)
        self._last = (now, fraction)

    @property
    def reports_percent(self) -> bool:
        """True once the task has reported progress above 1 (a 0..100 percentage)."""
        return self._percent

    def predicted_ready_at(self) -> float | None:
        """Estimated time the task finishes, from the progress rate; None when unknown."""
        if self._first is None or self._last is None:
            return None
        (t0, p0), (t1, p1) = self._first, self._last
        if p1 >= 1.0:
            return t1
        if t1 <= t0 or p1 <= p0:
            return None
        rate = (p1 - p0) / (t1 - t0)
        return t1 + (1.0 - p1) / rate

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next poll."""
        s = self.schedule
        step = max(self.polls - 1, 0)
        base = min(s.initial * s.backoff**step, s.max_interval)
        delay = base * (1.0 + self.rng.uniform(-s.jitter, s.jitter))
        ready_at = self.predicted_ready_at() if s.use_progress else None
        if ready_at is not None:
            # Poll just after the predicted finish: no useless polls before it, and no
            # waiting a whole backoff step after it. Each missed prediction (the task was
            # still pending when polled) raises a floor that backs off like the schedule,
            # so a task whose progress stalls near the end is never polled in a tight loop.
            if self._expected is not None and now >= self._expected:
                self._misses += 1
            predicted = ready_at + s.progress_margin - now
            floor = s.initial * s.backoff ** (self._misses - 1) if self._misses else 0.0
            delay = max(predicted, floor)
            # A poll timed by the prediction (not cut short by max_interval) that still
            # finds the task pending is a miss.
            self._expected = now + delay if delay <= s.max_interval else None
        return min(max(delay, s.min_interval), s.max_interval)

    def next_delay_with_webhook(self, now: float, grace: float) -> float:
        """Seconds to wait on the webhook delivery before the next (fallback) poll.

        The delivery comes right after the task is ready, so polling before then is waste:
        with a predicted finish, wait until ``grace`` s past it; without one, space the polls
        at least ``grace`` s apart. A lost delivery then costs at most ``grace`` s of delay.
        """
        ready_at = self.predicted_ready_at() if self.schedule.use_progress else None
        if ready_at is not None:
            return max(ready_at + grace - now, self.schedule.min_interval, grace / 2)
        return max(self.next_delay(now), grace)
