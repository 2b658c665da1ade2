"""The polling schedule against simulated tasks: no server, no sleeping, no machine noise.

`PollPlanner` is pure code, so its decisions can be replayed on a virtual clock against
tasks whose lifecycle is known exactly: polls per task and delay after Ready, beside a fixed
1 s poller on the same tasks. Each scenario waits its tasks one after the other with one
shared `TaskTimings` (one client's history), as `make bench`'s live polling benchmark does
with a real client and the fake API; this one is exact and runs in milliseconds, so it also
covers lifecycles the fake may not offer (statuses without progress, fixed last phase).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.polling import durations
from benchmarks.stats import mean, percentile

# One poll's answer: (status, progress or None).
Answer = tuple[str, float | None]


@dataclass(frozen=True)
class SimTask:
    """A task lasting ``duration`` s; ``phases`` are (status, share of the duration when it
    begins) after the first, and ``fixed_tail`` (when set) makes the last phase last exactly
    that many seconds instead of a share."""

    duration: float
    phases: tuple[tuple[str, float], ...] = ()
    progress: bool = True
    fixed_tail: float | None = None

    def answer(self, t: float) -> Answer:
        """What a poll at ``t`` s after the submission sees."""
        if t >= self.duration:
            return "Ready", 1.0 if self.progress else None
        status = "Pending"
        for name, share in self.phases:
            begins = share * self.duration
            if self.fixed_tail is not None and name == self.phases[-1][0]:
                begins = max(self.duration - self.fixed_tail, 0.0)
            if t >= begins:
                status = name
        return status, (t / self.duration if self.progress else None)


@dataclass(frozen=True)
class Scenario:
    """A named set of simulated tasks."""

    name: str
    description: str
    tasks: Callable[[int], list[SimTask]]


LIFECYCLE = (("Reasoning", 0.05), ("Generating", 0.3))
THIRDS = (("Reasoning", 1 / 3), ("Generating", 2 / 3))


def _spread(count: int) -> list[float]:
    return durations(count, 2.0, 20.0)


def _alike(count: int) -> list[float]:
    rng = random.Random(3)
    return [10.0 * rng.uniform(0.9, 1.1) for _ in range(count)]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "progress",
        "2-20 s, Pending with linear progress (FakeBFL today)",
        lambda n: [SimTask(d) for d in _spread(n)],
    ),
    Scenario(
        "no_progress",
        "2-20 s, Pending only, progress null",
        lambda n: [SimTask(d, progress=False) for d in _spread(n)],
    ),
    Scenario(
        "statuses_proportional",
        "2-20 s, progress null, Reasoning at 5 %, Generating at 30 % of the duration",
        lambda n: [SimTask(d, LIFECYCLE, progress=False) for d in _spread(n)],
    ),
    Scenario(
        "statuses_thirds",
        "2-20 s, progress null, Pending, Reasoning, Generating a third each (FakeBFL's default)",
        lambda n: [SimTask(d, THIRDS, progress=False) for d in _spread(n)],
    ),
    Scenario(
        "statuses_fixed_tail",
        "2-20 s, progress null, Reasoning at 5 %, Generating the last 2 s",
        lambda n: [SimTask(d, LIFECYCLE, progress=False, fixed_tail=2.0) for d in _spread(n)],
    ),
    Scenario(
        "alike_no_progress",
        "10 s +/- 10 % (a batch of alike tasks), Pending only, progress null",
        lambda n: [SimTask(d, progress=False) for d in _alike(n)],
    ),
)


def wait_all(
    schedule: Any, tasks: Sequence[SimTask], *, concurrency: int, shared: bool, seed: int = 1
) -> list[tuple[int, float]]:
    """(polls, delay after Ready) of each task, waited ``concurrency`` at a time on a virtual
    clock (each slot submits its next task the moment its previous one is known ready), all
    slots sharing one history (``shared``, one client) or each keeping its own."""
    import heapq

    from flux_flex._core.schedule import PollPlanner, TaskTimings

    rng = random.Random(seed)
    common = TaskTimings()
    histories = [common if shared else TaskTimings() for _ in range(concurrency)]
    queue = list(range(len(tasks)))[::-1]
    results: list[tuple[int, float]] = [(0, 0.0)] * len(tasks)
    events: list[tuple[float, int, int, int]] = []  # (time, slot, task index, polls so far)
    planners: dict[int, tuple[PollPlanner, float]] = {}

    def start(slot: int, now: float) -> None:
        if not queue:
            return
        index = queue.pop()
        planner = PollPlanner(schedule, rng=rng, timings=histories[slot])
        planner.started_at(now)
        planners[index] = (planner, now)
        heapq.heappush(events, (now + planner.first_delay(now), slot, index, 0))

    for slot in range(concurrency):
        start(slot, 0.0)
    while events:
        now, slot, index, polls = heapq.heappop(events)
        planner, submitted = planners[index]
        task = tasks[index]
        status, progress = task.answer(now - submitted)
        planner.observe(now, progress, status)
        polls += 1
        if status == "Ready":
            results[index] = (polls, now - submitted - task.duration)
            start(slot, now)
        elif polls > 10_000:
            raise RuntimeError(f"the planner never saw a {task.duration} s task end")
        else:
            heapq.heappush(events, (now + planner.next_delay(now), slot, index, polls))
    return results


def fixed_interval(task: SimTask, interval: float = 1.0) -> tuple[int, float]:
    """(polls, delay) of a sleep-then-poll loop at a fixed ``interval``."""
    polls = max(math.ceil(task.duration / interval - 1e-9), 1)
    return polls, polls * interval - task.duration


def _figures(results: Sequence[tuple[int, float]]) -> dict[str, float]:
    polls = [float(p) for p, _ in results]
    delays = [d for _, d in results]
    return {
        "polls_per_task_mean": round(mean(polls), 3),
        "delay_p50_s": round(percentile(delays, 50), 4),
        "delay_mean_s": round(mean(delays), 4),
        "delay_p90_s": round(percentile(delays, 90), 4),
        "delay_max_s": round(max(delays), 4),
    }


def run_scenario(
    scenario: Scenario, tasks: int, *, concurrency: int = 16, shared: bool = True
) -> dict[str, Any]:
    """One scenario: our schedule against the fixed 1 s poller, and their ratios."""
    from flux_flex._core.schedule import PollSchedule

    sim = scenario.tasks(tasks)
    ours = wait_all(PollSchedule(), sim, concurrency=concurrency, shared=shared)
    fixed = [fixed_interval(task) for task in sim]
    a, b = _figures(ours), _figures(fixed)
    return {
        "description": scenario.description,
        "schedule": a,
        "fixed_1s": b,
        "polls_ratio": round(a["polls_per_task_mean"] / b["polls_per_task_mean"], 3),
        "delay_p50_ratio": round(a["delay_p50_s"] / b["delay_p50_s"], 3),
    }


def run(tasks: int = 96, concurrency: int = 16, shared: bool = True) -> dict[str, Any]:
    """Every scenario, ``concurrency`` waits at a time, as in the live benchmark."""
    return {
        "tasks": tasks,
        "concurrency": concurrency,
        "shared_history": shared,
        "scenarios": {
            s.name: run_scenario(s, tasks, concurrency=concurrency, shared=shared)
            for s in SCENARIOS
        },
    }


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 96
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    print(json.dumps(run(n, c, shared=len(sys.argv) <= 3), indent=1))
