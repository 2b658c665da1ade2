"""The SQLite store: claims and records, listing, and several writers (threads, processes)."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from flux_flex import Journal, JournalError
from flux_flex._core import journal as rules
from flux_flex._core.journal import Decision, State

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    with Journal(tmp_path / "sub" / "tasks.sqlite") as opened:
        yield opened


def claim(journal: Journal, fp: str, owner: str, **flags: bool) -> Any:
    return journal.claim(
        fp, prompt=f"prompt {fp}", params={"seed": 1}, save_to=None, owner=owner, **flags
    )


def test_a_new_request_is_written_submitting_before_anything_is_sent(journal: Journal) -> None:
    owner = journal.open_run()
    got = claim(journal, "fp1", owner)
    assert got.decision is Decision.SUBMIT
    assert got.entry is None
    assert got.attempt == 1
    (entry,) = journal.entries()
    assert entry.state is State.SUBMITTING
    assert entry.uncertain
    assert (entry.prompt, dict(entry.params), entry.attempt) == ("prompt fp1", {"seed": 1}, 1)
    assert os.path.exists(journal.path)
    journal.close_run(owner)


def test_the_life_of_an_entry(journal: Journal, tmp_path: Path) -> None:
    owner = journal.open_run()
    assert claim(journal, "fp", owner).decision is Decision.SUBMIT
    assert journal.record("fp", 1, rules.Accepted("t1", "https://x/?id=t1", 5.0), owner=owner)
    entry = journal.entry("fp")
    assert entry is not None
    assert (entry.state, entry.task_id, entry.cost, entry.resumable) == (
        State.SUBMITTED,
        "t1",
        5.0,
        True,
    )
    assert claim(journal, "fp", owner).decision is Decision.RESUME  # never submitted again
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    assert journal.record("fp", 1, rules.Saved(str(image), "https://cdn/s", 42, 5.24), owner=owner)
    saved = journal.entry("fp")
    assert saved is not None
    assert (saved.state, saved.path, saved.seed, saved.cost, saved.submit_cost) == (
        State.SAVED,
        str(image),
        42,
        5.24,
        5.0,
    )
    assert claim(journal, "fp", owner).decision is Decision.SKIP
    image.write_bytes(b"")  # emptied: fetched again, not paid again
    assert claim(journal, "fp", owner).decision is Decision.REDOWNLOAD
    image.write_bytes(b"<html>not an image</html>")
    assert claim(journal, "fp", owner).decision is Decision.REDOWNLOAD
    image.unlink()
    assert claim(journal, "fp", owner).decision is Decision.REDOWNLOAD
    assert journal.counts() == {"submitting": 0, "submitted": 0, "saved": 1, "failed": 0}


def test_failed_entries_are_retried_only_when_asked(journal: Journal) -> None:
    owner = journal.open_run()
    claim(journal, "fp", owner)
    assert journal.record("fp", 1, rules.Refused("HTTP 429", "RateLimitError"), owner=owner)
    failed = journal.entry("fp")
    assert failed is not None
    assert (failed.state, failed.retryable, failed.error) == (State.FAILED, True, "HTTP 429")
    assert claim(journal, "fp", owner).decision is Decision.FAILED
    again = claim(journal, "fp", owner, retry_failed=True)
    assert (again.decision, again.attempt) == (Decision.SUBMIT, 2)
    retried = journal.entry("fp")
    assert retried is not None
    assert (retried.state, retried.error, retried.attempt) == (State.SUBMITTING, None, 2)


def test_a_stale_attempt_or_an_impossible_event_is_not_written(journal: Journal) -> None:
    owner = journal.open_run()
    claim(journal, "fp", owner)
    journal.record("fp", 1, rules.Lost("HTTP 502", "ServerError"), owner=owner)
    journal.close_run(owner)  # the run ended: its uncertain entry may be resubmitted on request
    other = journal.open_run()
    assert claim(journal, "fp", other, resubmit_uncertain=True).attempt == 2
    # The first attempt's late answer must not overwrite the second's entry.
    assert not journal.record("fp", 1, rules.Accepted("late"), owner=owner)
    assert journal.record("fp", 2, rules.Accepted("t2"), owner=other)
    assert not journal.record("fp", 2, rules.Begin(), owner=other)  # cannot go backwards
    assert not journal.record("missing", 1, rules.Accepted("t"), owner=other)
    entry = journal.entry("fp")
    assert entry is not None
    assert (entry.task_id, entry.state) == ("t2", State.SUBMITTED)


def test_abandoned_removes_the_entry(journal: Journal) -> None:
    owner = journal.open_run()
    claim(journal, "fp", owner)
    assert journal.record("fp", 1, rules.Abandoned(), owner=owner)
    assert journal.entries() == []
    assert claim(journal, "fp", owner).decision is Decision.SUBMIT


def test_an_uncertain_entry_of_a_live_run_is_never_resubmitted(journal: Journal) -> None:
    mine = journal.open_run()
    claim(journal, "fp", mine)
    other = journal.open_run()
    got = claim(journal, "fp", other, resubmit_uncertain=True)
    assert (got.decision, got.owner_live) == (Decision.UNCERTAIN, True)
    journal.close_run(mine)
    assert claim(journal, "fp", other, resubmit_uncertain=True).decision is Decision.SUBMIT


def _claim_then_sleep(path: str, ready: Any) -> None:
    with Journal(path) as journal:
        journal.claim("fp", prompt="p", params={}, save_to=None, owner=journal.open_run())
        ready.set()
        threading.Event().wait(30)  # killed by the test long before


def test_owner_liveness_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "tasks.sqlite")
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=_claim_then_sleep, args=(path, ready))
    child.start()
    try:
        assert ready.wait(20)
        with Journal(path) as journal:
            owner = journal.open_run()
            assert claim(journal, "fp", owner, resubmit_uncertain=True).owner_live
            child.kill()
            child.join(10)
            got = claim(journal, "fp", owner, resubmit_uncertain=True)
            assert got.decision is Decision.SUBMIT  # its writer is dead: resubmitted on request
    finally:
        child.kill()
        child.join(10)


def test_identical_requests_of_one_run_take_successive_occurrences(journal: Journal) -> None:
    def name(occurrence: int) -> str:
        return f"same#{occurrence}"

    def take(owner: str) -> Any:
        return journal.claim(name, prompt="same", params={}, save_to=None, owner=owner)

    first = journal.open_run()
    assert [take(first).fingerprint for _ in range(3)] == ["same#0", "same#1", "same#2"]
    journal.close_run(first)
    again = journal.open_run()  # the next run meets the same three entries, in turn
    taken = [take(again) for _ in range(4)]
    assert [c.fingerprint for c in taken] == ["same#0", "same#1", "same#2", "same#3"]
    assert [c.decision for c in taken] == [Decision.UNCERTAIN] * 3 + [Decision.SUBMIT]
    other = journal.open_run()  # runs going at the same time count separately
    assert take(other).fingerprint == "same#0"


def test_listing(journal: Journal) -> None:
    owner = journal.open_run()
    for fp in ("a", "b", "c"):
        claim(journal, fp, owner)
    journal.record("b", 1, rules.Accepted("tb", None, 1.5), owner=owner)
    journal.record("c", 1, rules.Refused("no", "X"), owner=owner)
    assert [e.fingerprint for e in journal.entries()] == ["a", "b", "c"]
    assert [e.fingerprint for e in journal.entries("submitted", State.FAILED)] == ["b", "c"]
    assert journal.counts() == {"submitting": 1, "submitted": 1, "saved": 0, "failed": 1}
    entry = journal.entry("b")
    assert entry is not None
    assert entry.created_at <= entry.updated_at
    assert " url=" not in repr(entry)  # sample URLs are signed: kept out of reprs
    assert journal.forget("a")
    assert not journal.forget("a")
    assert journal.entry("a") is None
    with pytest.raises(ValueError, match="nonsense"):
        journal.entries("nonsense")


def test_a_reader_does_not_create_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "none" / "tasks.sqlite"
    with pytest.raises(JournalError, match="no task journal"):
        Journal(path, create=False)
    assert not path.parent.exists()
    Journal(path).close()
    with Journal(path, create=False) as journal:
        assert journal.entries() == []


def test_a_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(JournalError, match="newer flux-flex") as caught:
        Journal(path)
    assert caught.value.path == str(path)


def test_a_file_that_is_not_a_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="cannot be"):
        Journal(path)


def test_wal_mode_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite"
    with Journal(path) as journal:
        claim(journal, "fp", journal.open_run())
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with Journal(path) as again:
        assert [e.fingerprint for e in again.entries()] == ["fp"]


# -- several writers ---------------------------------------------------------------------------

FINGERPRINTS = [f"fp{n:03d}" for n in range(60)]


def _race(path: str, seed: int, threads: int, out: Any) -> None:
    """Claim every fingerprint from ``threads`` threads; a winner records the whole life."""
    journal = Journal(path)
    won: list[str] = []
    errors: list[str] = []

    def worker(n: int) -> None:
        owner = journal.open_run()
        order = list(FINGERPRINTS)
        random.Random(seed * 100 + n).shuffle(order)
        for fp in order:
            try:
                got = journal.claim(fp, prompt=fp, params={}, save_to=None, owner=owner)
                if got.decision is Decision.SUBMIT:
                    won.append(fp)
                    assert journal.record(fp, got.attempt, rules.Accepted("t-" + fp), owner=owner)
                    saved = rules.Saved(None, "https://cdn/" + fp)
                    assert journal.record(fp, got.attempt, saved, owner=owner)
            except Exception as exc:
                errors.append(repr(exc))

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    journal.close()
    out.put((won, errors))


def test_threads_and_processes_share_one_journal(tmp_path: Path) -> None:
    path = str(tmp_path / "tasks.sqlite")
    Journal(path).close()
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [context.Process(target=_race, args=(path, seed, 3, out)) for seed in range(3)]
    for child in children:
        child.start()
    _race(path, 99, 3, out)  # this process takes part too
    results = [out.get(timeout=60) for _ in range(4)]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    won = [fp for got, _ in results for fp in got]
    assert [errors for _, errors in results] == [[], [], [], []]
    assert sorted(won) == FINGERPRINTS  # each request submitted exactly once, by one writer
    with Journal(path) as journal:
        entries = journal.entries()
    assert len(entries) == len(FINGERPRINTS)
    assert all(e.state is State.SAVED and e.task_id == "t-" + e.fingerprint for e in entries)
