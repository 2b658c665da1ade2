"""The polling schedule: fast start, backoff with jitter, progress-guided prediction."""

from __future__ import annotations

import itertools
import math
import random

import attrs
import pytest
from flux_flex import PollSchedule
from flux_flex._core.schedule import (
    COLD_POLLS,
    SUBMITTED,
    PollPlanner,
    TaskTimings,
    TimingRecord,
)
from hypothesis import given, settings
from hypothesis import strategies as st

NO_JITTER = PollSchedule(
    initial=0.5, backoff=2.0, max_interval=4.0, jitter=0.0, min_interval=0.05, progress_margin=0.1
)


def test_without_knowledge_it_polls_like_a_one_second_loop_without_its_first_polls() -> None:
    # A fresh process, no progress: never more polls than a fixed 1 s loop (which polls at
    # 1, 2, 3 ...), never later: one poll at `initial` (a task ready at once), then from
    # 3 s every dense_interval; past 40 polls it backs off from there to max_interval.
    polls = _wait(NO_JITTER, TaskTimings(), 120.0, submitted=0.0)
    assert polls[:4] == [0.5, 3.0, 4.0, 5.0]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert gaps[1 : COLD_POLLS - 1] == pytest.approx([1.0] * (COLD_POLLS - 2))
    assert gaps[COLD_POLLS - 1 : COLD_POLLS + 4] == pytest.approx([1.0, 2.0, 4.0, 4.0, 4.0])
    for duration in (2.5, 4.0, 9.3, 17.0, 30.6):
        ours = _wait(NO_JITTER, TaskTimings(), duration, submitted=0.0)
        loop = math.ceil(duration)
        assert len(ours) <= loop - 1
        assert ours[-1] <= loop


def test_jitter_stays_within_its_band_and_varies() -> None:
    schedule = PollSchedule(initial=1.0, backoff=1.0, max_interval=10.0, jitter=0.2)
    planner = PollPlanner(schedule, rng=random.Random(7))
    for _ in range(COLD_POLLS):  # the backoff after the first 1 s loop is jittered
        planner.observe(0.0, None)
    delays = {planner.next_delay(0.0) for _ in range(50)}
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert len(delays) > 10


@pytest.mark.parametrize(
    ("first", "second"),
    [(0.2, 0.4), (20.0, 40.0)],  # fraction and percentage give the same prediction
)
def test_rising_progress_predicts_the_finish(first: float, second: float) -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.observe(10.0, first)
    planner.observe(11.0, second)  # 0.2 per second: 0.6 left -> ready at 14.0
    assert planner.predicted_ready_at() == pytest.approx(14.0)
    # Poll just after the predicted finish (margin 0.1), capped at max_interval from now.
    assert planner.next_delay(11.0) == pytest.approx(3.1)
    assert planner.next_delay(13.5) == pytest.approx(0.6)


def test_prediction_is_capped_and_floored() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.observe(0.0, 0.01)
    planner.observe(1.0, 0.02)  # ~98 s to go
    assert planner.next_delay(1.0) == NO_JITTER.max_interval
    planner.observe(2.0, 1.0)  # done: poll at once (but not below the floor)
    assert planner.next_delay(5.0) == NO_JITTER.min_interval


def test_percentage_detected_after_small_values() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.observe(0.0, 1.0)  # 1 %, not "done"
    planner.observe(1.0, 11.0)  # now known to be percentages
    assert planner.reports_percent
    assert planner.predicted_ready_at() == pytest.approx(1.0 + 0.89 / 0.10)


def test_flat_or_missing_progress_falls_back_to_backoff() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.observe(0.0, 0.5)
    planner.observe(1.0, 0.5)
    assert planner.predicted_ready_at() is None
    assert planner.next_delay(1.0) == 1.0


def test_progress_can_be_switched_off() -> None:
    schedule = PollSchedule(initial=0.5, backoff=2.0, jitter=0.0, use_progress=False)
    planner = PollPlanner(schedule, rng=random.Random(1))
    planner.observe(0.0, 0.2)
    planner.observe(1.0, 0.99)
    assert planner.next_delay(1.0) == 1.0


