"""Benchmark: a batch's memory and live asyncio tasks at N = 5,000 against N = 100.

Every measurement runs in a fresh child process (so its RSS is the client's alone) against
the fake API in another process (`benchmarks.fakeproc.FakeProcess`), with tasks of
``task_seconds`` and ``concurrency`` in flight. In the child: imports, one warm-up task,
then the peak-RSS mark is reset (``/proc/self/clear_refs``) and the batch runs; reported
are the peak RSS over the batch (``VmHWM``), its growth over the RSS just before, the peak
number of live asyncio tasks (sampled every 2 ms, the sampler and the caller excluded), and
the wall time. The prompts list is built before the mark: it is the caller's input.

Variants (all on `AsyncFluxFlex`):

* ``generate_many``: the engine, outcomes kept (it returns them all);
* ``generate_as_completed``: the engine, outcomes handed over and dropped;
* ``generate_many_journal``: the engine with a journal file (one SQLite row per request);
* ``task_per_request``: the baseline — one asyncio task per request up front behind a
  semaphore of ``concurrency`` (what ``generate_many`` did before), same client calls.

The headline: ``peak_rss_ratio`` = generate_many's peak RSS at N = 5,000 / at N = 100
(target <= 1.2), and ``live_tasks_peak`` at N = 5,000.

    python -m benchmarks.batch_memory [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.fake_server import prompt_lasting
from benchmarks.fakeproc import REPO_ROOT, FakeProcess

if TYPE_CHECKING:
    from flux_flex import AsyncFluxFlex

VARIANTS = ("generate_many", "generate_as_completed", "generate_many_journal", "task_per_request")
TARGET_RATIO = 1.2


def run(
    *,
    n_small: int = 100,
    n_large: int = 5000,
    task_seconds: float = 0.05,
    concurrency: int = 24,
    variants: Sequence[str] = VARIANTS,
    fake: FakeProcess | None = None,
) -> dict[str, Any]:
    """Measure every variant at both sizes, each in a fresh child; the figures and ratios.

    Keys: ``n_small``, ``n_large``, ``task_seconds``, ``concurrency``, ``target_ratio``,
    ``peak_rss_ratio`` and ``growth_ratio`` (generate_many, large / small),
    ``live_tasks_peak`` (generate_many at ``n_large``), ``baseline_live_tasks_peak``
    (task_per_request at ``n_large``), and ``variants``: for each, ``small`` and ``large``
    measurements (``n``, ``wall_s``, ``rss_before_mb``, ``peak_rss_mb``, ``growth_mb``,
    ``live_tasks_peak``, ``outcomes``, ``errors``, ``peak_reset``) plus its own ratios.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants: {sorted(unknown)}")
    if fake is None:
        with FakeProcess(max_in_flight=concurrency) as own:
            return run(
                n_small=n_small,
                n_large=n_large,
                task_seconds=task_seconds,
                concurrency=concurrency,
                variants=variants,
                fake=own,
            )
    results: dict[str, Any] = {}
    for variant in variants:
        small, large = (
            _measure_in_child(fake, variant, n, task_seconds, concurrency)
            for n in (n_small, n_large)
        )
        results[variant] = {
            "small": small,
            "large": large,
            "peak_rss_ratio": _ratio(large["peak_rss_mb"], small["peak_rss_mb"]),
            "growth_ratio": _ratio(large["growth_mb"], small["growth_mb"]),
        }
    headline = results.get("generate_many", {})
    baseline = results.get("task_per_request", {})
    return {
        "n_small": n_small,
        "n_large": n_large,
        "task_seconds": task_seconds,
        "concurrency": concurrency,
        "target_ratio": TARGET_RATIO,
        "peak_rss_ratio": headline.get("peak_rss_ratio"),
        "growth_ratio": headline.get("growth_ratio"),
        "live_tasks_peak": headline.get("large", {}).get("live_tasks_peak"),
        "baseline_live_tasks_peak": baseline.get("large", {}).get("live_tasks_peak"),
        "variants": results,
    }


