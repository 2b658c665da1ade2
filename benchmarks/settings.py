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
    #    `overhead_ops` submit+poll operations each.
    overhead_pairs: int = 21
    overhead_ops: int = 40
    # 2. polling: tasks with real-API durations spread evenly over [min, max] seconds.
    polling_tasks: int = 96
    polling_concurrency: int = 16
    polling_min_seconds: float = 2.0
    polling_max_seconds: float = 20.0
    # 3. batch: `batch_tasks` of `batch_task_seconds` (real-API seconds) at `batch_concurrency`.
    batch_tasks: int = 240
    batch_concurrency: int = 24
    # The middle of the 2-20 s range of benchmark 2: a typical FLEX generation.
    batch_task_seconds: float = 10.0
    # 4. cold start: runs of each command.
    coldstart_runs: int = 15

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
    overhead_ops=5,
    polling_tasks=6,
    polling_concurrency=6,
    batch_tasks=8,
    batch_concurrency=4,
    batch_task_seconds=5.0,
    coldstart_runs=1,
)
