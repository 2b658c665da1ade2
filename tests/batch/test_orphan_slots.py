"""A crashed worker's tasks stop taking account slots once they are overdue: the API has
finished them whether anyone polls or not (nobody resumes them). A live worker's keep theirs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from flux_flex import Journal, RateLimitError, Result
from flux_flex._core import journal as rules
from flux_flex._core.recovery import overdue_seconds
from flux_flex.testing import FakeBFL

from .conftest import posts, run_batch

SLOTS = 3
# Accepted this long ago: overdue, and still well within the 900 s a live run's task counts.
AGE = overdue_seconds({}) + 60

CRASHED_WORKER = """
import os, sys
from flux_flex import Journal
from flux_flex._core import journal as rules
journal = Journal(sys.argv[1])
owner = journal.open_run()
for n in range(int(sys.argv[2])):
    journal.claim(f"orphan{n}", prompt=f"orphan {n}", params={}, save_to=None, owner=owner)
    assert journal.record(f"orphan{n}", 1, rules.Accepted(f"t{n}"), owner=owner)
os._exit(0)  # killed: its run is never closed, its tasks never settled
"""


def _age(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET submitted_at = submitted_at - ?", (AGE,))


def test_a_dead_workers_overdue_tasks_free_their_slots(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    subprocess.run(
        [sys.executable, "-c", CRASHED_WORKER, str(journal), str(SLOTS)], check=True, timeout=60
    )
    _age(journal)
    request = {"prompt": "a fox", "save_to": tmp_path / "fox.jpg"}
    (outcome,) = run_batch(
        "sync", fake, [request], journal=journal, max_in_flight=SLOTS, timeout=20
    )
    assert isinstance(outcome, Result), outcome
    assert posts(fake) == 1


def test_a_live_workers_tasks_keep_their_slots(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    with Journal(journal) as holder:
        owner = holder.open_run()
        for n in range(SLOTS):
            holder.claim(f"held{n}", prompt=f"held {n}", params={}, save_to=None, owner=owner)
            assert holder.record(f"held{n}", 1, rules.Accepted(f"t{n}"), owner=owner)
        _age(journal)
        request = {"prompt": "a fox", "save_to": tmp_path / "fox.jpg"}
        (outcome,) = run_batch(
            "sync", fake, [request], journal=journal, max_in_flight=SLOTS, timeout=1.5
        )
        holder.close_run(owner)
    assert isinstance(outcome, RateLimitError), outcome  # no free slot within its timeout
    assert "no free account slot" in str(outcome)
    assert posts(fake) == 0
