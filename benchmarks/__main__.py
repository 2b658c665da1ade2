"""``python -m benchmarks``: run the benchmarks, print the tables and the targets (PASS/MISS),
write the JSON file, and after a full run the results table of the docs' benchmarks page."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import inspect
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import (
    batch,
    coldstart,
    cpu_task,
    first_image,
    gzip_bombs,
    overhead,
    polling,
    simulate,
)
from benchmarks.docs_page import PAGE, write_page
from benchmarks.fakeproc import FakeProcess
from benchmarks.machine import load_average, machine_info
from benchmarks.report import compare_table, print_report, write_json
from benchmarks.settings import FULL, QUICK, BenchSettings
from benchmarks.targets import evaluate

NAMES = (
    "overhead",
    "polling",
    "batch",
    "receiver",
    "batch_memory",
    "coldstart",
    "simulate",
    "first_image",
    "cpu_task",
    "result_size",
    "gzip_bombs",
    "journal_postgres",
    "cluster",
)
# Issue 20's rows need a PostgreSQL server (a throwaway one, started from Debian's binaries)
# and, for the cluster, minutes: a --quick run leaves them out unless --only names them.
FULL_ONLY = frozenset({"journal_postgres", "cluster"})
NEEDS_FAKE = frozenset({"overhead", "polling", "batch"})
# Benchmarks other engineers contribute: a module beside this one exposing ``run(...) -> dict``
# (called with the keyword arguments it accepts among ``quick`` and, in a quick run, a few
# shortening options: ``seconds``, ``rounds``, ``connections``, ``n_small``...). Until it is
# merged, its section reads "not run" and its target is a MISS.
PLUGGED = {
    "receiver": "benchmarks.receiver",
    "batch_memory": "benchmarks.batch_memory",
    "result_size": "benchmarks.result_size",
    "journal_postgres": "benchmarks.journal_postgres",
    "cluster": "benchmarks.cluster",
}
DEFAULT_OUTPUT = Path(__file__).with_name("results.json")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: sizes, time scale, which benchmarks, where the JSON goes."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="flux-flex benchmarks against FakeBFL on 127.0.0.1, reported as ratios.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test's run)")
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="time scale of the simulated API (task durations, poll intervals); "
        f"default {FULL.scale:g}, {QUICK.scale:g} with --quick",
    )
    parser.add_argument(
        "--only",
        choices=NAMES,
        action="append",
        help="run only this benchmark (repeatable); default: all",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--no-docs-page",
        action="store_true",
        help=f"leave the results table of {PAGE.relative_to(PAGE.parents[2])} as it is "
        "(a full run, without --quick or --only, rewrites it)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_JSON",
        help="also show the headline figures of an earlier results file beside this run's",
    )
    return parser.parse_args(argv)


def _runners(
    settings: BenchSettings, fake: FakeProcess | None, quick: bool
) -> dict[str, Callable[[], Any]]:
    s = settings
    return {
        "overhead": lambda: overhead.run(_need(fake), pairs=s.overhead_pairs, ops=s.overhead_ops),
        "polling": lambda: polling.run(
            _need(fake),
            scale=s.scale,
            tasks=s.polling_tasks,
            concurrency=s.polling_concurrency,
            min_seconds=s.polling_min_seconds,
            max_seconds=s.polling_max_seconds,
        ),
        "batch": lambda: batch.run(
            _need(fake),
            scale=s.batch_scale,
            tasks=s.batch_tasks,
            concurrency=s.batch_concurrency,
            task_seconds=s.batch_task_seconds,
        ),
        # Quick: whatever shortening options the module accepts (others are not passed).
        "receiver": lambda: run_plugged(
            "receiver",
            quick=quick,
            **({"seconds": 0.3, "rounds": 1, "connections": (16,)} if quick else {}),
        ),
        "batch_memory": lambda: run_plugged(
            "batch_memory",
            quick=quick,
            **({"n_small": 20, "n_large": 100, "variants": ("generate_many",)} if quick else {}),
        ),
        "coldstart": lambda: coldstart.run(s.coldstart_runs),
        "simulate": lambda: simulate.run(s.simulate_tasks, s.polling_concurrency),
        "first_image": lambda: first_image.run(40 if quick else 400),
        "cpu_task": lambda: cpu_task.run_in_own_fake(
            pairs=3 if quick else 12, ops=3 if quick else 20
        ),
        "result_size": lambda: run_plugged("result_size", quick=quick),
        "gzip_bombs": lambda: gzip_bombs.run(quick=quick),
        "journal_postgres": lambda: run_plugged("journal_postgres", quick=quick),
        "cluster": lambda: run_plugged("cluster", quick=quick),
    }


def run_plugged(name: str, **options: Any) -> dict[str, Any]:
    """Run another engineer's benchmark module: its dict, or "not run" when it is missing."""
    module_name = PLUGGED[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the module is there but something it imports is not: a real failure
        return {"error": f"not run: {module_name} is not in this checkout yet", "not_run": True}
    accepted = inspect.signature(module.run).parameters
    section = module.run(**{k: v for k, v in options.items() if k in accepted})
    if not isinstance(section, dict):
        raise TypeError(f"{module_name}.run() returned {type(section).__name__}, not a dict")
    return dict(section)


def _need(fake: FakeProcess | None) -> FakeProcess:
    if fake is None:
        raise RuntimeError("this benchmark needs the fake API process")
    return fake


def run(settings: BenchSettings, names: Sequence[str], preset: str) -> dict[str, Any]:
    """Run the named benchmarks; each section is its figures, or ``{"error": ...}``."""
    results: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {"preset": preset, **dataclasses.asdict(settings)},
        "benchmarks": {},
    }
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        fake: FakeProcess | None = None
        fake_error = ""
        if any(name in NEEDS_FAKE for name in names):
            try:
                fake = stack.enter_context(FakeProcess())
            except Exception as exc:
                traceback.print_exc()
                fake_error = f"the fake API did not start: {type(exc).__name__}: {exc}"
        runners = _runners(settings, fake, preset == "quick")
        for name in names:
            began = time.perf_counter()
            try:
                if fake is None and name in NEEDS_FAKE:
                    raise RuntimeError(fake_error)
                section = runners[name]()
            except Exception as exc:
                traceback.print_exc()
                section = {"error": f"{type(exc).__name__}: {exc}"}
            section["seconds"] = round(time.perf_counter() - began, 2)
            section["load_average_after"] = load_average()
            results["benchmarks"][name] = section
    results["machine"]["load_average_at_end"] = load_average()
    results["total_seconds"] = round(time.perf_counter() - started, 2)
    results["targets"] = [check.as_dict() for check in evaluate(results["benchmarks"])]
    return results


