"""Benchmark 3: ``AsyncFluxFlex.generate_many`` throughput under the 24-in-flight limit.

``tasks`` tasks of one fixed duration, ``concurrency`` at a time, against the ideal
``ceil(tasks / concurrency) x duration`` (every slot refilled the instant its task is ready).
Also: outcomes that are errors (429s among them) as the caller sees them, 429s the fake sent
(POSTs it received beyond the tasks it created; no faults are injected) and TCP connections
the fake accepted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from benchmarks.fake_server import prompt_lasting
from benchmarks.fakeproc import FakeProcess
from benchmarks.stats import mean

if TYPE_CHECKING:
    from flux_flex.models import AsyncResult

    Outcome = AsyncResult | BaseException

WAIT_TIMEOUT = 300.0


async def _generate_all(
    fake: FakeProcess, prompts: list[str], concurrency: int, scale: float
) -> tuple[list[Outcome], list[float], float, float]:
    """Outcomes, the monotonic time each reached the caller, start time and wall seconds."""
    from flux_flex import AsyncFluxFlex, PollSchedule

    returned = [math.nan] * len(prompts)

    def on_result(index: int, outcome: object) -> None:
        returned[index] = time.monotonic()

    async with AsyncFluxFlex(
        api_key=fake.api_key, base_url=fake.base_url, poll_schedule=PollSchedule().scaled(scale)
    ) as client:
        started = time.monotonic()
        outcomes = await client.generate_many(
            prompts, concurrency=concurrency, timeout=WAIT_TIMEOUT, on_result=on_result
        )
        return list(outcomes), returned, started, time.monotonic() - started


def _where_time_went(
    outcomes: list[Outcome],
    returned: list[float],
    tasks: dict[str, Any],
    started: float,
    concurrency: int,
    scale: float,
) -> dict[str, Any]:
    """Split the excess over the ideal: delay after Ready, and slot refill (free -> created).

    A slot frees when a result reaches the caller; the (k + concurrency)-th task created
    refills the k-th slot freed. Both means are in real-API seconds (divided by scale).
    """
    delays: list[float] = []
    for outcome, at in zip(outcomes, returned, strict=True):
        task = None if isinstance(outcome, BaseException) else tasks.get(outcome.id)
        if task is not None and not math.isnan(at):
            delays.append(at - float(task["ready_at"]))
    created = sorted(float(t["created_at"]) for t in tasks.values())
    freed = sorted(at for at in returned if not math.isnan(at))
    refills = [c - f for c, f in zip(created[concurrency:], freed, strict=False)]
    first_submit = [c - started for c in created[:concurrency]]
    return {
        "delay_after_ready_mean_s": round(mean(delays) / scale, 4) if delays else None,
        "slot_refill_mean_s": round(mean(refills) / scale, 4) if refills else None,
        "first_wave_submit_spread_s": round(max(first_submit) / scale, 4) if first_submit else None,
        "measured_delay_after_ready_mean_ms": round(mean(delays) * 1e3, 2) if delays else None,
        "measured_slot_refill_mean_ms": round(mean(refills) * 1e3, 2) if refills else None,
    }


def run(
    fake: FakeProcess, *, scale: float, tasks: int, concurrency: int, task_seconds: float
) -> dict[str, Any]:
    """Wall time against the ideal, errors seen by the caller, 429s sent, connections opened."""
    from flux_flex.errors import RateLimitError

    duration = task_seconds * scale
    prompts = [prompt_lasting(duration, f"batch bench {i}") for i in range(tasks)]
    before = fake.snapshot(fake.mark())
    mark = fake.mark()
    outcomes, returned, started, wall = asyncio.run(
        _generate_all(fake, prompts, concurrency, scale)
    )
    ids = [o.id for o in outcomes if not isinstance(o, BaseException)]
    record = fake.snapshot(mark, ids)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    ideal = math.ceil(tasks / concurrency) * duration
    posts = record["by_route"].get("POST /v1/flux-2-flex", 0)
    created = record["task_count"] - before["task_count"]
    # Without injected faults every POST either created a task or was refused with 429.
    refused = int(record["statuses"].get("429", posts - created))
    connections = record["connections"]
    if isinstance(connections, int) and isinstance(before["connections"], int):
        connections -= before["connections"]
    excess_per_round = (wall - ideal) / math.ceil(tasks / concurrency)
    return {
        "scale": scale,
        "tasks": tasks,
        "concurrency": concurrency,
        "task_seconds": task_seconds,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "ratio_to_ideal": round(wall / ideal, 3),
        "outcomes": len(outcomes),
        "results": len(outcomes) - len(errors),
        "errors_seen_by_caller": len(errors),
        "errors_by_type": dict(Counter(type(e).__name__ for e in errors)),
        "rate_limited_seen_by_caller": sum(isinstance(e, RateLimitError) for e in errors),
        "rate_limited_sent_by_fake": refused,
        "tasks_created_on_fake": created,
        "requests_by_route": record["by_route"],
        "requests_total": record["requests"],
        "polls_per_task": round(record["by_route"].get("GET /v1/get_result", 0) / tasks, 3),
        "tcp_connections_opened": connections,
        "excess_per_round_measured_ms": round(excess_per_round * 1e3, 2),
        # Request handling costs CPU time, which the time scale does not shrink: the same
        # excess per round against unscaled task durations (local network, same machine).
        "projected_ratio_unscaled": round((task_seconds + excess_per_round) / task_seconds, 4),
        "breakdown": _where_time_went(
            outcomes, returned, record["tasks"], started, concurrency, scale
        ),
    }
