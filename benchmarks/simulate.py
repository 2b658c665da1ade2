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
    """A task lasting ``duration`` s: ``Pending`` at first, then each of ``starts``
    (status, seconds after the submission when it begins) in turn, then ``Ready``;
    progress rises linearly unless ``progress`` is False (null)."""

    duration: float
    starts: tuple[tuple[str, float], ...] = ()
    progress: bool = True

    def answer(self, t: float) -> Answer:
        """What a poll the API answers ``t`` s after the submission sees."""
        if t >= self.duration:
            return "Ready", 1.0 if self.progress else None
        status = "Pending"
        for name, begins in self.starts:
            if t >= begins:
                status = name
        return status, (t / self.duration if self.progress else None)


def fake_task(seconds: float, lifecycle: Sequence[Any], *, progress: bool = False) -> SimTask:
    """A task as `FakeBFL(lifecycle=...)` runs it (the fake's own planning code): statuses
    given with seconds last that long, the others share what is left of ``seconds``."""
    from flux_flex.testing._lifecycle import plan

    ends = plan(lifecycle, seconds, 0.0)
    starts, at = [], 0.0
    for name, end in ends:
        starts.append((name, at))
        at = end
    return SimTask(at, tuple(starts), progress)


def shares_task(seconds: float, shares: Sequence[tuple[str, float]]) -> SimTask:
    """A task whose statuses begin at the given shares of its duration, progress null."""
    return SimTask(seconds, tuple((name, share * seconds) for name, share in shares), False)


@dataclass(frozen=True)
class Scenario:
    """A named set of simulated tasks."""

    name: str
    description: str
    tasks: Callable[[int], list[SimTask]]


THIRDS = ("Pending", "Reasoning", "Generating")  # FakeBFL's default lifecycle


def _spread(count: int) -> list[float]:
    return durations(count, 2.0, 20.0)


def _alike(count: int) -> list[float]:
    rng = random.Random(3)
    return [10.0 * rng.uniform(0.9, 1.1) for _ in range(count)]


def _noisy(count: int) -> list[SimTask]:
    """Phases that neither stretch with the task nor keep their length: each task's
    Reasoning and Generating begin at random shares of it."""
    rng = random.Random(5)
    return [
        shares_task(
            d, (("Reasoning", rng.uniform(0.05, 0.3)), ("Generating", rng.uniform(0.35, 0.8)))
        )
        for d in _spread(count)
    ]


def _mixed(count: int) -> list[SimTask]:
    """Every other task without Reasoning (as the fake runs ``prompt_upsampling=false``)."""
    return [
        fake_task(d, THIRDS if i % 2 else ("Pending", "Generating"))
        for i, d in enumerate(_spread(count))
    ]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "progress",
        "2-20 s, FakeBFL's default: statuses in thirds, linear progress",
        lambda n: [fake_task(d, THIRDS, progress=True) for d in _spread(n)],
    ),
    Scenario(
        "no_progress",
        "2-20 s, Pending only, progress null",
        lambda n: [SimTask(d, progress=False) for d in _spread(n)],
    ),
    Scenario(
        "statuses_thirds",
        "2-20 s, progress null, Pending, Reasoning, Generating a third each (FakeBFL's default)",
        lambda n: [fake_task(d, THIRDS) for d in _spread(n)],
    ),
    Scenario(
        "statuses_unequal",
        "2-20 s, progress null, Reasoning at 5 %, Generating at 30 % of the duration",
        lambda n: [shares_task(d, (("Reasoning", 0.05), ("Generating", 0.3))) for d in _spread(n)],
    ),
    Scenario(
        "statuses_fixed_reasoning",
        "2-20 s, progress null, Reasoning lasts 1.5 s, Pending and Generating share the rest",
        lambda n: [fake_task(d, ("Pending", ("Reasoning", 1.5), "Generating")) for d in _spread(n)],
    ),
    Scenario(
        "statuses_fixed_tail",
        "2-20 s, progress null, Generating the last 2 s, Pending and Reasoning share the rest",
        lambda n: [fake_task(d, ("Pending", "Reasoning", ("Generating", 2.0))) for d in _spread(n)],
    ),
    Scenario(
        "statuses_noisy",
        "2-20 s, progress null, Reasoning at 5-30 %, Generating at 35-80 % (random per task)",
        _noisy,
    ),
    Scenario(
        "statuses_mixed",
        "2-20 s, progress null, thirds, every other task without Reasoning (halves)",
        _mixed,
    ),
    Scenario(
        "alike_no_progress",
        "10 s +/- 10 % (a batch of alike tasks), Pending only, progress null",
        lambda n: [SimTask(d, progress=False) for d in _alike(n)],
    ),
    Scenario(
        "alike_thirds",
        "10 s +/- 10 %, progress null, statuses in thirds (the live benchmark's alike row)",
        lambda n: [fake_task(d, THIRDS) for d in _alike(n)],
    ),
)


