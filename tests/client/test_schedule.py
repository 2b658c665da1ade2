"""The polling schedule: fast start, backoff with jitter, progress-guided prediction."""

from __future__ import annotations

import asyncio
import itertools
import random

import attrs
import pytest
from flux_flex import PollSchedule
from flux_flex._core.schedule import (
    MIN_RECORDS,
    SUBMITTED,
    PollPlanner,
    TaskTimings,
    TimingRecord,
)

NO_JITTER = PollSchedule(
    initial=0.5, backoff=2.0, max_interval=4.0, jitter=0.0, min_interval=0.05, progress_margin=0.1
)


def test_starts_fast_and_backs_off_to_the_cap() -> None:
    planner = PollPlanner(NO_JITTER, rng=random.Random(1))
    delays = []
    for t in range(6):
        planner.observe(float(t), None)
        delays.append(planner.next_delay(float(t)))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_stays_within_its_band_and_varies() -> None:
    schedule = PollSchedule(initial=1.0, backoff=1.0, max_interval=10.0, jitter=0.2)
    planner = PollPlanner(schedule, rng=random.Random(7))
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


def _wait(
    schedule: PollSchedule,
    timings: TaskTimings,
    duration: float,
    *,
    statuses: tuple[tuple[str, float], ...] = (),
    submitted: float = 100.0,
) -> list[float]:
    """Drive one planner over a task of ``duration`` s without progress; the poll times
    (seconds after submitting). ``statuses``: (status, elapsed when it begins)."""
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


def _history(*records: tuple[float, dict[str, float]]) -> TaskTimings:
    timings = TaskTimings()
    for finished, began in records:
        timings.add(TimingRecord(finished=finished, began={SUBMITTED: 0.0, **began}))
    return timings


def test_a_ready_task_is_recorded_with_its_finish_between_the_last_two_polls() -> None:
    timings = TaskTimings()
    polls = _wait(BLIND, timings, 3.0, statuses=(("Generating", 1.0),))
    assert polls[-1] >= 3.0 > polls[-2]
    (record,) = timings.records()
    assert record.finished == pytest.approx((polls[-1] + polls[-2]) / 2)
    assert record.began[SUBMITTED] == 0.0
    first_generating = next(i for i, t in enumerate(polls) if t >= 1.0)
    assert record.began["Generating"] == pytest.approx(
        (polls[first_generating - 1] + polls[first_generating]) / 2
    )
    assert "Ready" not in record.began


