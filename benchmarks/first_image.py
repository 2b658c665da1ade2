"""Benchmark "first_image": the first wait of a process, cold and warm, against a fixed 1 s loop.

Simulated on a virtual clock with the pure `PollPlanner` (as `simulate`), so exact: every
task is the first wait of a new process (a `TaskTimings` of its own), with answers that
carry no progress and only ``Pending`` then ``Ready``.

- ``fresh``: nothing kept from before (durations spread over 2-30 s, including about 4, 9,
  17 and 30 s): polls and median delay after Ready against the fixed 1 s loop;
- ``warm``: each process starts with the history an earlier process kept (32 alike tasks of
  10 s +/- 10 %, passed through the cache file's JSON format, as `_timings_cache` does),
  then waits one more alike task.
"""

from __future__ import annotations

import json
import random
from typing import Any

from benchmarks.simulate import SimTask, fixed_interval, wait_all
from benchmarks.stats import mean, percentile

ISSUE_DURATIONS = (4.3, 9.6, 17.2, 30.8)


def _fresh_durations(count: int) -> list[float]:
    rng = random.Random(11)
    spread = [2.0 + 28.0 * rng.random() for _ in range(count)]
    return [*ISSUE_DURATIONS, *spread]


def _alike(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [10.0 * rng.uniform(0.9, 1.1) for _ in range(count)]


def _figures(ours: list[tuple[int, float]], loop: list[tuple[int, float]]) -> dict[str, float]:
    a_polls, b_polls = mean([p for p, _ in ours]), mean([p for p, _ in loop])
    a_delay = percentile([d for _, d in ours], 50)
    b_delay = percentile([d for _, d in loop], 50)
    return {
        "polls_per_task": round(a_polls, 3),
        "loop_polls_per_task": round(b_polls, 3),
        "delay_p50_s": round(a_delay, 4),
        "loop_delay_p50_s": round(b_delay, 4),
        "polls_ratio": round(a_polls / b_polls, 3),
        "delay_p50_ratio": round(a_delay / b_delay, 3) if b_delay > 0 else 0.0,
    }


def fresh(count: int) -> dict[str, Any]:
    """First waits of fresh processes (no history) against the fixed 1 s loop."""
    from flux_flex._core.schedule import PollSchedule

    tasks = [SimTask(d, progress=False) for d in _fresh_durations(count)]
    ours = [
        wait_all(PollSchedule(), [t], concurrency=1, shared=False, seed=i)[0]
        for i, t in enumerate(tasks)
    ]
    loop = [fixed_interval(t) for t in tasks]
    per_issue = {
        f"{t.duration:g}s": {"polls": o[0], "delay_s": round(o[1], 3), "loop_polls": f[0]}
        for t, o, f in zip(tasks[: len(ISSUE_DURATIONS)], ours, loop, strict=False)
    }
    return {"tasks": len(tasks), **_figures(ours, loop), "issue_durations": per_issue}


def warm(count: int) -> dict[str, Any]:
    """First waits of processes that start with the history an earlier one kept."""
    from flux_flex._core.schedule import (
        PollPlanner,
        PollSchedule,
        TaskTimings,
        records_from_json,
        records_to_json,
    )

    earlier = TaskTimings()
    history = [SimTask(d, progress=False) for d in _alike(32, seed=21)]
    # The earlier process: one client waiting its tasks one after the other.
    rng = random.Random(1)
    for task in history:
        _wait_one(PollPlanner(PollSchedule(), rng=rng, timings=earlier), task)
    kept = json.loads(json.dumps(records_to_json(earlier.records())))
    tasks = [SimTask(d, progress=False) for d in _alike(count, seed=22)]
    ours = []
    for i, task in enumerate(tasks):
        timings = TaskTimings()
        timings.restore(records_from_json(kept))  # a new process reads the file
        planner = PollPlanner(PollSchedule(), rng=random.Random(i), timings=timings)
        ours.append(_wait_one(planner, task))
    loop = [fixed_interval(t) for t in tasks]
    return {"tasks": len(tasks), "history_records": len(kept["records"]), **_figures(ours, loop)}


def _wait_one(planner: Any, task: SimTask) -> tuple[int, float]:
    """(polls, delay after Ready) of one wait on a virtual clock, no latency."""
    planner.started_at(0.0)
    now = planner.first_delay(0.0)
    polls = 0
    while True:
        status, progress = task.answer(now)
        planner.observe(now, progress, status)
        polls += 1
        if status == "Ready":
            return polls, now - task.duration
        now += planner.next_delay(now)


def run(tasks: int = 400) -> dict[str, Any]:
    """Both rows."""
    return {"fresh": fresh(tasks), "warm": warm(tasks)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