def test_scaled_schedule_scales_every_time() -> None:
    scaled = NO_JITTER.scaled(0.01)
    assert (scaled.initial, scaled.max_interval, scaled.min_interval) == pytest.approx(
        (0.005, 0.04, 0.0005)
    )


def test_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        PollSchedule(initial=0)
    with pytest.raises(ValueError, match="jitter"):
        PollSchedule(jitter=1.0)


def test_submission_time_anchors_the_first_estimate() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.started_at(100.0)
    planner.observe(100.5, 0.25)  # one poll is enough: 0.5 per second -> ready at 102.0
    assert planner.predicted_ready_at() == pytest.approx(102.0)
    assert planner.next_delay(100.5) == pytest.approx(1.6)


def test_missed_predictions_back_off_instead_of_polling_in_a_loop() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.started_at(0.0)
    now, delays = 0.0, []
    for progress in (0.9, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99):  # stalls near the end
        now += 0.5
        planner.observe(now, progress)
        delay = planner.next_delay(now)
        delays.append(delay)
        now += delay - 0.5
    assert delays[0] < 0.5  # first prediction trusted: poll right after the finish
    assert delays[1:] == sorted(delays[1:])  # then the floor only grows
    # Doubling from the margin: a miss costs little, a stall soon reaches the cap.
    assert delays[1] == pytest.approx(2 * NO_JITTER.progress_margin)
    assert delays[2] == pytest.approx(2 * delays[1])
    assert delays[-1] == NO_JITTER.max_interval


# --- The client's history (TaskTimings): statuses and earlier durations time the polls. ---

BLIND = PollSchedule(jitter=0.0, use_progress=False)
Statuses = tuple[tuple[str, float], ...]


def _wait(
    schedule: PollSchedule,
    timings: TaskTimings,
    duration: float,
    *,
    statuses: Statuses = (),
    submitted: float = 100.0,
) -> list[float]:
    """Drive one planner over a task of ``duration`` s without progress; the poll times
    (seconds after submitting). ``statuses``: (status, elapsed when it begins), in order."""
    planner = PollPlanner(schedule, rng=random.Random(1), timings=timings)
    planner.started_at(submitted)
    now = submitted + planner.first_delay(submitted)
    polls = []
    while True:
        elapsed = now - submitted
        polls.append(elapsed)
        status = "Ready" if elapsed >= duration else "Pending"
        for name, begins in statuses:
            if status != "Ready" and elapsed >= begins:
                status = name
        planner.observe(now, None, status)
        if status == "Ready":
            return polls
        assert len(polls) < 200, polls
        now += planner.next_delay(now)


Bound = float | tuple[float, float]


def _bracket(value: Bound) -> tuple[float, float]:
    return value if isinstance(value, tuple) else (value, value)


def _history(*records: tuple[Bound, dict[str, Bound]]) -> TaskTimings:
    """A history of (finished, {status: began}) records; a number is an exact moment."""
    timings = TaskTimings()
    for finished, began in records:
        brackets = {status: _bracket(b) for status, b in began.items()}
        timings.add(TimingRecord(_bracket(finished), {SUBMITTED: (0.0, 0.0), **brackets}))
    return timings


def _polled(
    rng: random.Random, duration: float, starts: Statuses, gap: tuple[float, float] = (0.3, 1.5)
) -> tuple[tuple[float, float], dict[str, Bound]]:
    """The record a client makes of a task (``starts``: status, elapsed when it begins) it
    polls at random gaps: each change bracketed by the polls around it; a status that
    begins and ends between two polls is never seen."""
    polls = [0.0]
    while polls[-1] < duration:
        polls.append(polls[-1] + rng.uniform(*gap))

    def around(moment: float) -> tuple[float, float]:
        after = next(t for t in polls if t >= moment)
        return (max(t for t in polls if t < after), after) if after > 0 else (0.0, 0.0)

    began: dict[str, Bound] = {}
    for (status, begins), following in zip(starts, [*starts[1:], ("", duration)], strict=True):
        if around(begins) != around(following[1]):
            began[status] = around(begins)
    return around(duration), began


