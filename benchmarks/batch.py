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
from typing import Any

from benchmarks.fake_server import prompt_lasting
from benchmarks.fakeproc import FakeProcess

WAIT_TIMEOUT = 300.0


async def _generate_all(
    fake: FakeProcess, prompts: list[str], concurrency: int, scale: float
) -> tuple[list[Any], float]:
    from flux_flex import AsyncFluxFlex, PollSchedule

    async with AsyncFluxFlex(
        api_key=fake.api_key, base_url=fake.base_url, poll_schedule=PollSchedule().scaled(scale)
    ) as client:
        started = time.perf_counter()
        outcomes = await client.generate_many(prompts, concurrency=concurrency)
        return list(outcomes), time.perf_counter() - started


def run(
    fake: FakeProcess, *, scale: float, tasks: int, concurrency: int, task_seconds: float
) -> dict[str, Any]:
    """Wall time against the ideal, errors seen by the caller, 429s sent, connections opened."""
    from flux_flex.errors import RateLimitError

    duration = task_seconds * scale
    prompts = [prompt_lasting(duration, f"batch bench {i}") for i in range(tasks)]
    before = fake.snapshot(fake.mark())
    mark = fake.mark()
    outcomes, wall = asyncio.run(_generate_all(fake, prompts, concurrency, scale))
    record = fake.snapshot(mark)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    ideal = math.ceil(tasks / concurrency) * duration
    posts = record["by_route"].get("POST /v1/flux-2-flex", 0)
    created = record["task_count"] - before["task_count"]
    # Without injected faults every POST either created a task or was refused with 429.
    refused = int(record["statuses"].get("429", posts - created))
    connections = record["connections"]
    if isinstance(connections, int) and isinstance(before["connections"], int):
        connections -= before["connections"]
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
        "polls_per_task": round(record["by_route"].get("GET /v1/get_result", 0) / tasks, 3),
        "tcp_connections_opened": connections,
    }
