"""``python -m benchmarks``: run the four benchmarks, print the tables, write the JSON file."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import batch, coldstart, overhead, polling
from benchmarks.fakeproc import FakeProcess
from benchmarks.machine import load_average, machine_info
from benchmarks.report import compare_table, print_report, write_json
from benchmarks.settings import FULL, QUICK, BenchSettings
from benchmarks.targets import evaluate

NAMES = ("overhead", "polling", "batch", "coldstart")
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
        help="run only this benchmark (repeatable); default: all four",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_JSON",
        help="also show the headline figures of an earlier results file beside this run's",
    )
    return parser.parse_args(argv)


def _runners(settings: BenchSettings, fake: FakeProcess | None) -> dict[str, Callable[[], Any]]:
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
            scale=s.scale,
            tasks=s.batch_tasks,
            concurrency=s.batch_concurrency,
            task_seconds=s.batch_task_seconds,
        ),
        "coldstart": lambda: coldstart.run(s.coldstart_runs),
    }


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
        if any(name != "coldstart" for name in names):
            try:
                fake = stack.enter_context(FakeProcess())
            except Exception as exc:
                traceback.print_exc()
                fake_error = f"the fake API did not start: {type(exc).__name__}: {exc}"
        runners = _runners(settings, fake)
        for name in names:
            began = time.perf_counter()
            try:
                if fake is None and name != "coldstart":
                    raise RuntimeError(fake_error)
                section = runners[name]()
            except Exception as exc:
                traceback.print_exc()
                section = {"error": f"{type(exc).__name__}: {exc}"}
            section["seconds"] = round(time.perf_counter() - began, 2)
            results["benchmarks"][name] = section
    results["machine"]["load_average_at_end"] = load_average()
    results["total_seconds"] = round(time.perf_counter() - started, 2)
    results["targets"] = [check.as_dict() for check in evaluate(results["benchmarks"])]
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit status 1 when a benchmark could not run (a MISS is not a failure)."""
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.scale is not None:
        settings = settings.with_scale(args.scale)
    names = [name for name in NAMES if not args.only or name in args.only]
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
    failed = [name for name, section in results["benchmarks"].items() if "error" in section]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