def test_a_ready_task_is_recorded_with_the_polls_around_each_change() -> None:
    timings = TaskTimings()
    polls = _wait(BLIND, timings, 6.0, statuses=(("Generating", 4.0),))
    assert polls[-1] >= 6.0 > polls[-2]
    (record,) = timings.records()
    assert record.finished == (polls[-2], polls[-1])
    assert record.began[SUBMITTED] == (0.0, 0.0)
    assert record.began["Pending"] == (0.0, polls[0])
    first_generating = next(i for i, t in enumerate(polls) if t >= 4.0)
    assert record.began["Generating"] == (polls[first_generating - 1], polls[first_generating])
    assert "Ready" not in record.began


def test_with_progress_the_predicted_finish_is_recorded() -> None:
    timings = TaskTimings()
    planner = PollPlanner(NO_JITTER, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(0.5, 0.25, "Pending")  # ready at 2.0
    planner.observe(2.1, 1.0, "Ready")
    assert timings.records()[0].finished == pytest.approx((2.0, 2.0))


def test_ready_at_the_first_poll_records_only_the_bound() -> None:
    timings = TaskTimings()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(10.0)
    planner.observe(12.0, None, "Ready")
    assert timings.records()[0].finished == pytest.approx((0.0, 2.0))


def test_nothing_is_learnt_without_the_submission_time_or_with_learning_off() -> None:
    timings = TaskTimings()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.observe(1.0, None, "Pending")
    planner.observe(2.0, None, "Ready")
    off = PollPlanner(attrs.evolve(BLIND, learn=False), timings=timings)
    off.started_at(0.0)
    off.observe(1.0, None, "Pending")
    off.observe(2.0, None, "Ready")
    assert len(timings) == 0
    assert off.expected_window() is None


def test_too_little_history_changes_nothing() -> None:
    timings = _history((10.0, {}), (10.0, {}))
    assert timings.model(SUBMITTED) is None
    alone = _wait(BLIND, TaskTimings(), 10.0)
    assert _wait(BLIND, timings, 10.0) == alone
    assert alone[0] == BLIND.initial  # the plain backoff: 0.5 s, 0.75 s, ...


def test_alike_tasks_skip_the_early_polls_and_poll_densely_around_the_finish() -> None:
    timings = _history(*[(d, {}) for d in (9.5, 10.0, 10.5, 10.2, 9.8)])
    reading = timings.model(SUBMITTED)
    assert reading is not None
    (model,) = reading.models
    assert not model.exact  # five durations that differ: a spread, not one value
    assert 9.5 <= model.low < 9.8
    assert 10.2 < model.high <= 10.5
    polls = _wait(BLIND, timings, 10.0)
    # At most max_interval apart before the window, then a few across it: 4 polls (a
    # fixed 1 s poller makes 10; without the history, 9).
    assert polls[:2] == [BLIND.max_interval, 2 * BLIND.max_interval]
    assert len(polls) <= 5
    assert polls[-1] - 10.0 <= BLIND.dense_interval / 2
    plain = _wait(attrs.evolve(BLIND, learn=False), timings, 10.0)
    assert len(plain) >= 9


def test_a_task_longer_than_the_history_backs_off_from_the_dense_interval() -> None:
    timings = _history(*[(2.0, {}) for _ in range(5)])
    polls = _wait(BLIND, timings, 30.0)
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    late = [g for t, g in zip(polls, gaps, strict=False) if t >= 2.0]  # 2 s tasks: late
    assert late[0] == pytest.approx(BLIND.dense_interval)  # past the window: one dense step
    assert late == sorted(late)  # then the spacing grows again ...
    assert late[-1] == pytest.approx(BLIND.max_interval)  # ... up to the cap
    assert polls[-1] - 30.0 <= BLIND.max_interval


def test_a_wait_begun_cold_keeps_its_loop_past_a_model_learnt_meanwhile() -> None:
    # The first wave of a process: every wait begins cold; the quickest tasks finish and
    # teach the shared history a window this longer task has already outlasted. It goes on
    # polling every dense_interval (as it began), where backing off from there took the
    # simulated statuses_noisy scenario to 1.155x the fixed loop's median delay.
    timings = TaskTimings()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    now, polls = planner.first_delay(0.0), []
    while now < 20.0:
        polls.append(now)
        planner.observe(now, None, "Pending")
        if now >= 5.0 and not len(timings):  # the quick tasks of the wave are done
            timings.restore(_history(*[(2.0, {}) for _ in range(5)]).records())
        now += planner.next_delay(now)
    assert timings.model(SUBMITTED) is not None
    assert polls[:3] == [0.5, 3.0, 4.0]
    gaps = [b - a for a, b in itertools.pairwise([*polls, now])]
    assert gaps[1:] == pytest.approx([BLIND.dense_interval] * (len(gaps) - 1))
    assert now - 20.0 <= BLIND.dense_interval


# Tasks of 3-19 s whose statuses split them in thirds (FakeBFL's default lifecycle), polled
# at random gaps of 0.3-1.5 s (so every change is known only to within that).
def _thirds(count: int = 24, seed: int = 2) -> TaskTimings:
    rng = random.Random(seed)
    tasks = [rng.uniform(3.0, 19.0) for _ in range(count)]
    return _history(
        *[
            _polled(rng, d, (("Pending", 0.0), ("Reasoning", d / 3), ("Generating", 2 * d / 3)))
            for d in tasks
        ]
    )


def test_statuses_that_stretch_with_the_task_are_read_as_shares_of_it() -> None:
    timings = _thirds()
    reasoning, generating = timings.model("Reasoning"), timings.model("Generating")
    assert reasoning is not None
    assert generating is not None
    # Exact ratios (finish = 3 x when Reasoning began, 1.5 x when Generating began), pinned
    # much closer than any one record's bracket (up to 1.5 s, i.e. +/- 15 % at 10 s).
    ((r,), (g,)) = reasoning.models, generating.models
    assert r.ratio
    assert r.exact
    assert r.low <= 3.0 <= r.high
    assert r.high - r.low < 0.3
    assert g.ratio
    assert g.exact
    assert g.low <= 1.5 <= g.high
    assert g.high - g.low < 0.1
    # The duration itself varies (3-19 s): a spread, from about the 10th to 90th percentile.
    submitted = timings.model(SUBMITTED)
    assert submitted is not None
    assert not submitted.exact
    assert submitted.finish((0.0, 0.0)) > (3.0, 15.0)
    assert submitted.finish((0.0, 0.0)) < (7.0, 19.5)


@pytest.mark.parametrize(("gaps", "readings"), [((0.1, 0.5), 1), ((0.3, 1.5), 2)])
def test_a_fixed_last_phase_is_read_as_a_fixed_time_left(
    gaps: tuple[float, float], readings: int
) -> None:
    rng = random.Random(4)
    tasks = [rng.uniform(3.0, 17.0) for _ in range(16)]
    timings = _history(
        *[_polled(rng, b + 2.0, (("Pending", 0.0), ("Generating", b)), gaps) for b in tasks]
    )
    reading = timings.model("Generating")
    assert reading is not None
    assert reading.exact
    fixed = [m for m in reading.models if not m.ratio]
    assert fixed
    assert fixed[0].low <= 2.0 <= fixed[0].high
    # Polled closely, the records rule out a share of the task; polled loosely they cannot
    # (every ratio bracket is wide enough to hold one value): then the finish is wherever
    # either reading puts it, never only where the wrong one does.
    assert len(reading.models) == readings
    low, high = reading.finish((7.0, 7.0))
    assert low <= 9.0 <= high
    assert high - low < 1.0


def test_a_status_that_predicts_the_finish_neither_way_is_a_spread() -> None:
    # Reasoning lasts 1.5 s, Pending and Generating share the rest: Generating begins at
    # (d + 1.5) / 2, so neither the time left nor the share is the same for every task.
    rng = random.Random(5)
    tasks = [rng.uniform(3.0, 19.0) for _ in range(24)]
    timings = _history(
        *[_polled(rng, d, (("Pending", 0.0), ("Generating", (d + 1.5) / 2))) for d in tasks]
    )
    model = timings.model("Generating")
    assert model is not None
    assert not model.exact
    # What it does say still holds for most tasks: Generating began at 6 s -> about 10.5 s.
    low, high = model.finish((6.0, 6.0))
    assert low < 10.5 < high


def test_a_wide_window_is_halved_where_the_next_status_would_begin() -> None:
    timings = _thirds()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(4.0, None, "Reasoning")  # began within (0, 4]: finish by 12 s
    # Generating has not begun either: the finish is after 1.5 x 4 = 6 s.
    low, high = planner.expected_window() or (0.0, 0.0)
    assert low == pytest.approx(6.0, abs=0.4)
    assert high == pytest.approx(12.0, abs=0.6)
    # Finishing mid-window (9 s), the task would begin Generating at 6 s: poll then.
    delay = planner.next_delay(4.0)
    assert delay == pytest.approx(2.0, abs=0.2)
    halves = {}
    for answer in ("Reasoning", "Generating"):
        copy = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
        copy.started_at(0.0)
        copy.observe(4.0, None, "Reasoning")
        copy.observe(4.0 + delay, None, answer)
        halves[answer] = copy.expected_window() or (0.0, 0.0)
    assert halves["Generating"][1] == pytest.approx(9.0, abs=0.5)  # the first half ...
    assert halves["Reasoning"][0] == pytest.approx(9.0, abs=0.5)  # ... or the second
    assert halves["Reasoning"][1] == pytest.approx(high, abs=0.1)


def test_a_window_is_polled_on_a_grid_at_most_dense_apart() -> None:
    timings = _thirds()
    # A task at the far end of its window walks the whole grid.
    polls = _wait(BLIND, timings, 10.8, statuses=(("Reasoning", 3.6), ("Generating", 7.2)))
    assert len(polls) <= 7  # a fixed 1 s poller makes 11
    generating = next(i for i, t in enumerate(polls) if t >= 7.2)
    planner = PollPlanner(BLIND, timings=timings)
    planner.started_at(0.0)
    for t in polls[: generating + 1]:
        planner.observe(t, None, "Generating" if t >= 7.2 else "Reasoning")
    low, high = planner.expected_window() or (0.0, 0.0)
    inside = [t for t in polls if t >= low]
    assert len(inside) >= 2
    assert all(b - a <= BLIND.dense_interval for a, b in itertools.pairwise(inside))
    assert polls[-1] <= high
    assert polls[-1] - 10.8 <= BLIND.dense_interval


def test_a_narrow_window_is_polled_more_finely_than_a_wide_one() -> None:
    timings = _thirds()

    def gaps(began_generating: tuple[float, float]) -> list[float]:
        planner = PollPlanner(BLIND, timings=timings)
        planner.started_at(0.0)
        planner.observe(began_generating[0], None, "Reasoning")
        planner.observe(began_generating[1], None, "Generating")
        low, high = planner.expected_window() or (0.0, 0.0)
        now, polls = began_generating[1], []
        while now < high - 1e-9:
            now += planner.next_delay(now)
            polls.append(now)
            planner.observe(now, None, "Generating")
        assert low < polls[0] <= low + 1.5 * BLIND.dense_interval
        return [b - a for a, b in itertools.pairwise(polls)]

    narrow = gaps((6.0, 6.2))  # Generating began within 0.2 s: finish within ~0.3 s
    wide = gaps((4.0, 8.0))  # within 4 s: finish within ~6 s
    assert len(narrow) >= 1
    assert max(narrow) < 0.5 * BLIND.dense_interval
    assert min(wide) > 0.75 * BLIND.dense_interval
    assert max(wide) <= BLIND.dense_interval


def test_history_that_contradicts_what_the_task_shows_gives_way() -> None:
    # Every earlier task took 3-10 s; this one began Generating at 9-10 s: 13.5-15 s.
    rng = random.Random(6)
    tasks = [rng.uniform(3.0, 10.0) for _ in range(32)]
    timings = _history(
        *[
            _polled(rng, d, (("Pending", 0.0), ("Reasoning", d / 3), ("Generating", 2 * d / 3)))
            for d in tasks
        ]
    )
    submitted = timings.model(SUBMITTED)
    assert submitted is not None
    assert submitted.finish((0.0, 0.0))[1] < 11.0
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(9.0, None, "Reasoning")
    planner.observe(10.0, None, "Generating")
    low, high = planner.expected_window() or (0.0, 0.0)
    assert 11.0 < low <= 13.5  # past every earlier task: the history's range gave way
    assert 15.0 <= high < 17.0
    assert planner.next_delay(10.0) >= low - 10.0  # not "past the window": no poll before it


def test_with_progress_the_first_poll_comes_before_the_expected_finish() -> None:
    # Alike 1 s tasks: the first poll reads a rate that still leaves time to act on.
    timings = _history(*[(1.0, {}) for _ in range(10)])
    model = timings.model(SUBMITTED)
    assert model is not None
    assert model.exact
    schedule = PollSchedule(jitter=0.0)
    planner = PollPlanner(schedule, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    first = planner.first_delay(0.0)
    assert schedule.initial <= first <= 0.95
    planner.observe(first, first / 1.0, "Pending")
    assert planner.next_delay(first) == pytest.approx(1.0 - first)  # right at the finish


def test_windows_come_from_recent_records_only() -> None:
    timings = TaskTimings(size=3)
    for d in (50.0, 50.0, 50.0, 5.0, 5.0, 5.0):
        timings.add(TimingRecord(finished=(d, d), began={SUBMITTED: (0.0, 0.0)}))
    assert [r.finished for r in timings.records()] == [(5.0, 5.0)] * 3
    reading = timings.model(SUBMITTED)
    assert reading is not None
    assert reading.finish((0.0, 0.0)) == (5.0, 5.0)


def test_ignored_progress_does_not_sharpen_the_history() -> None:
    timings = TaskTimings()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(1.0, 0.5, "Pending")  # would predict 2.0
    planner.observe(3.0, 1.0, "Ready")
    assert timings.records()[0].finished == (1.0, 3.0)
    with_progress = PollPlanner(NO_JITTER, rng=random.Random(1), timings=timings)
    with_progress.started_at(0.0)
    with_progress.observe(1.0, 0.5, "Pending")
    with_progress.observe(3.0, 1.0, "Ready")
    assert timings.records()[1].finished == (2.0, 2.0)


# --- Robustness: long waits, absurd answers, any sequence of polls. ---


def test_hours_of_polling_never_overflow_the_backoff() -> None:
    # 1.5 ** 1750 overflows a float: about two hours of polls at the 4 s cap.
    planner = PollPlanner(BLIND, rng=random.Random(1))
    delays = []
    for poll in range(3000):
        planner.observe(4.0 * poll, None, "Pending")
        delays.append(planner.next_delay(4.0 * poll))
    assert delays[-1] == BLIND.max_interval
    assert BLIND.backed_off(BLIND.initial, 10**9) == BLIND.max_interval


def test_a_late_wait_never_overflows_its_backoff() -> None:
    timings = _history(*[(2.0, {}) for _ in range(5)])
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    now = planner.first_delay(0.0)
    for _ in range(3000):  # long past the window of 2 s tasks
        planner.observe(now, None, "Pending")
        now += planner.next_delay(now)
    assert planner.next_delay(now) == BLIND.max_interval


@pytest.mark.parametrize("min_interval", [0.0, 0.05])
def test_progress_that_stalls_for_hours_never_overflows_the_floor(min_interval: float) -> None:
    # Each poll timed by the prediction that finds the task still running doubles a floor
    # (2.0 ** 1024 overflows a float); with no minimum interval the floor still grows.
    schedule = attrs.evolve(NO_JITTER, min_interval=min_interval, progress_margin=0.0)
    planner = PollPlanner(schedule, rng=random.Random(1))
    planner.started_at(0.0)
    now, polls = 0.5, 0
    while now < 7200.0:  # two hours
        planner.observe(now, 0.99, "Pending")
        now += planner.next_delay(now)
        polls += 1
    assert planner.next_delay(now) == schedule.max_interval
    assert polls < 7200 / schedule.max_interval + 100  # never a tight loop


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -0.5, -1e308])
def test_progress_that_is_no_number_is_no_news(value: float) -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.started_at(0.0)
    planner.observe(1.0, value, "Pending")
    assert not planner.reports_percent
    assert planner.predicted_ready_at() is None or planner.predicted_ready_at() == 0.0
    assert NO_JITTER.min_interval <= planner.next_delay(1.0) <= NO_JITTER.max_interval
    planner.observe(2.0, 0.5, "Pending")  # a real value afterwards still counts
    assert planner.predicted_ready_at() == pytest.approx(4.0)


