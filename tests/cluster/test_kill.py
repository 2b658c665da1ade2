"""Issue 20, "Done when" 2: a killed worker loses nothing.

One batch on one PostgreSQL journal. Worker after worker joins it and is killed with
SIGKILL at a chosen point: while it claims, while a POST of its is on the wire
(``submit``), while it polls (``poll``) or while it downloads (``download``). The fake
holds every request of that kind from the moment the worker starts, so the point is
exact; the next worker starts as soon as the last is dead (10 kills in one run). Then two
more workers and a reconciler finish the batch:

- no line is POSTed twice, none is paid twice;
- the images, across every worker's folder, are the lines minus the uncertain ones, each
  saved once;
- the uncertain lines (a POST left, no answer came back) are at most the POSTs in flight
  at the kills (the killed worker's lines in ``submitting``, read at once: a POST about to
  leave, on the wire, or whose answer had not been recorded), and the reconciler lists each
  of them (it resends nothing).

Short leases (``--lease 1``) so a dead worker's lines pass on quickly.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from flux_flex import Journal

from tests.cluster.harness import (
    FakeApi,
    cli,
    finish,
    images,
    journal_owners,
    line_names,
    output,
    prompt_of,
    prompts_file,
    running,
    wait_until,
)

LINES = 40
TASK = 0.3
POINTS = ("claim", "submit", "poll", "download") * 2 + ("submit", "poll")
HOLD = {
    "submit": ("POST", "/v1/flux-2-flex", "POST /v1/flux-2-flex"),
    "poll": ("GET", "/v1/get_result", "GET /v1/get_result"),
    "download": ("GET", "/delivery/*", "GET /delivery"),
}


def _worker(batch: Path, folder: Path, journal: str) -> list[str]:
    """A worker's command line: short leases, 3 tasks at a time, 6 across workers."""
    return [
        "batch",
        str(batch),
        "--out-dir",
        str(folder),
        "--journal",
        journal,
        "--lease",
        "1",
        "--max-in-flight",
        "6",
        "--concurrency",
        "3",
        "--yes",
        "--json",
    ]


def _kill_at(fake: FakeApi, point: str, args: list[str], cwd: Path, journal: str) -> int:
    """Start a worker, kill it (SIGKILL) at ``point``; its POSTs in flight at the kill."""
    before = fake.stats()["unanswered"]
    owners = journal_owners(journal)
    if point in HOLD:
        method, path, _ = HOLD[point]
        fake.stall(method, path, seconds=3600, times=1000)  # held until the fake stops
    victim = cli(fake, *args, cwd=cwd)
    with running(victim):

        def reached() -> bool:
            if victim.poll() is not None:
                out, err = output(victim)
                raise AssertionError(f"the worker ended before {point}:\n{out}\n{err}")
            if point == "claim":
                return bool(journal_owners(journal) - owners)
            key = HOLD[point][2]
            return int(fake.stats()["unanswered"].get(key, 0)) > int(before.get(key, 0))

        wait_until(reached, timeout=60, every=0.01)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    fake.clear()
    # Read before its lease (1 s) runs out and another worker takes its lines over.
    return _in_flight(journal, journal_owners(journal) - owners)


def _in_flight(journal: str, owners: set[str]) -> int:
    """Lines of ``owners`` whose POST was (about to be) sent and whose answer was not
    recorded: the POSTs in flight, from the worker's side (whether or not the fake got it,
    or answered it before the kill)."""
    with Journal(journal) as opened:
        return sum(1 for entry in opened.entries("submitting") if entry.owner in owners)


def test_workers_killed_at_ten_points_lose_nothing_and_pay_nothing_twice(
    fake: FakeApi, journal_url: str, tmp_path: Path
) -> None:
    fake.set("task_seconds", TASK)
    batch = prompts_file(tmp_path / "prompts.jsonl", LINES)
    folders: list[Path] = []

    def args_for(name: str) -> list[str]:
        folders.append(tmp_path / name)
        return _worker(batch, folders[-1], journal_url)

    in_flight = [
        _kill_at(fake, point, args_for(f"victim{n}"), tmp_path, journal_url)
        for n, point in enumerate(POINTS)
    ]

    finishers = [cli(fake, *args_for(f"finisher{n}"), cwd=tmp_path) for n in range(2)]
    with running(*finishers):
        for finisher in finishers:
            finish(finisher, timeout=180)
    out = tmp_path / "reconciled"
    folders.append(out)
    reconciler = cli(
        fake, "reconcile", "--journal", journal_url, "--out-dir", str(out), "--json", cwd=tmp_path
    )
    code, report_text, err = finish(reconciler, timeout=180)
    report = json.loads(report_text)
    uncertain = {item["prompt"] for item in report["uncertain"]}
    assert code == (1 if uncertain else 0), err
    assert report["running"] == []
    assert report["failed"] == []

    seen = fake.stats()
    assert max(seen["posts"].values()) == 1, "a line was POSTed twice"
    assert max(seen["created"].values()) == 1, "a line was paid twice"
    assert len(uncertain) <= sum(in_flight)
    saved = images(folders)
    expected = [name for name in line_names(LINES) if prompt_of(name) not in uncertain]
    assert sorted(saved) == expected
    assert all(len(paths) == 1 for paths in saved.values()), "a line was saved twice"
