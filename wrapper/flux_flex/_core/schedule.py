"""When to poll next: guided by reported progress, by the statuses a task moves through and
by how long the client's earlier tasks took; backing off with jitter when nothing is known."""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

__all__ = [
    "Model",
    "PollPlanner",
    "PollSchedule",
    "Reading",
    "TaskTimings",
    "TimingRecord",
    "normalize_progress",
    "records_from_json",
    "records_to_json",
]

READY = "Ready"
SUBMITTED = "(submitted)"
"""Pseudo-status of every task at its submission (elapsed 0): the plain duration model."""

# How the history is read (see `_fit`): a model needs MIN_RECORDS tasks; it is taken as exact
# (the same for every task) only from EXACT_RECORDS on, when all but EXACT_OUTLIERS of the
# records agree on one value (within EXACT_TOLERANCE of it, for timing noise); otherwise
# it spans the SPREAD_Q..1-SPREAD_Q quantiles of what the records say.
MIN_RECORDS = 3
EXACT_RECORDS = 8
EXACT_OUTLIERS = 0.05
EXACT_TOLERANCE = 0.02
SPREAD_Q = 0.1
# How a wait uses it (see `PollPlanner._planned`): the window of expected finishes is
# widened by WINDOW_SLACK of its far end (clocks and the network blur every bracket a
# little); a poll that halves it must save CUT_GAIN dense intervals of it (polling a
# window costs about one poll per two of them); the rest is polled on a grid that reaches
# dense_interval for windows GRID_K of them wide; with progress, the first poll comes
# PROGRESS_LEAD of the time to the window earlier (so the rate it reads can still time
# the next poll).
WINDOW_SLACK = 0.02
CUT_GAIN = 4.0
GRID_K = 8.0
PROGRESS_LEAD = 0.1
# Without a prediction or a history (a fresh process, no progress): the first poll comes
# `initial` after the submission (a task that is ready at once), the next COLD_SKIP dense
# intervals after it, then one every dense_interval, as that loop does, for COLD_POLLS
# polls; a task that outlasts them is backed off from dense_interval. The skip is a bet:
# FLEX tasks take several seconds (FACTS gives no figure; the benchmarks model 2-30 s), so a
# 1 s loop's first polls mostly find Pending. A task done between `initial` and 3 s is
# known up to 2 s later than that loop would know it.
COLD_SKIP = 3.0
COLD_POLLS = 40
# Exponents are capped so that ``backoff ** n`` never overflows a float (after ~1,750
# polls at 1.5); any cap past the point where the delay reaches ``max_interval`` is the same.
MAX_EXPONENT = 64