def test_a_huge_progress_is_a_percentage_of_at_most_all() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    planner.started_at(0.0)
    planner.observe(1.0, 1e308, "Pending")
    assert planner.reports_percent
    assert planner.predicted_ready_at() == 1.0  # "done": poll again at once (the margin)
    assert planner.next_delay(1.0) == pytest.approx(NO_JITTER.progress_margin)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_interval": 5.0}, "min_interval"),
        ({"max_interval": math.inf}, "max_interval"),
        ({"initial": math.nan}, "initial"),
        ({"dense_interval": math.inf}, "dense_interval"),
    ],
)
def test_a_schedule_with_impossible_intervals_is_refused(
    changes: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PollSchedule(**changes)  # type: ignore[arg-type]


times = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1e3, 1e3)
progresses = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1)
statuses = st.none() | st.sampled_from(
    ["Pending", "Reasoning", "Generating", "Ready", "Queued", SUBMITTED]
)
seconds = st.floats(1e-6, 1e4)


@st.composite
def schedules(draw: st.DrawFn) -> PollSchedule:
    low, high = sorted((draw(st.floats(0, 1e4)), draw(seconds)))
    return PollSchedule(
        initial=draw(seconds),
        backoff=draw(st.floats(1, 1e3)),
        max_interval=high if high > 0 else 1.0,
        min_interval=low,
        jitter=draw(st.floats(0, 0.99)),
        use_progress=draw(st.booleans()),
        learn=draw(st.booleans()),
        dense_interval=draw(st.floats(1e-300, 1e4)),
        progress_margin=draw(st.floats(0, 1e3)),
    )


