"""Benchmark 1: client CPU per task (submit + 5 polls + parse), against raw httpx doing the same.

The fake API runs in another process, so ``time.process_time`` of this process is the
client's CPU alone (all its threads). Blocks of tasks through `FluxFlex` and through a bare
``httpx.Client`` (the same six requests and ``json.loads``) alternate, swapping order each
pair so drift in machine load hits both; the figure is the median of the per-pair CPU ratios.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.fakeproc import FakeProcess
from benchmarks.stats import median

if TYPE_CHECKING:
    from flux_flex import FluxFlex
    from flux_flex.models import TaskSnapshot

PROMPT = "overhead bench: a red fox in snow"
POLLS = 5
"""Polls per task: the fake's task is ready at once, so each poll parses a full Ready answer."""


def raw_operation(http: httpx.Client, base_url: str, api_key: str) -> Any:
    """Submit and poll ``POLLS`` times with bare httpx: the least a hand-written client does."""
    headers = {"x-key": api_key}
    submitted = http.post(f"{base_url}/v1/flux-2-flex", json={"prompt": PROMPT}, headers=headers)
    if submitted.status_code != 200:
        raise RuntimeError(f"raw submit answered {submitted.status_code}: {submitted.text}")
    task = json.loads(submitted.content)
    for _ in range(POLLS):
        polled = http.get(task["polling_url"], headers=headers)
        if polled.status_code != 200:
            raise RuntimeError(f"raw poll answered {polled.status_code}: {polled.text}")
        result = json.loads(polled.content)
        if result["status"] != "Ready":
            raise RuntimeError(f"raw poll: task not ready at once: {result!r}")
    return result


def client_operation(client: FluxFlex) -> TaskSnapshot:
    """Submit and poll ``POLLS`` times through `FluxFlex`: the same requests, parsed by it."""
    job = client.submit(PROMPT)
    for _ in range(POLLS):
        snapshot = client.get_result(job)
        if snapshot.status != "Ready":
            raise RuntimeError(f"client poll: task not ready at once: {snapshot!r}")
    return snapshot


def _cpu_of_block(operation: Callable[[], Any], ops: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``ops`` calls of ``operation``."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(ops):
        operation()
    return time.process_time() - cpu0, time.perf_counter() - wall0


def run(fake: FakeProcess, *, pairs: int, ops: int, budget_s: float = 30.0) -> dict[str, Any]:
    """Interleave ``pairs`` blocks of ``ops`` operations each way; per-op CPU and the ratio.

    Stops early (after at least 3 pairs) once ``budget_s`` seconds have passed, so a busy
    machine cannot stretch the run; the number of pairs done is reported.
    """
    from flux_flex import FluxFlex

    with (
        FluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client,
        httpx.Client() as http,
    ):
        ours: Callable[[], Any] = lambda: client_operation(client)  # noqa: E731
        raw: Callable[[], Any] = lambda: raw_operation(http, fake.base_url, fake.api_key)  # noqa: E731
        for operation in (ours, raw):  # warm-up: connections, lazy imports, caches
            _cpu_of_block(operation, max(2, ops // 4))
        ratios: list[float] = []
        ours_cpu: list[float] = []
        raw_cpu: list[float] = []
        ours_wall: list[float] = []
        raw_wall: list[float] = []
        began = time.perf_counter()
        for i in range(pairs):
            if i >= 3 and time.perf_counter() - began > budget_s:
                break
            order = ((ours, True), (raw, False)) if i % 2 == 0 else ((raw, False), (ours, True))
            cpu: dict[bool, float] = {}
            for operation, is_ours in order:
                spent, wall = _cpu_of_block(operation, ops)
                cpu[is_ours] = spent
                (ours_wall if is_ours else raw_wall).append(wall / ops)
            ours_cpu.append(cpu[True] / ops)
            raw_cpu.append(cpu[False] / ops)
            ratios.append(cpu[True] / cpu[False] if cpu[False] > 0 else float("inf"))
    return {
        "polls_per_task": POLLS,
        "pairs": len(ratios),
        "ops_per_block": ops,
        "client_cpu_us_per_op": round(median(ours_cpu) * 1e6, 1),
        "raw_cpu_us_per_op": round(median(raw_cpu) * 1e6, 1),
        "client_wall_ms_per_op": round(median(ours_wall) * 1e3, 3),
        "raw_wall_ms_per_op": round(median(raw_wall) * 1e3, 3),
        "cpu_ratio_median": round(median(ratios), 3),
        "cpu_ratio_min": round(min(ratios), 3),
        "cpu_ratio_max": round(max(ratios), 3),
    }