def selected(only: Sequence[str] | None, *, quick: bool) -> list[str]:
    """The benchmarks to run: those named by ``--only``, else all (a quick run without the
    `FULL_ONLY` ones)."""
    if only:
        return [name for name in NAMES if name in only]
    return [name for name in NAMES if not (quick and name in FULL_ONLY)]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit status 1 when a benchmark could not run (a MISS is not a failure)."""
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.scale is not None:
        settings = settings.with_scale(args.scale)
    names = selected(args.only, quick=args.quick)
    # Read before running: --compare may name the file --output is about to replace.
    previous = json.loads(args.compare.read_text(encoding="utf-8")) if args.compare else None
    # Piped (make's log, CI): wide enough that the targets table keeps one line per target.
    console = Console(width=None if sys.stdout.isatty() else 120)
    with console.status("running benchmarks: " + ", ".join(names)):
        results = run(settings, names, "quick" if args.quick else "full")
    print_report(results, evaluate(results["benchmarks"]), console)
    if previous is not None:
        console.print()
        console.print(compare_table(previous, results))
    write_json(results, args.output)
    console.print(f"\nresults written to {args.output} ({results['total_seconds']:.1f} s)")
    if not (args.quick or args.only or args.no_docs_page):  # only a full run is the record
        write_page(results, evaluate(results["benchmarks"]))
        console.print(f"table written to {PAGE}")
    failed = [
        name
        for name, section in results["benchmarks"].items()
        if "error" in section and not section.get("not_run")
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