@given(
    schedule=schedules(),
    waits=st.lists(
        st.tuples(
            st.none() | times,  # submission time (None: not known)
            st.lists(st.tuples(times, progresses, statuses), max_size=12),
        ),
        min_size=1,
        max_size=6,
    ),
    grace=st.floats(0, 1e3),
)
@settings(max_examples=300, deadline=None)
def test_every_delay_is_finite_and_within_the_schedule(
    schedule: PollSchedule,
    waits: list[tuple[float | None, list[tuple[float, float | None, str | None]]]],
    grace: float,
) -> None:
    """Whatever the answers and the clock say, one history shared by several waits."""
    timings = TaskTimings(size=8)
    for submitted, polls in waits:
        planner = PollPlanner(schedule, rng=random.Random(0), timings=timings)
        if submitted is not None:
            planner.started_at(submitted)
            first = planner.first_delay(submitted)
            assert 0.0 <= first <= max(schedule.initial, schedule.max_interval)
        for now, progress, status in polls:
            planner.observe(now, progress, status)
            delay = planner.next_delay(now)
            assert math.isfinite(delay)
            assert schedule.min_interval <= delay <= schedule.max_interval
            webhook = planner.next_delay_with_webhook(now, grace)
            assert math.isfinite(webhook)
            assert webhook >= schedule.min_interval