@attrs.frozen
class PollSchedule:
    """How a wait spaces its polls. All times in seconds.

    Without better knowledge (a fresh process, no progress), the first poll comes
    ``initial`` after the submission, the second 3 ``dense_interval`` after it, then one
    every ``dense_interval`` (a fixed 1 s loop, without its first useless polls) for 40
    polls (kept up when the history learns meanwhile a window this task has already
    outlasted); after that the delay backs off from ``dense_interval``: multiplied by
    ``backoff`` at each poll, capped at ``max_interval``, and by a random factor in
    ``[1 - jitter, 1 + jitter]``.

    With ``use_progress``, once the API reports rising progress the next poll is placed just
    after the predicted finish (``progress_margin`` later), never earlier than
    ``min_interval`` nor later than ``max_interval`` from now.

    With ``learn``, a wait without a progress-based prediction uses the client's earlier
    waits (`TaskTimings`): how long tasks took after submission, and after they began each
    status (``Pending``, ``Reasoning``, ``Generating``...), read both as a fixed time left
    and as a share of the task, whichever the history bears out. It skips the polls before
    the earliest plausible finish (polling at least every ``max_interval`` still), places
    a poll where the next status would begin if the task finished mid-window (its answer
    halves a wide window), polls a narrow window at most ``dense_interval`` apart, and backs
    off again from ``dense_interval`` once past it.

    ``min_interval`` may not exceed ``max_interval``: every delay lies between the two.
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

    def __attrs_post_init__(self) -> None:
        for name in ("initial", "backoff", "max_interval", "min_interval", "dense_interval"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"PollSchedule.{name} must be a finite number of seconds")
        if self.min_interval > self.max_interval:
            raise ValueError(
                f"PollSchedule.min_interval ({self.min_interval:g} s) exceeds max_interval "
                f"({self.max_interval:g} s): lower min_interval or raise max_interval."
            )

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

    def backed_off(self, first: float, steps: int) -> float:
        """``first * backoff ** steps``, capped at ``max_interval`` (never overflows)."""
        return min(first * self.backoff ** min(max(steps, 0), MAX_EXPONENT), self.max_interval)


def normalize_progress(value: float | None, *, percent: bool) -> float | None:
    """``value`` as a 0..1 fraction; ``percent`` says the task reports 0..100.

    None for anything that is not a finite number (a NaN or infinite progress is no news).
    """
    if value is None or not math.isfinite(value):
        return None
    fraction = value / 100.0 if percent else value
    return min(max(fraction, 0.0), 1.0)


Bracket = tuple[float, float]
"""(after, by): a moment known only to lie between two polls, in seconds after submitting."""


class TimingRecord(NamedTuple):
    """One task that became ready, in seconds after its submission: when it finished and
    when each status it showed began, each as the bracket of the two polls around it (a
    point when progress pinned the finish)."""

    finished: Bracket
    began: Mapping[str, Bracket]


class Model(NamedTuple):
    """How the start of one status predicts the finish: ``finish = start + theta``, or with
    ``ratio`` ``finish = start * theta``; the history puts ``theta`` in ``[low, high]``:
    for every task when ``exact``, else for most of them."""

    ratio: bool
    low: float
    high: float
    exact: bool = False

    def finish(self, began: Bracket) -> Bracket:
        """When a task that began the status within ``began`` should finish."""
        if self.ratio:
            return began[0] * self.low, began[1] * self.high
        return began[0] + self.low, began[1] + self.high

    def begins(self, finish: float) -> float:
        """When the status begins for a task finishing at ``finish`` (``theta``'s middle)."""
        theta = (self.low + self.high) / 2
        return finish / theta if self.ratio else finish - theta

    def blur(self, begins: float) -> float:
        """How wide the finish is known from the status beginning exactly at ``begins``."""
        return (self.high - self.low) * (begins if self.ratio else 1.0)


class Reading(NamedTuple):
    """What the history says about one status: the models it bears out. Both readings
    when both hold exactly (the records are too vague to tell them apart: the finish is
    then anywhere either puts it), else the tighter one."""

    models: tuple[Model, ...]

    @property
    def exact(self) -> bool:
        """True when the finish is bounded (every model exact), not only mostly placed."""
        return all(m.exact for m in self.models)

    def finish(self, began: Bracket) -> Bracket:
        """When a task that began the status within ``began`` should finish."""
        windows = [m.finish(began) for m in self.models]
        return min(w[0] for w in windows), max(w[1] for w in windows)

    def begins(self, finish: float) -> float:
        """When the status begins for a task finishing at ``finish``."""
        return sum(m.begins(finish) for m in self.models) / len(self.models)

    def blur(self, begins: float) -> float:
        """How wide the finish is known from the status beginning exactly at ``begins``."""
        low, high = self.finish((begins, begins))
        return high - low


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    share = rank - low
    return ordered[low] if share == 0 else ordered[low] * (1 - share) + ordered[high] * share


def _fit(bounds: Sequence[Bracket], ratio: bool) -> Model | None:
    """The range of ``theta`` from each record's bracket of its own ``theta``; None with
    too few records.

    If the model holds exactly, ``theta`` lies in every bracket: above the lower bounds
    and below the upper ones, so the highest lower bound and the lowest upper bound (but
    for a few outliers) pin it, however wide each bracket is. When those two cross (or the
    records are too few to tell), ``theta`` varies from task to task: then the 10th to
    90th percentile of the brackets' middles, widened by a typical half bracket.
    """
    usable = [(a, b) for a, b in bounds if a <= b and math.isfinite(b - a)]
    if len(usable) < MIN_RECORDS:
        return None
    lows, highs = [a for a, _ in usable], [b for _, b in usable]
    above, below = _quantile(lows, 1 - EXACT_OUTLIERS), _quantile(highs, EXACT_OUTLIERS)
    if len(usable) >= EXACT_RECORDS and above - below <= EXACT_TOLERANCE * abs(below):
        return Model(ratio, min(above, below), max(above, below), exact=True)
    middles = [a / 2 + b / 2 for a, b in usable]
    half = _quantile([b / 2 - a / 2 for a, b in usable], 0.5)
    return Model(
        ratio, _quantile(middles, SPREAD_Q) - half, _quantile(middles, 1 - SPREAD_Q) + half
    )


class History(NamedTuple):
    """What the records say, computed once per change: each status's reading, the
    statuses that always begin after each status, and how often each status was seen."""

    models: Mapping[str, Reading]
    after: Mapping[str, frozenset[str]]
    seen: Mapping[str, int]
    size: int


def _learn(records: Sequence[TimingRecord]) -> History:
    statuses = {s for r in records for s in r.began}
    seen = {s: sum(1 for r in records if s in r.began) for s in statuses}
    models: dict[str, Reading] = {}
    for status in statuses:
        rows = [(r.began[status], r.finished) for r in records if status in r.began]
        # Two readings compete: the time left after the status began is the same for every
        # task (a fixed-length last phase), or it grows in proportion to when the status
        # began (phases that stretch with the task). The one with the smaller spread wins,
        # unless both hold exactly: then the records cannot tell, and both are kept.
        candidates = [_fit([(f[0] - b[1], f[1] - b[0]) for b, f in rows], ratio=False)]
        if all(b[1] > 0 for b, _ in rows):
            ratios = [(f[0] / b[1], f[1] / b[0] if b[0] > 0 else math.inf) for b, f in rows]
            candidates.append(_fit(ratios, ratio=True))
        typical = _quantile([(b[0] + b[1]) / 2 for b, _ in rows], 0.5)
        fitted = [m for m in candidates if m is not None]
        exact = tuple(m for m in fitted if m.exact)
        if len(exact) > 1:
            models[status] = Reading(exact)
        elif fitted:
            models[status] = Reading((min(fitted, key=lambda m: m.blur(typical)),))
    after: dict[str, frozenset[str]] = {}
    for first in statuses:
        later = set()
        for second in statuses - {first}:
            both = [r for r in records if first in r.began and second in r.began]
            if len(both) >= MIN_RECORDS and all(
                r.began[first][1] <= r.began[second][0] for r in both
            ):
                later.add(second)
        after[first] = frozenset(later)
    return History(models, after, seen, len(records))


class TaskTimings:
    """How long a client's recent tasks took: shared by all its waits (and threads).

    Keeps the latest ``size`` records; tasks of one client tend to be alike (same model,
    similar parameters), so recent ones predict the next. ``on_add`` is called (outside
    the lock) after each `add`: the client's shell keeps them for the next process.
    """

    def __init__(
        self, size: int = 32, on_add: Callable[[TaskTimings], object] | None = None
    ) -> None:
        self._records: deque[TimingRecord] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._learnt: History | None = None
        self.on_add = on_add

    def add(self, record: TimingRecord) -> None:
        """Remember one finished task (the oldest record goes once ``size`` are kept)."""
        with self._lock:
            self._records.append(record)
            self._learnt = None
        if self.on_add is not None:
            self.on_add(self)

    def restore(self, records: Sequence[TimingRecord]) -> None:
        """Take ``records`` (oldest first) as earlier history, without calling ``on_add``."""
        with self._lock:
            self._records.extend(records)
            self._learnt = None

    def records(self) -> tuple[TimingRecord, ...]:
        """The records kept, oldest first."""
        with self._lock:
            return tuple(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def history(self) -> History:
        """The models learnt from the records kept (recomputed after each `add`)."""
        with self._lock:
            if self._learnt is None:
                self._learnt = _learn(tuple(self._records))
            return self._learnt

    def model(self, status: str) -> Reading | None:
        """How the start of ``status`` predicts the finish; None with too few records."""
        return self.history().models.get(status)


TIMINGS_FORMAT = 1
"""The version of `records_to_json`'s format; another version is ignored on reading."""
# What a stored record may hold: times within a day, the statuses the spec names (a name
# the server made up is not kept: nothing a server sends but these words reaches the disk).
MAX_STORED_SECONDS = 86_400.0


def records_to_json(records: Sequence[TimingRecord]) -> dict[str, Any]:
    """``records`` as JSON-ready data (numbers and status names only)."""
    return {
        "format": TIMINGS_FORMAT,
        "records": [
            {
                "finished": list(r.finished),
                "began": {name: list(bracket) for name, bracket in r.began.items()},
            }
            for r in records
        ],
    }


def _bracket(value: Any) -> Bracket | None:
    if not (isinstance(value, list) and len(value) == 2):
        return None
    a, b = value
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b)):
        return None
    if not 0.0 <= a <= b <= MAX_STORED_SECONDS:  # (NaN fails this too)
        return None
    return float(a), float(b)


