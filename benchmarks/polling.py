"""Benchmark 2: polls spent and delay after Ready, our schedule against fixed-interval baselines.

Tasks take real-API durations spread evenly over a range (2-20 s by default), shuffled, all
multiplied by ``scale``. The same tasks are waited in several ways, one after the other, each with
``concurrency`` worker threads sharing one `FluxFlex` (fresh for each way):

- ``schedule``: ``job.wait()`` on `PollSchedule()` scaled by ``scale``;
- ``fixed_0.5s`` / ``fixed_1s``: the vendor's fixed intervals (its samples poll every 0.5 s,
  its SDK every 1 s), written as a sleep-then-poll loop over ``client.get_result`` so only
  the schedule differs;
- ``schedule_no_progress``: our schedule told to ignore progress (an API that reports none);
- ``fixed_1s_alike`` / ``schedule_no_progress_alike``: the same two on a batch of alike tasks
  (the middle of the range, +/- 10 %), where the client's history predicts the finish;
- ``webhook``: ``job.wait(webhook=receiver)`` with a `WebhookReceiver` the fake delivers to,
  the client's webhook grace scaled like every other time.

Polls per task are the fake's own count of ``GET /v1/get_result`` for that task id. Delay is
the time from the fake's ``ready_at`` to the moment the wait returned (both
``time.monotonic``). Schedule-driven delays are divided by ``scale`` (real-API seconds); the
webhook delay is reported as measured, since delivery latency involves no scaled timing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from benchmarks.fake_server import prompt_lasting
from benchmarks.fakeproc import FakeProcess
from benchmarks.stats import mean, percentile

if TYPE_CHECKING:
    from flux_flex import FluxFlex, PollSchedule
    from flux_flex.completion import CompletionSource

WAIT_TIMEOUT = 120.0
WEBHOOK_SECRET = "bench-webhook-secret"

Waiter = Callable[["FluxFlex", float], tuple[str, float]]
"""(client, task seconds) -> (task id, monotonic time the caller got the result)."""


def durations(count: int, low: float, high: float, seed: int = 8) -> list[float]:
    """``count`` real-API task durations spread evenly over [low, high], in shuffled order."""
    if count == 1:
        spread = [(low + high) / 2]
    else:
        spread = [low + (high - low) * i / (count - 1) for i in range(count)]
    random.Random(seed).shuffle(spread)
    return spread


def alike_durations(count: int, middle: float, spread: float = 0.1, seed: int = 8) -> list[float]:
    """``count`` real-API durations within ``middle`` +/- ``spread`` (a share), seeded."""
    rng = random.Random(seed)
    return [middle * rng.uniform(1 - spread, 1 + spread) for _ in range(count)]


def fixed_interval_waiter(interval: float) -> Waiter:
    """Sleep ``interval``, poll once, until the task leaves Pending (the vendor's loop)."""

    def wait(client: FluxFlex, seconds: float) -> tuple[str, float]:
        job = client.submit(prompt_lasting(seconds, "polling bench"))
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            time.sleep(interval)
            snapshot = client.get_result(job)
            if not snapshot.is_pending:
                returned = time.monotonic()
                if snapshot.status != "Ready":
                    raise RuntimeError(f"task {job.id} ended {snapshot.status}: {snapshot.raw}")
                return job.id, returned
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {job.id} not ready after {WAIT_TIMEOUT} s")

    return wait


def default_webhook_grace() -> float:
    """The client's default wait for a delivery before it falls back to polling (seconds)."""
    from flux_flex._client_core import DEFAULT_WEBHOOK_GRACE  # private: the bench measures it

    return float(DEFAULT_WEBHOOK_GRACE)


def schedule_waiter(client: FluxFlex, seconds: float) -> tuple[str, float]:
    """Our schedule: submit, then ``job.wait()``."""
    job = client.submit(prompt_lasting(seconds, "polling bench"))
    job.wait(timeout=WAIT_TIMEOUT)
    return job.id, time.monotonic()


def webhook_waiter(receiver: CompletionSource, url: str, grace: float) -> Waiter:
    """Submit with ``webhook_url``, then ``job.wait(webhook=receiver)``.

    ``grace`` (how long to wait for the delivery before polling) is the client's default
    times the time scale, like every other time constant of the run.
    """

    def wait(client: FluxFlex, seconds: float) -> tuple[str, float]:
        job = client.submit(
            prompt_lasting(seconds, "polling bench"),
            webhook_url=url,
            webhook_secret=WEBHOOK_SECRET,
        )
        job.wait(timeout=WAIT_TIMEOUT, webhook=receiver, webhook_grace=grace)
        return job.id, time.monotonic()

    return wait


def _run_strategy(
    fake: FakeProcess,
    waiter: Waiter,
    task_seconds: list[float],
    concurrency: int,
    make_client: Callable[[], FluxFlex],
) -> tuple[list[tuple[str, float]], dict[str, Any], float]:
    """Wait every task with ``waiter``; the (id, returned) pairs, the fake's record, wall time.

    One client serves all the worker threads, as in an application: its connection pool
    and its history of earlier waits (`TaskTimings`) are shared, fresh for each strategy.
    """
    mark = fake.mark()
    started = time.perf_counter()
    with (
        make_client() as client,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-wait") as pool,
    ):
        outcomes = list(pool.map(lambda seconds: waiter(client, seconds), task_seconds))
    wall = time.perf_counter() - started
    record = fake.snapshot(mark, [task_id for task_id, _ in outcomes])
    return outcomes, record, wall


def _summarize(
    outcomes: list[tuple[str, float]],
    record: dict[str, Any],
    divide_by: float,
    wall: float,
    real_seconds: list[float],
    *,
    scale: float,
    trace: bool = False,
) -> dict[str, Any]:
    polls = [record["gets_by_task"].get(task_id, 0) for task_id, _ in outcomes]
    delays = []
    for task_id, returned in outcomes:
        task = record["tasks"].get(task_id)
        if task is None or task.get("ready_at") is None:
            raise RuntimeError(f"the fake has no ready_at for task {task_id}")
        delays.append((returned - float(task["ready_at"])) / divide_by)
    summary: dict[str, Any] = {
        "tasks": len(outcomes),
        "polls_per_task_mean": round(mean(polls), 3),
        "polls_per_task_max": max(polls),
        "polls_per_task_min": min(polls),
        "delay_mean_s": round(mean(delays), 4),
        "delay_p50_s": round(percentile(delays, 50), 4),
        "delay_p90_s": round(percentile(delays, 90), 4),
        "delay_max_s": round(max(delays), 4),
        "delay_min_s": round(min(delays), 4),
        "requests_by_route": record["by_route"],
        "wall_s": round(wall, 3),
        # Per task, in submission order: [real-API duration s, polls, delay s].
        "per_task": [
            [round(d, 3), p, round(x, 4)]
            for d, p, x in zip(real_seconds, polls, delays, strict=True)
        ],
    }
    if trace:
        # Per task: when each poll reached the fake, in real-API seconds after creation.
        summary["poll_offsets"] = [
            _offsets(record["tasks"][task_id], scale) for task_id, _ in outcomes
        ]
    return summary


def _offsets(task: dict[str, Any], scale: float) -> list[float]:
    created = float(task["created_at"])
    return [round((at - created) / scale, 3) for at in task.get("poll_times", [])]


def run(
    fake: FakeProcess,
    *,
    scale: float,
    tasks: int,
    concurrency: int,
    min_seconds: float,
    max_seconds: float,
) -> dict[str, Any]:
    """Each strategy's polls per task and delay after Ready (real-API seconds)."""
    from flux_flex import FluxFlex, PollSchedule

    real = durations(tasks, min_seconds, max_seconds)
    scaled = [seconds * scale for seconds in real]
    # A batch of alike tasks (the middle of the range, +/- 10 %): what the client's history
    # of earlier waits can predict when the API reports no progress.
    alike_real = alike_durations(tasks, (min_seconds + max_seconds) / 2)
    alike_scaled = [seconds * scale for seconds in alike_real]

    def client_factory(schedule: PollSchedule) -> Callable[[], FluxFlex]:
        return lambda: FluxFlex(
            api_key=fake.api_key, base_url=fake.base_url, poll_schedule=schedule.scaled(scale)
        )

    default = client_factory(PollSchedule())
    strategies: dict[str, Any] = {}
    blind = client_factory(PollSchedule(use_progress=False))
    for name, waiter, make_client, task_set in (
        ("schedule", schedule_waiter, default, (real, scaled)),
        ("fixed_0.5s", fixed_interval_waiter(0.5 * scale), default, (real, scaled)),
        ("fixed_1s", fixed_interval_waiter(1.0 * scale), default, (real, scaled)),
        # An API that reports no progress (FACTS: progress may be null): statuses and the
        # client's history of earlier waits are all the schedule has.
        ("schedule_no_progress", schedule_waiter, blind, (real, scaled)),
        ("fixed_1s_alike", fixed_interval_waiter(1.0 * scale), default, (alike_real, alike_scaled)),
        ("schedule_no_progress_alike", schedule_waiter, blind, (alike_real, alike_scaled)),
    ):
        task_real, task_scaled = task_set
        try:
            outcomes, record, wall = _run_strategy(
                fake, waiter, task_scaled, concurrency, make_client
            )
            strategies[name] = _summarize(
                outcomes,
                record,
                scale,
                wall,
                task_real,
                scale=scale,
                trace=name.startswith("schedule"),
            )
        except Exception as exc:  # one broken strategy must not hide the others' figures
            strategies[name] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        strategies["webhook"] = _run_webhook(fake, scaled, real, concurrency, default, scale)
    except Exception as exc:
        strategies["webhook"] = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "scale": scale,
        "tasks": tasks,
        "concurrency": concurrency,
        "task_seconds_range": [min_seconds, max_seconds],
        "task_seconds_mean": round(mean(real), 3),
        "schedule": _describe_schedule(PollSchedule()),
        "strategies": strategies,
    }


