"""The polling schedule: fast start, backoff with jitter, progress-guided prediction."""

from __future__ import annotations

import random

import pytest
from flux_flex import PollSchedule
from flux_flex._core.schedule import PollPlanner

NO_JITTER = PollSchedule(initial=0.5, backoff=2.0, max_interval=4.0, jitter=0.0, min_interval=0.05)


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
    for progress in (0.9, 0.99, 0.99, 0.99, 0.99, 0.99):  # stalls just before the end
        now += 0.5
        planner.observe(now, progress)
        delay = planner.next_delay(now)
        delays.append(delay)
        now += delay - 0.5
    assert delays[0] < 0.5  # first prediction trusted: poll right after the finish
    assert delays[1:] == sorted(delays[1:])  # then the floor only grows
    assert delays[1] >= NO_JITTER.initial
    assert delays[-1] == NO_JITTER.max_interval