def records_from_json(data: Any, *, limit: int = 32) -> list[TimingRecord]:
    """The records in ``data`` (as `records_to_json` makes it), oldest first, at most the
    latest ``limit``; a record that is malformed in any way is left out, and data of
    another format or shape gives none."""
    from flux_flex._core.status import KNOWN_STATUSES

    allowed = {*KNOWN_STATUSES, SUBMITTED} - {READY}
    if not isinstance(data, dict) or data.get("format") != TIMINGS_FORMAT:
        return []
    rows = data.get("records")
    if not isinstance(rows, list):
        return []
    records = []
    for row in rows[-limit:]:
        if not isinstance(row, dict) or not isinstance(row.get("began"), dict):
            continue
        finished = _bracket(row.get("finished"))
        began = {name: _bracket(value) for name, value in row["began"].items()}
        if finished is None or any(
            name not in allowed or bracket is None for name, bracket in began.items()
        ):
            continue
        records.append(TimingRecord(finished, {n: b for n, b in began.items() if b is not None}))
    return records


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
        "_began_cold",
        "_expected",
        "_first",
        "_last",
        "_late",
        "_misses",
        "_percent",
        "_seen",
        "_status",
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
        self._status = SUBMITTED  # the latest status seen
        self._began: dict[str, Bracket] = {}  # status -> elapsed bracket of its start
        self._late = 0  # polls made after the whole expected window had passed
        self._began_cold = False  # polled on the cold schedule before any model timed it

    def __repr__(self) -> str:
        return f"PollPlanner(schedule={self.schedule!r}, polls={self.polls})"

    def started_at(self, when: float) -> None:
        """The task was submitted at ``when``: progress 0 then (sharpens the first estimate),
        and the zero of the elapsed times the history is kept in."""
        if not math.isfinite(when):
            return
        if self._first is None:
            self._first = (when, 0.0)
        if self._submitted is None:
            self._submitted = when
            self._began[SUBMITTED] = (0.0, 0.0)

    def observe(self, now: float, progress: float | None, status: str | None = None) -> None:
        """Record one poll made at ``now`` that reported ``progress`` (None if absent) and
        ``status`` (None if unknown). Values that are no number (NaN, infinite, negative)
        are no news."""
        self.polls += 1
        if not math.isfinite(now):
            return
        elapsed = math.inf if self._submitted is None else now - self._submitted
        if status is not None and math.isfinite(elapsed):
            elapsed = max(elapsed, self._seen)  # a clock never runs back
            if status not in self._began:
                self._began[status] = (self._seen, elapsed)
            if status == READY:
                self._learn(elapsed)
            self._status = status
            self._seen = elapsed
        if progress is None or not math.isfinite(progress) or progress < 0:
            return
        if progress > 1.0 and not self._percent:
            # Switching scale: earlier observations were percentages too (values <= 1 %).
            self._percent = True
            if self._first is not None:
                self._first = (self._first[0], self._first[1] / 100.0)
            if self._last is not None:
                self._last = (self._last[0], self._last[1] / 100.0)
        fraction = normalize_progress(progress, percent=self._percent)
        if fraction is None:  # unreachable (finite, checked above); kept total for safety
            return
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
        finished = (self._seen, ready_seen)
        if predicted is not None and self._seen <= predicted - self._submitted <= ready_seen:
            finished = (predicted - self._submitted,) * 2  # a rate-based estimate: a point
        began = {status: bracket for status, bracket in self._began.items() if status != READY}
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
        return t1 + (1.0 - p1) / rate if rate > 0 else None

    def _finish_bounds(self, history: History) -> tuple[float, float, float] | None:
        """Elapsed ``(earliest, low, high)`` the history allows for the finish; None without
        a model. ``earliest`` and ``high`` come from the statuses seen (their start
        brackets), ``low`` also from the latest poll (the task was not ready then) and the
        statuses still to come (they had not begun then). ``low > high`` when they disagree.

        Exact models bound the finish; the others only say where most tasks finish, and
        are left out when they contradict the exact ones or the latest poll.
        """
        bounds = {True: [0.0, 0.0, math.inf], False: [0.0, 0.0, math.inf]}
        known = {True: False, False: False}
        for status, began in self._began.items():
            model = history.models.get(status)
            if model is not None:
                finish = model.finish(began)
                b = bounds[model.exact]
                b[0], b[2] = max(b[0], finish[0]), min(b[2], finish[1])
                known[model.exact] = True
        if not (known[True] or known[False]):
            return None
        for b in bounds.values():
            b[1] = max(b[0], self._seen)
        if self._seen > 0:  # once polled: what has not begun by then bounds the finish
            for status in self._upcoming(history):
                model = history.models[status]
                b = bounds[model.exact]
                b[1] = max(b[1], model.finish((self._seen, self._seen))[0])
        hard, soft = bounds[True], bounds[False]
        both = [max(hard[i], soft[i]) for i in (0, 1)] + [min(hard[2], soft[2])]
        if both[1] <= both[2] or not known[True]:
            earliest, low, high = both
        else:
            earliest, low, high = hard
        return earliest, low, high

    def _upcoming(self, history: History) -> list[str]:
        """Statuses with a model that this task has not shown yet but will: in the history
        they always begin after the current one and are seen in most tasks."""
        return [
            status
            for status in history.after.get(self._status, ())
            if status not in self._began
            and status in history.models
            and 2 * history.seen.get(status, 0) >= history.size
        ]

    def expected_window(self) -> tuple[float, float] | None:
        """Clock times ``(low, high)`` within which the history says the task should finish,
        from every status seen so far; None without enough history (or when the statuses
        disagree)."""
        if self.timings is None or self._submitted is None or not self.schedule.learn:
            return None
        bounds = self._finish_bounds(self.timings.history())
        if bounds is None or bounds[1] > bounds[2]:
            return None
        _, low, high = bounds
        slack = WINDOW_SLACK * high
        return (self._submitted + low - slack, self._submitted + high + slack)

    def _planned(self, now: float) -> tuple[bool, float | None]:
        """Whether the history has a model for this task, and the clock time of the next
        poll it plans (None once the task outlasted its window: back off).

        While the window of expected finishes is wide, the poll goes where a status still
        to come would begin if the task finished mid-window: its answer (begun or not)
        tells which half holds the finish. Otherwise the window is polled on an even grid,
        closer the narrower it is (at most ``dense_interval`` apart), up to its end.
        """
        if self.timings is None or self._submitted is None or not self.schedule.learn:
            return False, None
        s = self.schedule
        history = self.timings.history()
        bounds = self._finish_bounds(history)
        if bounds is None:
            return False, None
        earliest, low, high = bounds
        slack = WINDOW_SLACK * high
        earliest, low, high = earliest - slack, low - slack, high + slack
        elapsed = now - self._submitted
        if not (high > elapsed and low <= high and math.isfinite(high - min(earliest, elapsed))):
            return True, None  # outlasted (or absurd figures): back off
        self._late = 0
        start = max(low, elapsed)
        width = high - start
        middle = start + width / 2
        soonest = elapsed + s.min_interval
        cuts = []
        for status in self._upcoming(history):
            model = history.models[status]
            at = model.begins(middle)
            # Polling the window costs about one poll per two spacings of it; a poll that
            # halves it (give or take the model's blur) saves that on half the window.
            if at >= soonest and width - model.blur(at) > CUT_GAIN * s.dense_interval:
                cuts.append(at)
        if cuts:
            return True, self._submitted + min(cuts)
        # Polls on a grid across the whole window, the next one after the window's start
        # and half a spacing after the latest poll (the grid moves a little when the history
        # changes: polls never bunch up for it). A window of `span` polled every `spacing`
        # costs about span / spacing polls and spacing / 2 of delay: the sum is least with
        # the spacing growing as the square root of the window, up to dense_interval for
        # windows GRID_K of them wide (a narrow window is cheap to poll finely).
        span = high - earliest
        ratio = span / s.dense_interval
        spacing = s.dense_interval
        if 0 < ratio < 1e6:  # (a huge ratio would overflow math.ceil)
            spacing = span / math.ceil(ratio / min(1.0, math.sqrt(ratio / GRID_K)))
        spacing = max(spacing, s.min_interval)
        after = max(low, elapsed + spacing / 2) - earliest
        steps = after / spacing
        if math.isfinite(steps) and steps < 1e15:
            target = earliest + (math.floor(steps) + 1) * spacing
        else:  # (absurd clocks: the grid is finer than a float can count; the next point)
            target = earliest + after + spacing
        return True, self._submitted + min(target, high)

    def first_delay(self, now: float) -> float:
        """Seconds from ``now`` to the first poll of a wait that started at the submission:
        ``initial`` after it, or later when the history puts the first useful poll later
        (but never more than ``max_interval`` after the submission)."""
        s = self.schedule
        if self._submitted is None or not math.isfinite(now):
            return 0.0
        first = self._submitted + s.initial
        if s.use_progress:
            # A task that reports progress is timed by its rate once polled: the first poll
            # comes a little before the earliest expected finish, where the rate it reads
            # leaves time to act on (as the only poll before the finish).
            window = self.expected_window()
            lead = None if window is None else PROGRESS_LEAD * (window[0] - self._submitted)
            planned = None if window is None or lead is None else window[0] - lead
        else:
            _, planned = self._planned(self._submitted)
        if planned is not None:
            first = max(first, min(planned, self._submitted + s.max_interval))
        return min(max(first - now, 0.0), max(s.initial, s.max_interval))

    def _jittered(self, delay: float) -> float:
        s = self.schedule
        return delay * (1.0 + self.rng.uniform(-s.jitter, s.jitter))

    def _clamped(self, delay: float) -> float:
        s = self.schedule
        if delay != delay:  # NaN (from absurd clock times): the cautious end
            return s.max_interval
        return min(max(delay, s.min_interval), s.max_interval)

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next poll: finite, within ``[min_interval,
        max_interval]``."""
        s = self.schedule
        delay = self._jittered(s.backed_off(s.initial, self.polls - 1))
        if not math.isfinite(now):
            return self._clamped(delay)
        ready_at = self.predicted_ready_at() if s.use_progress else None
        if ready_at is not None:
            # Poll just after the predicted finish: no useless polls before it, and no
            # waiting a whole backoff step after it. Each missed prediction (the task was
            # still pending when polled) doubles a floor, so a task whose progress stalls
            # near the end is never polled in a tight loop.
            if self._expected is not None and now >= self._expected:
                self._misses += 1
            predicted = ready_at + s.progress_margin - now
            # (Doubling from a little above zero even with no minimum interval.)
            base = max(s.min_interval, s.progress_margin, s.max_interval / 64)
            floor = base * 2.0 ** min(self._misses, MAX_EXPONENT)
            delay = max(predicted, floor if self._misses else 0.0)
            # A poll timed by the prediction (not cut short by max_interval) that still
            # finds the task pending is a miss.
            self._expected = now + delay if delay <= s.max_interval else None
        else:
            known, planned = self._planned(now)
            if planned is not None:
                delay = planned - now
            elif known and self._began_cold and self.polls < COLD_POLLS:
                # It outlasted a model learnt during this wait (from the quickest tasks of
                # the first wave): the cold loop it began with goes on, never later than it.
                delay = s.dense_interval
            elif known:  # the task outlasted its window: the backoff again, from dense_interval
                delay = self._jittered(s.backed_off(s.dense_interval, self._late))
                self._late += 1
            else:
                delay = self._cold(now)
        return self._clamped(delay)

    def _cold(self, now: float) -> float:
        """The delay when nothing predicts the finish (see `COLD_SKIP`)."""
        s = self.schedule
        self._began_cold = True
        if self.polls >= COLD_POLLS:
            return self._jittered(s.backed_off(s.dense_interval, self.polls - COLD_POLLS))
        if self.polls == 1:  # (a wait that did not submit: its first poll was at once)
            if self._submitted is None:
                return s.initial
            return max(self._submitted + COLD_SKIP * s.dense_interval - now, 0.0)
        return s.dense_interval

    def next_delay_with_webhook(self, now: float, grace: float) -> float:
        """Seconds to wait on the webhook delivery before the next (fallback) poll.

        The delivery comes right after the task is ready, so polling before then is waste:
        with a predicted finish, wait until ``grace`` s past it; without one, space the polls
        at least ``grace`` s apart. A lost delivery then costs at most ``grace`` s of delay.
        """
        ready_at = self.predicted_ready_at() if self.schedule.use_progress else None
        if ready_at is not None and math.isfinite(now):
            wait = max(ready_at + grace - now, self.schedule.min_interval, grace / 2)
        else:
            wait = max(self.next_delay(now), grace)
        return wait if math.isfinite(wait) else self._clamped(wait)