def test_a_tiny_dense_interval_over_a_huge_window_still_plans_a_poll() -> None:
    schedule = PollSchedule(jitter=0.0, use_progress=False, dense_interval=1e-300)
    timings = _history(*[(d, {}) for d in (1e9, 2e9, 3e9, 4e9)])
    planner = PollPlanner(schedule, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(2e9, None, "Pending")
    assert planner.next_delay(2e9) == pytest.approx(schedule.min_interval, abs=1e-3)


def test_a_clock_that_jumps_back_from_absurd_times_still_gives_a_delay() -> None:
    # The example hypothesis found: a Ready seen at an absurd clock time, then the clock
    # back at 0, with a dense interval so small that the grid's step count overflows.
    schedule = PollSchedule(
        initial=1.0,
        backoff=1.0,
        max_interval=1.0,
        jitter=0.0,
        use_progress=False,
        min_interval=0.0,
        progress_margin=0.0,
        dense_interval=1.2933260252165125e-103,
    )
    planner = PollPlanner(schedule, rng=random.Random(0), timings=TaskTimings(size=8))
    planner.started_at(0.0)
    for now in (5.812508291676229e205, 0.0, 0.0):
        planner.observe(now, None, "Ready")
        assert schedule.min_interval <= planner.next_delay(now) <= schedule.max_interval
