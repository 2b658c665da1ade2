"""When to poll next: guided by reported progress, by the statuses a task moves through and
by how long the client's earlier tasks took; backing off with jitter when nothing is known."""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import attrs

__all__ = ["PollPlanner", "PollSchedule", "TaskTimings", "TimingRecord", "normalize_progress"]

READY = "Ready"
SUBMITTED = "(submitted)"
"""Pseudo-status of every task at its submission (elapsed 0): the plain duration model."""

# The history needed before a status's timings are trusted, and how the window where a task
# is expected to finish is polled: at most this many polls across it (fewer if the window is
# wide: no closer than `dense_interval`), widened by this share of the expected duration
# (durations drift; a slightly wide window keeps the first poll before most finishes).
MIN_RECORDS = 3
WINDOW_POLLS = 4
WINDOW_SLACK = 0.1


@attrs.frozen
class PollSchedule:
    """How a wait spaces its polls. All times in seconds.

    Without better knowledge, the n-th delay (n from 0) is ``initial * backoff ** n`` capped
    at ``max_interval``, multiplied by a random factor in ``[1 - jitter, 1 + jitter]``.

    With ``use_progress``, once the API reports rising progress the next poll is placed just
    after the predicted finish (``progress_margin`` later), never earlier than
    ``min_interval`` nor later than ``max_interval`` from now.

    With ``learn``, a wait without a progress-based prediction uses the client's earlier
    waits (`TaskTimings`): how long tasks took after submission, and after they began each
    status (``Pending``, ``Reasoning``, ``Generating``...). It skips the polls before the
    earliest plausible finish (polling at least every ``max_interval`` still), polls the
    window where the finish is expected at most ``dense_interval`` apart, and backs off
    again from ``dense_interval`` once past it.
    """

    initial: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    backoff: float = attrs.field(default=1.5, validator=attrs.validators.ge(1))
    max_interval: float = attrs.field(default=4.0, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(
        default=0.1, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )
    use_progress: bool = True
    min_interval: float = attrs.field(default=0.05, validator=attrs.validators.ge(0))
    # No margin by default: a poll's answer reaches us a little after the server computed
    # it, so a prediction from it already falls just after the finish (see `next_delay`).
    progress_margin: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    learn: bool = True
    dense_interval: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))

    def scaled(self, factor: float) -> PollSchedule:
        """The same schedule with every time multiplied by ``factor`` (tests, benchmarks)."""
        return attrs.evolve(
            self,
            initial=self.initial * factor,
            max_interval=self.max_interval * factor,
            min_interval=self.min_interval * factor,
            progress_margin=self.progress_margin * factor,
            dense_interval=self.dense_interval * factor,
        )


def normalize_progress(value: float | None, *, percent: bool) -> float | None:
    """``value`` as a 0..1 fraction; ``percent`` says the task reports 0..100.

    None for anything that is not a finite number (a NaN or infinite progress is no news).
    """
    if value is None or not math.isfinite(value):
        return None
    fraction = value / 100.0 if percent else value
    return min(max(fraction, 0.0), 1.0)


