"""Benchmark: what the PostgreSQL journal costs a task, 25 tasks in flight.

Each of ``threads`` worker threads runs tasks one after another (25 threads: 25 tasks in
flight, the account's limit plus one waiting). A task is the journal's five steps — claim
(``claimed``), start (``submitting``, slots counted under the lock), accepted
(``submitted``), ready, saved — around a simulated API: ``task_seconds`` of sleep between
accepted and ready (the task running; 1 s like the batch benchmark's tasks), nothing else.
Threads start spread over one task time, as a batch's tasks end at different moments. The
same loop without a journal (only the sleep) is the baseline. Reported, per task:

* ``journal_ms_p50`` / ``journal_ms_p90``: wall time spent inside the five journal calls;
* ``overhead_ms_p50``: p50 wall time of a whole task with the journal minus without it
  (the target: at most 5 ms);
* ``cpu_ms_per_task``: this process's CPU time per task (the client's side of the cost,
  which a loaded machine turns into waiting);
* ``tasks_per_s`` with the journal, and the same figures for SQLite (``sqlite_*``).

The PostgreSQL server is ``url`` (or ``$FLUX_FLEX_BENCH_POSTGRES``), else a throwaway one
started from Debian's binaries like the tests' (tests/postgres.py), in a schema of its own.

    python -m benchmarks.journal_postgres [--quick] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flux_flex import Journal
from flux_flex._core import journal as rules
from flux_flex.journal import Start

__all__ = ["run"]

TARGET_OVERHEAD_MS = 5.0


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _one_task(journal: Journal | None, owner: str, name: str, task_seconds: float) -> float:
    """Run one task; the seconds spent in journal calls."""
    if journal is None:
        time.sleep(task_seconds)
        return 0.0
    spent = 0.0
    started = time.perf_counter()
    got = journal.claim(name, prompt=name, params={}, save_to=None, owner=owner, begin=False)
    while journal.start(name, got.attempt, owner=owner, max_in_flight=1000) is Start.NO_SLOT:
        time.sleep(0.001)  # never: the limit is above the threads
    journal.record(name, got.attempt, rules.Accepted("t-" + name, None, 5.0), owner=owner)
    spent += time.perf_counter() - started
    time.sleep(task_seconds)  # the task runs on the API
    started = time.perf_counter()
    journal.record(name, got.attempt, rules.Ready("https://cdn/" + name, 1, 5.0), owner=owner)
    journal.record(name, got.attempt, rules.Saved(None, "https://cdn/" + name), owner=owner)
    return spent + time.perf_counter() - started


def _measure(
    journal: Journal | None, threads: int, per_thread: int, task_seconds: float
) -> dict[str, Any]:
    task_wall: list[float] = []
    in_journal: list[float] = []
    lock = threading.Lock()
    prefix = uuid.uuid4().hex[:8]

    def worker(n: int) -> None:
        owner = journal.open_run() if journal is not None else ""
        time.sleep(task_seconds * n / threads)
        for i in range(per_thread):
            began = time.perf_counter()
            spent = _one_task(journal, owner, f"{prefix}-{n}-{i}", task_seconds)
            with lock:
                task_wall.append(time.perf_counter() - began)
                in_journal.append(spent)
        if journal is not None:
            journal.close_run(owner)

    started, cpu = time.perf_counter(), time.process_time()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "cpu_ms_per_task": (time.process_time() - cpu) / len(task_wall) * 1000,
        "task_ms_p50": statistics.median(task_wall) * 1000,
        "journal_ms_p50": statistics.median(in_journal) * 1000,
        "journal_ms_p90": _percentile(in_journal, 0.9) * 1000,
        "tasks_per_s": len(task_wall) / elapsed,
    }


@contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    url = url or os.environ.get("FLUX_FLEX_BENCH_POSTGRES")
    if url:
        yield url
        return
    from tests.postgres import PostgresServer, find_binaries  # the tests' throwaway server

    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server binaries: apt-get install postgresql")
    server = PostgresServer(binaries)
    try:
        server.init()
        server.start()
        yield server.new_schema()
    finally:
        server.remove()


def run(
    *,
    quick: bool = False,
    threads: int = 25,
    per_thread: int | None = None,
    task_seconds: float = 1.0,
    url: str | None = None,
) -> dict[str, Any]:
    """The journal's cost per task on PostgreSQL (and SQLite), ``threads`` in flight."""
    per_thread = per_thread or (3 if quick else 12)
    baseline = _measure(None, threads, per_thread, task_seconds)
    result: dict[str, Any] = {
        "threads": threads,
        "tasks": threads * per_thread,
        "task_seconds": task_seconds,
        "baseline_task_ms_p50": baseline["task_ms_p50"],
    }

    def with_journal(prefix: str, open_journal: Callable[[], Journal]) -> None:
        with open_journal() as journal:
            _measure(journal, threads, 1, 0.05)  # warm the pool and the caches
            measured = _measure(journal, threads, per_thread, task_seconds)
        result[f"{prefix}journal_ms_p50"] = measured["journal_ms_p50"]
        result[f"{prefix}journal_ms_p90"] = measured["journal_ms_p90"]
        result[f"{prefix}task_ms_p50"] = measured["task_ms_p50"]
        result[f"{prefix}overhead_ms_p50"] = measured["task_ms_p50"] - baseline["task_ms_p50"]
        result[f"{prefix}tasks_per_s"] = measured["tasks_per_s"]
        result[f"{prefix}cpu_ms_per_task"] = measured["cpu_ms_per_task"]

    with _postgres(url) as pg_url:
        with_journal("", lambda: Journal(pg_url, pool_size=threads))
    with tempfile.TemporaryDirectory() as folder:
        with_journal("sqlite_", lambda: Journal(os.path.join(folder, "bench.sqlite")))
    result["target_overhead_ms"] = TARGET_OVERHEAD_MS
    result["pass"] = result["overhead_ms_p50"] <= TARGET_OVERHEAD_MS
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.journal_postgres")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=None, help="a PostgreSQL URL (default: a throwaway)")
    parser.add_argument("--threads", type=int, default=25)
    args = parser.parse_args(argv)
    print(json.dumps(run(quick=args.quick, url=args.url, threads=args.threads), indent=2))


if __name__ == "__main__":
    main()
