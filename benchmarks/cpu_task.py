"""Benchmark "cpu_task": sync CPU per task as issue 19 measures it, against raw httpx.

Each task: submit a 1024x1024 request, poll it 5 times (the answers are ``Pending`` and
carry ``progress``: the task lasts minutes), then read a ``Ready`` answer (a task made
ready beforehand). Once through `FluxFlex`, once through a bare ``httpx.Client`` making the
same requests and ``json.loads``; the fake runs in another process, so this process's CPU
is the client's. Blocks alternate as in `overhead`; the figure is the median ratio. Every
task stays running, so the fake is started without its in-flight limit
(`FakeProcess(max_in_flight=UNLIMITED)`, its own process: `run_in_own_fake`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.fake_server import prompt_lasting
from benchmarks.fakeproc import FakeProcess
from benchmarks.overhead import _cpu_of_block
from benchmarks.stats import median

POLLS = 5
UNLIMITED = 1_000_000
SIZE = {"width": 1024, "height": 1024}
LONG = prompt_lasting(3600.0, "cpu bench")


def run(
    fake: FakeProcess, *, pairs: int = 12, ops: int = 20, budget_s: float = 30.0
) -> dict[str, Any]:
    """``pairs`` blocks of ``ops`` tasks each way; CPU per task and the median ratio."""
    from flux_flex import FluxFlex

    with FluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client, httpx.Client() as http:
        ready = client.submit(prompt_lasting(0.0, "cpu bench"), width=1024, height=1024)
        while client.get_result(ready).status != "Ready":
            time.sleep(0.01)
        headers = {"x-key": fake.api_key}
        ready_url = ready.polling_url or f"{fake.base_url}/v1/get_result?id={ready.id}"

        def ours() -> None:
            job = client.submit(LONG, width=1024, height=1024)
            for _ in range(POLLS):
                if client.get_result(job).progress is None:
                    raise RuntimeError("the fake sent no progress")
            if client.get_result(ready).status != "Ready":
                raise RuntimeError("the ready task is not ready")

        def raw() -> None:
            body = {"prompt": LONG, **SIZE}
            answer = http.post(f"{fake.base_url}/v1/flux-2-flex", json=body, headers=headers)
            task = json.loads(answer.content)
            for _ in range(POLLS):
                if (
                    json.loads(http.get(task["polling_url"], headers=headers).content)["progress"]
                    is None
                ):
                    raise RuntimeError("the fake sent no progress")
            if json.loads(http.get(ready_url, headers=headers).content)["status"] != "Ready":
                raise RuntimeError("the ready task is not ready")

        for operation in (ours, raw):  # warm-up
            _cpu_of_block(operation, max(2, ops // 4))
        ratios: list[float] = []
        ours_cpu: list[float] = []
        raw_cpu: list[float] = []
        began = time.perf_counter()
        for i in range(pairs):
            if i >= 3 and time.perf_counter() - began > budget_s:
                break
            order: list[tuple[Callable[[], None], bool]] = [(ours, True), (raw, False)]
            cpu = {
                is_ours: _cpu_of_block(op, ops)[0]
                for op, is_ours in order[:: 1 if i % 2 == 0 else -1]
            }
            ours_cpu.append(cpu[True] / ops)
            raw_cpu.append(cpu[False] / ops)
            ratios.append(cpu[True] / cpu[False] if cpu[False] > 0 else float("inf"))
    return {
        "polls_per_task": POLLS + 1,
        "pairs": len(ratios),
        "client_cpu_us_per_task": round(median(ours_cpu) * 1e6, 1),
        "raw_cpu_us_per_task": round(median(raw_cpu) * 1e6, 1),
        "cpu_ratio_median": round(median(ratios), 3),
        "cpu_ratio_min": round(min(ratios), 3),
        "cpu_ratio_max": round(max(ratios), 3),
    }


def run_in_own_fake(**options: Any) -> dict[str, Any]:
    """`run` against a fake of its own, started without the in-flight limit."""
    with FakeProcess(max_in_flight=UNLIMITED) as fake:
        return run(fake, **options)