def _run_webhook(
    fake: FakeProcess,
    scaled: list[float],
    real: list[float],
    concurrency: int,
    make_client: Callable[[], FluxFlex],
    scale: float,
) -> dict[str, Any]:
    from flux_flex.webhooks import ReceiverServer, WebhookReceiver

    receiver = WebhookReceiver(secret=WEBHOOK_SECRET)
    grace = default_webhook_grace() * scale
    deliveries_before = fake.snapshot(fake.mark())["deliveries"]
    with ReceiverServer(receiver) as served:
        waiter = webhook_waiter(receiver, f"{served.url}/webhook", grace)
        outcomes, record, wall = _run_strategy(fake, waiter, scaled, concurrency, make_client)
    summary = _summarize(outcomes, record, 1.0, wall, real, scale=scale, trace=True)
    summary["delay_is"] = "measured wall-clock (not divided by scale)"
    summary["webhook_grace_s"] = grace
    if isinstance(record["deliveries"], int) and isinstance(deliveries_before, int):
        summary["deliveries"] = record["deliveries"] - deliveries_before
    return summary


def _describe_schedule(schedule: PollSchedule) -> dict[str, Any]:
    """The unscaled schedule's settings, for the record."""
    try:
        import attrs

        return {k: v for k, v in attrs.asdict(schedule).items() if not k.startswith("_")}
    except Exception:  # a schedule that is not an attrs class: keep its repr
        return {"repr": repr(schedule)}