class TimingRecord(NamedTuple):
    """One task that became ready, in seconds after its submission: when it finished (best
    estimate) and when each status it showed began (between the two polls around it)."""

    finished: float
    began: Mapping[str, float]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class TaskTimings:
    """How long a client's recent tasks took: shared by all its waits (and threads).

    Keeps the latest ``size`` records; tasks of one client tend to be alike (same model,
    similar parameters), so recent ones predict the next.
    """

    def __init__(self, size: int = 32) -> None:
        self._records: deque[TimingRecord] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, record: TimingRecord) -> None:
        """Remember one finished task (the oldest record goes once ``size`` are kept)."""
        with self._lock:
            self._records.append(record)

    def records(self) -> tuple[TimingRecord, ...]:
        """The records kept, oldest first."""
        with self._lock:
            return tuple(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def window(
        self, status: str, began: float, uncertainty: float = 0.0
    ) -> tuple[float, float] | None:
        """Elapsed seconds ``(low, high)`` within which a task that began ``status`` at
        ``began`` (give or take ``uncertainty``) should finish; None with too few records.

        Two readings of the history compete and the tighter one wins: the time left after
        the status began is the same for every task (a fixed-length last phase), or it grows
        in proportion to when the status began (phases that stretch with the task).
        """
        pairs = [(r.began[status], r.finished) for r in self.records() if status in r.began]
        if len(pairs) < MIN_RECORDS:
            return None
        readings = [([began + f - b for b, f in pairs], uncertainty)]
        if began > 0 and all(b > 0 for b, _ in pairs):
            ratios = [f / b for b, f in pairs]
            readings.append(([began * r for r in ratios], uncertainty * _quantile(ratios, 0.5)))
        best: tuple[float, float] | None = None
        for finishes, error in readings:
            low, high = _quantile(finishes, 0.1) - error, _quantile(finishes, 0.9) + error
            slack = WINDOW_SLACK * _quantile(finishes, 0.5)
            low, high = max(low - slack, 0.0), high + slack
            if best is None or high - low < best[1] - best[0]:
                best = (low, high)
        return best


class PollPlanner:
    """The schedule's state for one wait: feed it each poll's progress and status, ask for
    the next delay.

    Progress may be a fraction (0..1) or a percentage (0..100): once a value above 1 has
    been seen the task is taken to report percentages. The finish time is estimated from
    the rate between the first and the latest rising observation. With ``timings`` (the
    client's history) and the submission time, a task that becomes ``Ready`` is recorded,
    and a wait without a progress-based prediction is timed from the history.
    """

    # A plain class (not attrs): one is made per wait, and the module is on the import path
    # of `from flux_flex import FluxFlex`, where each attrs class costs ~0.5 ms to build.
    __slots__ = (
        "_began",
        "_expected",
        "_first",
        "_last",
        "_late",
        "_misses",
        "_percent",
        "_seen",
        "_submitted",
        "polls",
        "rng",
        "schedule",
        "timings",
    )

    def __init__(
        self,
        schedule: PollSchedule,
        rng: random.Random | None = None,
        timings: TaskTimings | None = None,
    ) -> None:
        self.schedule = schedule
        self.rng = rng if rng is not None else random.Random()
        self.timings = timings
        self.polls = 0
        self._percent = False
        self._first: tuple[float, float] | None = None  # (time, fraction) of the first poll
        self._last: tuple[float, float] | None = None
        self._expected: float | None = None  # when the task should be done, per the last prediction
        self._misses = 0  # prediction-timed polls that found the task still pending
        self._submitted: float | None = None
        self._seen = 0.0  # elapsed time of the latest poll
        self._began: dict[str, tuple[float, float]] = {}  # status -> elapsed bracket
        self._late = 0  # polls made after the whole expected window had passed

    def __repr__(self) -> str:
        return f"PollPlanner(schedule={self.schedule!r}, polls={self.polls})"

    def started_at(self, when: float) -> None:
        """The task was submitted at ``when``: progress 0 then (sharpens the first estimate),
        and the zero of the elapsed times the history is kept in."""
        if self._first is None:
            self._first = (when, 0.0)
        if self._submitted is None:
            self._submitted = when
            self._began[SUBMITTED] = (0.0, 0.0)

    def observe(self, now: float, progress: float | None, status: str | None = None) -> None:
        """Record one poll made at ``now`` that reported ``progress`` (None if absent) and
        ``status`` (None if unknown)."""
        self.polls += 1
        if self._submitted is not None and status is not None:
            elapsed = now - self._submitted
            if status not in self._began:
                self._began[status] = (min(self._seen, elapsed), elapsed)
            if status == READY:
                self._learn(elapsed)
            self._seen = elapsed
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

    def _learn(self, ready_seen: float) -> None:
        """Add this task to the history: it became ready after the previous poll (at
        ``_seen``) and by ``ready_seen``, both in seconds after the submission."""
        if self.timings is None or self._submitted is None or not self.schedule.learn:
            return
        # Progress the schedule is told to ignore must not sharpen the history either.
        predicted = self.predicted_ready_at() if self.schedule.use_progress else None
        if predicted is not None and self._seen <= predicted - self._submitted <= ready_seen:
            finished = predicted - self._submitted  # a rate-based estimate: the sharpest
        elif self._seen > 0:
            finished = (self._seen + ready_seen) / 2
        else:
            # Ready at the first poll: only a bound. Recorded as the bound, so a history that
            # overestimates is corrected (the window's slack then moves the first poll down).
            finished = ready_seen
        began = {
            status: (low + high) / 2
            for status, (low, high) in self._began.items()
            if status != READY
        }
        self.timings.add(TimingRecord(finished=finished, began=began))

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

    def expected_window(self) -> tuple[float, float] | None:
        """Clock times ``(low, high)`` within which the history says the task should finish,
        from the status that gives the tightest window; None without enough history."""
        if self.timings is None or self._submitted is None or not self.schedule.learn:
            return None
        best: tuple[float, float] | None = None
        for status, (low, high) in self._began.items():
            found = self.timings.window(status, (low + high) / 2, (high - low) / 2)
            if found is not None and (best is None or found[1] - found[0] < best[1] - best[0]):
                best = found
        if best is None:
            return None
        return (self._submitted + best[0], self._submitted + best[1])

    def first_delay(self, now: float) -> float:
        """Seconds from ``now`` to the first poll of a wait that started at the submission:
        ``initial`` after it, or later when the history puts the earliest finish later
        (but never more than ``max_interval`` after the submission)."""
        s = self.schedule
        if self._submitted is None:
            return 0.0
        first = self._submitted + s.initial
        window = self.expected_window()
        if window is not None:
            first = max(first, min(window[0], self._submitted + s.max_interval))
        return max(first - now, 0.0)

    def _jittered(self, delay: float) -> float:
        s = self.schedule
        return delay * (1.0 + self.rng.uniform(-s.jitter, s.jitter))

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next poll."""
        s = self.schedule
        step = max(self.polls - 1, 0)
        delay = self._jittered(min(s.initial * s.backoff**step, s.max_interval))
        ready_at = self.predicted_ready_at() if s.use_progress else None
        if ready_at is not None:
            # Poll just after the predicted finish: no useless polls before it, and no
            # waiting a whole backoff step after it. Each missed prediction (the task was
            # still pending when polled) doubles a floor, so a task whose progress stalls
            # near the end is never polled in a tight loop.
            if self._expected is not None and now >= self._expected:
                self._misses += 1
            predicted = ready_at + s.progress_margin - now
            floor = max(s.min_interval, s.progress_margin) * 2.0**self._misses
            delay = max(predicted, floor if self._misses else 0.0)
            # A poll timed by the prediction (not cut short by max_interval) that still
            # finds the task pending is a miss.
            self._expected = now + delay if delay <= s.max_interval else None
        else:
            window = self.expected_window()
            if window is not None:
                delay = self._delay_in_window(now, *window)
        return min(max(delay, s.min_interval), s.max_interval)

    def _delay_in_window(self, now: float, low: float, high: float) -> float:
        """Before the window: straight to its start. Inside: evenly spaced polls. Past it:
        the backoff again, from ``dense_interval``."""
        s = self.schedule
        if now < low:
            return low - now
        if now < high:
            spacing = min(max((high - low) / WINDOW_POLLS, s.min_interval), s.dense_interval)
            return self._jittered(spacing)
        self._late += 1
        return self._jittered(min(s.dense_interval * s.backoff**self._late, s.max_interval))

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
