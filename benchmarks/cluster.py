"""Benchmark: one batch of ``tasks`` lines split over ``workers`` `flux-flex batch` processes
sharing one PostgreSQL journal, against the fake (24 tasks running at most, as the API).

The target (issue 20): the batch finishes within 1.10x of the ideal ``ceil(N/24) x task
time``, on this machine, beside PostgreSQL. Reported:

* ``wall_s``: from starting the workers to the last one's exit (what a user waits);
* ``ideal_s`` and ``ratio`` (``wall_s / ideal_s``); ``api_span_s`` (first task created to
  last task final, at the fake) and its ratio, which leaves out the processes' start;
* ``posts``, ``created``, ``rate_limited`` (429s), ``peak_running`` (the fake's count),
  ``images`` and each worker's exit code.

The fake runs in a child process (``tests.cluster.fake_child``); the PostgreSQL server is
``url`` or ``$FLUX_FLEX_BENCH_POSTGRES``, else a throwaway one (tests/postgres.py's).

    python -m benchmarks.cluster [--quick] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.journal_postgres import _postgres

__all__ = ["run"]

TARGET_RATIO = 1.10
ACCOUNT_LIMIT = 24


def run(
    *,
    quick: bool = False,
    tasks: int | None = None,
    workers: int = 3,
    task_seconds: float | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Run the shared batch once; its figures (see the module docstring)."""
    from tests.cluster.harness import FakeApi, cli, finish, images, prompts_file

    tasks = tasks or (96 if quick else 3000)
    task_seconds = task_seconds or (0.5 if quick else 1.0)
    ideal = math.ceil(tasks / ACCOUNT_LIMIT) * task_seconds
    with (
        _postgres(url) as journal,
        tempfile.TemporaryDirectory(prefix="flux-flex-bench-cluster-") as folder,
        FakeApi(task_seconds=task_seconds, max_in_flight=ACCOUNT_LIMIT) as fake,
    ):
        root = Path(folder)
        batch = prompts_file(root / "prompts.jsonl", tasks)
        folders = [root / f"worker{n}" for n in range(workers)]
        limit = str(ACCOUNT_LIMIT)
        started = time.perf_counter()
        procs = [
            cli(
                fake,
                *("batch", str(batch), "--out-dir", str(out), "--journal", journal, "--yes"),
                *("--max-in-flight", limit, "--concurrency", limit, "--json"),
                cwd=root,
            )
            for out in folders
        ]
        codes = [finish(proc, timeout=ideal * 3 + 120)[0] for proc in procs]
        wall = time.perf_counter() - started
        seen = fake.stats()
        spans = fake.spans()
        saved = images(folders)
        per_worker = [sum(1 for _ in out.iterdir()) if out.is_dir() else 0 for out in folders]
    api_span = spans["last_final"] - spans["first_created"] if spans["count"] else None
    return {
        "tasks": tasks,
        "workers": workers,
        "task_seconds": task_seconds,
        "ideal_s": ideal,
        "wall_s": round(wall, 2),
        "ratio": round(wall / ideal, 4),
        "api_span_s": None if api_span is None else round(api_span, 2),
        "api_span_ratio": None if api_span is None else round(api_span / ideal, 4),
        "posts": sum(seen["posts"].values()),
        "created": sum(seen["created"].values()),
        "rate_limited": seen["rate_limited"],
        "peak_running": seen["peak_running"],
        "images": sum(len(paths) for paths in saved.values()),
        "per_worker": per_worker,
        "exit_codes": codes,
        "target_ratio": TARGET_RATIO,
        "pass": wall / ideal <= TARGET_RATIO,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=None, help="a PostgreSQL URL (default: a throwaway)")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)
    figures = run(quick=args.quick, url=args.url, tasks=args.tasks, workers=args.workers)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