def _ratio(large: float, small: float) -> float | None:
    return round(large / small, 3) if small > 0 else None


def _measure_in_child(
    fake: FakeProcess, variant: str, n: int, task_seconds: float, concurrency: int
) -> dict[str, Any]:
    spec = {
        "variant": variant,
        "n": n,
        "task_seconds": task_seconds,
        "concurrency": concurrency,
        "base_url": fake.base_url,
        "api_key": fake.api_key,
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.batch_memory", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {variant} child (n={n}) failed: {done.stderr.strip()[-2000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


# -- in the child ---------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


async def _variant_run(
    variant: str, client: AsyncFluxFlex, prompts: list[str], concurrency: int
) -> tuple[int, int]:
    """Run the batch one way; (outcomes, errors)."""
    if variant in ("generate_many", "generate_many_journal"):
        with tempfile.TemporaryDirectory() as folder:
            journal = Path(folder, "tasks.sqlite") if variant == "generate_many_journal" else None
            outcomes = await client.generate_many(prompts, concurrency=concurrency, journal=journal)
            return len(outcomes), sum(isinstance(o, BaseException) for o in outcomes)
    if variant == "generate_as_completed":
        count = errors = 0
        async with client.generate_as_completed(prompts, concurrency=concurrency) as batch:
            async for _, outcome in batch:
                count += 1
                errors += isinstance(outcome, BaseException)
        return count, errors
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> object:
        async with gate:
            return await client.generate(prompt)

    results = await asyncio.gather(*(one(p) for p in prompts), return_exceptions=True)
    return len(results), sum(isinstance(o, BaseException) for o in results)


async def _child_main(spec: dict[str, Any]) -> dict[str, Any]:
    from flux_flex import AsyncFluxFlex, PollSchedule

    n, concurrency = int(spec["n"]), int(spec["concurrency"])
    task_seconds = float(spec["task_seconds"])
    prompts = [prompt_lasting(task_seconds, f"memory {i}") for i in range(n)]
    # Poll times scaled like the tasks (a real task takes seconds; these take 0.05 s).
    schedule = PollSchedule().scaled(task_seconds)
    async with AsyncFluxFlex(
        api_key=spec["api_key"], base_url=spec["base_url"], poll_schedule=schedule
    ) as client:
        await _variant_run(spec["variant"], client, prompts[:1], 1)  # warm up: imports, pool
        gc.collect()
        peak_reset = _reset_peak()
        before_kb = _status_kb("VmRSS")
        live_peak = 0

        async def sample() -> None:
            nonlocal live_peak
            while True:
                live_peak = max(live_peak, len(asyncio.all_tasks()) - 2)
                await asyncio.sleep(0.002)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        outcomes, errors = await _variant_run(spec["variant"], client, prompts, concurrency)
        wall = time.monotonic() - started
        sampler.cancel()
        peak_kb = _status_kb("VmHWM")
    return {
        "n": n,
        "wall_s": round(wall, 3),
        "rss_before_mb": round(before_kb / 1024, 2),
        "peak_rss_mb": round(peak_kb / 1024, 2),
        "growth_mb": round((peak_kb - before_kb) / 1024, 2),
        "live_tasks_peak": live_peak,
        "outcomes": outcomes,
        "errors": errors,
        "peak_reset": peak_reset,
    }


def _child(spec_json: str) -> None:
    print(json.dumps(asyncio.run(_child_main(json.loads(spec_json)))))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.batch_memory``: print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch_memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="N = 20 vs 200 (a smoke run)")
    parser.add_argument("--only", action="append", choices=VARIANTS, help="repeatable")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    small, large = (20, 200) if args.quick else (100, 5000)
    figures = run(n_small=small, n_large=large, variants=tuple(args.only or VARIANTS))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