class FixedPoller:
    """A sleep-then-poll loop at a fixed ``interval`` (the vendor SDK's), planner-shaped."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval

    def first_delay(self, now: float) -> float:
        return self.interval

    def next_delay(self, now: float) -> float:
        return self.interval

    def observe(self, now: float, progress: float | None, status: str | None = None) -> None:
        pass


def wait_all(
    schedule: Any,
    tasks: Sequence[SimTask],
    *,
    concurrency: int,
    shared: bool,
    seed: int = 1,
    latency: float = 0.0,
) -> list[tuple[int, float]]:
    """(polls, delay after Ready) of each task, waited ``concurrency`` at a time on a virtual
    clock (each slot submits its next task the moment its previous one is known ready), all
    slots sharing one history (``shared``, one client) or each keeping its own.

    ``schedule`` is a `PollSchedule`, or None for a fixed 1 s poller. With ``latency``, each
    request takes a random time (mean ``latency`` s each way) to reach the API and to come
    back: the API answers for the moment it got the poll, the client learns it later, and
    the client's submission time is when the submission's answer came back (as in
    `FluxFlex`); the delay is measured to when the answer is back.
    """
    import heapq

    from flux_flex._core.schedule import PollPlanner, TaskTimings

    rng = random.Random(seed)
    lag = random.Random(seed + 1)
    common = TaskTimings()
    histories = [common if shared else TaskTimings() for _ in range(concurrency)]
    queue = list(range(len(tasks)))[::-1]
    results: list[tuple[int, float]] = [(0, 0.0)] * len(tasks)
    events: list[tuple[float, int, int, int]] = []  # (time sent, slot, task index, polls)
    planners: dict[int, tuple[Any, float]] = {}

    def way() -> float:
        return lag.expovariate(1 / latency) if latency > 0 else 0.0

    def start(slot: int, now: float) -> None:
        if not queue:
            return
        index = queue.pop()
        created = now + way()  # when the API made the task
        known = created + way()  # when the client has the answer
        planner: Any = (
            FixedPoller()
            if schedule is None
            else PollPlanner(schedule, rng=rng, timings=histories[slot])
        )
        if schedule is not None:
            planner.started_at(known)
        planners[index] = (planner, created)
        heapq.heappush(events, (known + planner.first_delay(known), slot, index, 0))

    for slot in range(concurrency):
        start(slot, 0.0)
    while events:
        sent, slot, index, polls = heapq.heappop(events)
        planner, created = planners[index]
        task = tasks[index]
        answered = sent + way()
        status, progress = task.answer(answered - created)
        now = answered + way()
        planner.observe(now, progress, status)
        polls += 1
        if status == "Ready":
            results[index] = (polls, now - created - task.duration)
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
    scenario: Scenario,
    tasks: int,
    *,
    concurrency: int = 16,
    shared: bool = True,
    latency: float = 0.0,
    schedule: Any = None,
) -> dict[str, Any]:
    """One scenario: our schedule (``PollSchedule()`` unless given) against the fixed 1 s
    poller on the same tasks and network, and their ratios."""
    from flux_flex._core.schedule import PollSchedule

    sim = scenario.tasks(tasks)
    ours = wait_all(
        schedule or PollSchedule(),
        sim,
        concurrency=concurrency,
        shared=shared,
        latency=latency,
    )
    fixed = (
        [fixed_interval(task) for task in sim]
        if latency == 0
        else wait_all(None, sim, concurrency=concurrency, shared=shared, latency=latency)
    )
    a, b = _figures(ours), _figures(fixed)
    return {
        "description": scenario.description,
        "schedule": a,
        "fixed_1s": b,
        "polls_ratio": round(a["polls_per_task_mean"] / b["polls_per_task_mean"], 3),
        "delay_p50_ratio": round(a["delay_p50_s"] / b["delay_p50_s"], 3),
    }


def run_orders(
    scenario: Scenario,
    tasks: int,
    *,
    orders: int,
    concurrency: int = 16,
    latency: float = 0.0,
    schedule: Any = None,
) -> dict[str, float]:
    """One scenario's ratios against the fixed 1 s poller, averaged over ``orders`` orders of
    its tasks (the first as listed, the others shuffled, seeded): one order of 96 tasks is
    a noisy sample (which tasks come first decides what the history knows when)."""
    from flux_flex._core.schedule import PollSchedule

    polls, delays = [], []
    for order in range(orders):
        sim = scenario.tasks(tasks)
        if order:
            random.Random(order).shuffle(sim)
        kwargs: dict[str, Any] = {
            "concurrency": concurrency,
            "shared": True,
            "seed": order + 1,
            "latency": latency,
        }
        ours = _figures(wait_all(schedule or PollSchedule(), sim, **kwargs))
        fixed = _figures(wait_all(None, sim, **kwargs))
        polls.append(ours["polls_per_task_mean"] / fixed["polls_per_task_mean"])
        delays.append(ours["delay_p50_s"] / fixed["delay_p50_s"])
    return {"polls_ratio": mean(polls), "delay_p50_ratio": mean(delays)}


def run(
    tasks: int = 96, concurrency: int = 16, shared: bool = True, latency: float = 0.0
) -> dict[str, Any]:
    """Every scenario, ``concurrency`` waits at a time, as in the live benchmark."""
    return {
        "tasks": tasks,
        "concurrency": concurrency,
        "shared_history": shared,
        "latency_s": latency,
        "scenarios": {
            s.name: run_scenario(s, tasks, concurrency=concurrency, shared=shared, latency=latency)
            for s in SCENARIOS
        },
    }


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 96
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    lat = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    print(json.dumps(run(n, c, latency=lat), indent=1))
