"""The polling schedule on a virtual clock (benchmarks/simulate.py): poll counts and delays
against a fixed 1 s poller on the same simulated tasks. Exact and deterministic (seeded),
no server and no sleeping: these are counts, not timings."""

from __future__ import annotations

import pytest

from benchmarks.simulate import SCENARIOS, SimTask, fixed_interval, run_scenario, wait_all

BY_NAME = {s.name: s for s in SCENARIOS}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, float]]:
    return {name: run_scenario(s, 160) for name, s in BY_NAME.items()}


def test_with_progress_a_third_of_the_polls_and_no_delay(results: dict[str, dict]) -> None:
    r = results["progress"]
    assert r["polls_ratio"] <= 0.35
    assert r["schedule"]["delay_p50_s"] <= 0.01  # virtual clock: the prediction is exact


def test_alike_tasks_without_progress_beat_the_one_second_poller(results: dict[str, dict]) -> None:
    r = results["alike_no_progress"]
    assert r["polls_ratio"] <= 0.6
    assert r["delay_p50_ratio"] <= 1.0


def test_spread_tasks_without_progress_cost_fewer_polls_and_end_no_later_than_the_cap(
    results: dict[str, dict],
) -> None:
    # 2-20 s tasks with nothing to predict them: only the history's range helps (the
    # report explains why no schedule can do much better here).
    r = results["no_progress"]
    assert r["polls_ratio"] <= 0.9
    assert r["schedule"]["delay_max_s"] <= 4.0  # never worse than max_interval
    assert r["delay_p50_ratio"] <= 1.5


def test_the_fixed_poller_is_counted_exactly() -> None:
    assert fixed_interval(SimTask(2.5)) == (3, 0.5)
    assert fixed_interval(SimTask(3.0)) == (3, 0.0)


def test_a_shared_history_helps_later_tasks() -> None:
    from flux_flex._core.schedule import PollSchedule

    tasks = BY_NAME["alike_no_progress"].tasks(64)
    shared = wait_all(PollSchedule(), tasks, concurrency=8, shared=True)
    alone = wait_all(PollSchedule(), tasks, concurrency=8, shared=False)
    assert sum(p for p, _ in shared[32:]) < sum(p for p, _ in alone[32:])
    learning_off = wait_all(PollSchedule(learn=False), tasks, concurrency=8, shared=True)
    assert sum(p for p, _ in shared[32:]) < sum(p for p, _ in learning_off[32:])