def test_with_progress_the_predicted_finish_is_recorded() -> None:
    timings = TaskTimings()
    planner = PollPlanner(NO_JITTER, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(0.5, 0.25, "Pending")  # ready at 2.0
    planner.observe(2.1, 1.0, "Ready")
    assert timings.records()[0].finished == pytest.approx(2.0)


def test_ready_at_the_first_poll_records_only_the_bound() -> None:
    timings = TaskTimings()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(10.0)
    planner.observe(12.0, None, "Ready")
    assert timings.records()[0].finished == pytest.approx(2.0)


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
    assert timings.window(SUBMITTED, 0.0) is None
    alone = _wait(BLIND, TaskTimings(), 10.0)
    assert _wait(BLIND, timings, 10.0) == alone
    assert alone[0] == BLIND.initial  # the plain backoff: 0.5 s, 0.75 s, ...


def test_alike_tasks_skip_the_early_polls_and_poll_densely_around_the_finish() -> None:
    timings = _history(*[(d, {}) for d in (9.5, 10.0, 10.5, 10.2, 9.8)])
    low, high = timings.window(SUBMITTED, 0.0) or (0.0, 0.0)
    assert 8.0 < low < 9.5
    assert 10.5 < high < 12.0
    polls = _wait(BLIND, timings, 10.0)
    # At most max_interval apart before the window, then spaced across it: 5 polls (a
    # fixed 1 s poller makes 10; the plain backoff 7, and finds the task 0.9 s late).
    assert polls[0] == BLIND.max_interval
    assert len(polls) <= 5
    assert polls[-1] - 10.0 <= (high - low) / 4
    plain = _wait(attrs.evolve(BLIND, learn=False), timings, 10.0)
    assert len(plain) >= 7
    assert plain[-1] - 10.0 > 0.5


def test_a_task_longer_than_the_history_backs_off_from_the_dense_interval() -> None:
    timings = _history(*[(2.0, {}) for _ in range(5)])
    polls = _wait(BLIND, timings, 30.0)
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    late = [g for t, g in zip(polls, gaps, strict=False) if t > 3.0]
    assert late == sorted(late)  # spacing grows again past the window ...
    assert late[-1] == BLIND.max_interval  # ... up to the cap
    assert polls[-1] - 30.0 <= BLIND.max_interval


def test_the_status_that_begins_a_fixed_last_phase_predicts_the_finish() -> None:
    # History: Generating always lasts 2 s, whatever came before it.
    timings = _history(
        *[(b + 2.0, {"Generating": b}) for b in (1.0, 5.0, 9.0, 13.0, 3.0)],
    )
    window = timings.window("Generating", 7.0)
    assert window is not None
    assert window[0] == pytest.approx(9.0 - 0.1 * 9.0)  # 7 + 2, widened by the slack
    assert window[1] == pytest.approx(9.0 + 0.1 * 9.0)
    # Proportional phases: Generating begins at 30 % of the task.
    timings = _history(*[(d, {"Generating": 0.3 * d}) for d in (4.0, 10.0, 16.0, 7.0)])
    low, high = timings.window("Generating", 3.0) or (0.0, 0.0)
    assert low == pytest.approx(9.0)
    assert high == pytest.approx(11.0)


def test_the_tightest_window_among_the_statuses_seen_is_used() -> None:
    timings = _history(*[(b + 2.0, {"Generating": b}) for b in (1.0, 5.0, 9.0, 13.0, 3.0)])
    submitted_window = timings.window(SUBMITTED, 0.0)
    assert submitted_window is not None
    assert submitted_window[1] - submitted_window[0] > 10
    polls = _wait(BLIND, timings, 12.0, statuses=(("Generating", 10.0),))
    # Once Generating is seen, the polls close in on 12 s instead of spreading over 3-15 s.
    assert polls[-1] - 12.0 <= BLIND.dense_interval
    seen = next(t for t in polls if t >= 10.0)
    assert len([t for t in polls if t > seen]) <= 4


def test_windows_come_from_recent_records_only() -> None:
    timings = TaskTimings(size=3)
    for d in (50.0, 50.0, 50.0, 5.0, 5.0, 5.0):
        timings.add(TimingRecord(finished=d, began={SUBMITTED: 0.0}))
    assert [r.finished for r in timings.records()] == [5.0, 5.0, 5.0]


def test_ignored_progress_does_not_sharpen_the_history() -> None:
    timings = TaskTimings()
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(1.0, 0.5, "Pending")  # would predict 2.0
    planner.observe(3.0, 1.0, "Ready")
    assert timings.records()[0].finished == pytest.approx(2.0)  # the midpoint, by chance
    planner = PollPlanner(BLIND, rng=random.Random(1), timings=timings)
    planner.started_at(0.0)
    planner.observe(1.0, 0.25, "Pending")  # would predict 4.0 - outside the bracket anyway
    planner.observe(2.0, 0.9, "Pending")  # would predict ~2.2
    planner.observe(4.0, 1.0, "Ready")
    assert timings.records()[1].finished == pytest.approx(3.0)


def test_a_client_learns_from_its_waits_and_polls_later_tasks_later() -> None:
    """End to end (FluxFlex -> wait_flow -> planner): each Ready wait is recorded on the
    client, and once there is history the first poll waits for the expected finish."""
    from flux_flex import FluxFlex
    from flux_flex.testing import FakeBFL

    schedule = PollSchedule(use_progress=False, jitter=0.0).scaled(0.1)  # initial 0.05 s
    with (
        FakeBFL(task_seconds=0.4, api_key="k") as fake,
        FluxFlex(api_key="k", base_url=fake.base_url, poll_schedule=schedule) as client,
    ):
        jobs = []
        for _ in range(MIN_RECORDS + 1):
            job = client.submit("a fox")
            job.wait(timeout=30)
            jobs.append(job)
        records = client._core.timings.records()
        assert len(records) == MIN_RECORDS + 1
        assert all(r.finished >= 0.3 for r in records)  # 0.4 s tasks (bracketed by polls)

        def first_poll_after_creation(task_id: str) -> float:
            task = fake.tasks[task_id]
            polls = [
                r.at
                for r in fake.requests
                if r.path.endswith("get_result") and r.query.get("id") == task_id
            ]
            return min(polls) - task.created_at

        # With history, not before the window of expected finishes (~0.4 s less 10 % slack;
        # without, the backoff's first poll comes `initial`, 0.05 s, after submitting). A
        # lower bound only: a loaded machine can make the poll later, never earlier.
        assert first_poll_after_creation(jobs[-1].id) >= 0.3


def test_a_with_options_copy_shares_the_history() -> None:
    from flux_flex import AsyncFluxFlex, FluxFlex

    with FluxFlex(api_key="k", base_url="http://127.0.0.1:9") as client:
        assert client.with_options(timeout=5)._core.timings is client._core.timings
    other = AsyncFluxFlex(api_key="k", base_url="http://127.0.0.1:9")
    try:
        assert other.with_options(max_retries=0)._core.timings is other._core.timings
        assert other._core.timings is not client._core.timings  # one history per client
    finally:
        asyncio.run(other.close())
