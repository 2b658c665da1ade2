"""How big each benchmark run is: the full run of ``make bench`` and the ``--quick`` smoke size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and time scale of one benchmark run.

    ``scale`` multiplies every duration of the simulated API (task durations, poll intervals)
    so a run stays short; delays are reported divided by it, i.e. in real-API seconds.
    """

    scale: float = 0.1
    # 1. overhead: `overhead_pairs` interleaved (client block, raw block) pairs of
    #    `overhead_ops` tasks (submit + 5 polls) each.
    overhead_pairs: int = 31
    overhead_ops: int = 20
    # 2. polling: tasks with real-API durations spread evenly over [min, max] seconds.
    polling_tasks: int = 96
    polling_concurrency: int = 16
    polling_min_seconds: float = 2.0
    polling_max_seconds: float = 20.0
    # 3. batch: `batch_tasks` of `batch_task_seconds` at `batch_concurrency`, on its own time
    #    scale: 1 s tasks unscaled are issue 14's row (what a slot loses per task shows at
    #    its true size against a short task).
    batch_tasks: int = 240
    batch_concurrency: int = 24
    batch_task_seconds: float = 1.0
    batch_scale: float = 1.0
    # 4. cold start: runs of each command.
    coldstart_runs: int = 15
    # 5, 6: the receiver and batch-memory benchmarks size themselves (``quick`` or not).
    # 7. schedule simulation: tasks per scenario (virtual clock, no server).
    simulate_tasks: int = 400

    def with_scale(self, scale: float) -> BenchSettings:
        """These settings with another time scale."""
        if not 0 < scale <= 1:
            raise ValueError(f"--scale must be in (0, 1], got {scale}")
        return dataclasses.replace(self, scale=scale)


FULL = BenchSettings()

# Tiny: each benchmark runs once, the whole suite in a few seconds (the smoke test's size).
QUICK = BenchSettings(
    scale=0.01,
    overhead_pairs=3,
    overhead_ops=3,
    polling_tasks=6,
    polling_concurrency=6,
    batch_tasks=8,
    batch_concurrency=4,
    batch_task_seconds=1.0,
    batch_scale=0.05,
    coldstart_runs=1,
    simulate_tasks=32,
)
