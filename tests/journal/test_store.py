"""The journal's contract, against both stores (SQLite and PostgreSQL): claims and records,
every state × event, owners and leases, slots, listing, and several writers."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flux_flex import Journal
from flux_flex._core import journal as rules
from flux_flex._core.journal import Decision, State
from flux_flex._core.recovery import overdue_seconds
from flux_flex.journal import Start

from .conftest import claim

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ALL = {state.value: 0 for state in State}


def test_a_new_request_is_written_submitting_before_anything_is_sent(journal: Journal) -> None:
    owner = journal.open_run()
    got = claim(journal, "fp1", owner)
    assert (got.decision, got.entry, got.attempt) == (Decision.SUBMIT, None, 1)
    (entry,) = journal.entries()
    assert entry.state is State.SUBMITTING
    assert entry.uncertain
    assert (entry.prompt, dict(entry.params), entry.attempt) == ("prompt fp1", {"seed": 1}, 1)
    assert entry.host == journal.host
    assert entry.holder is not None
    assert entry.holder.label == f"{os.getpid()}@{journal.host}"
    journal.close_run(owner)


def test_a_claim_is_not_a_submission(journal: Journal) -> None:
    owner = journal.open_run()
    got = claim(journal, "fp", owner, begin=False)
    assert got.decision is Decision.SUBMIT
    assert journal.counts() == {**ALL, "claimed": 1}
    assert journal.in_flight() == 0  # nothing left yet
    assert journal.start("fp", got.attempt, owner=owner) is Start.STARTED
    assert journal.counts() == {**ALL, "submitting": 1}
    assert journal.in_flight() == 1
    assert journal.start("fp", got.attempt, owner=owner) is Start.STARTED  # idempotent
    assert journal.start("fp", got.attempt + 1, owner=owner) is Start.LOST
    # A claim given back before its POST leaves nothing behind.
    other = claim(journal, "fp2", owner, begin=False)
    assert journal.release("fp2", other.attempt, owner=owner)
    assert journal.entry("fp2") is None
    assert not journal.release("fp", got.attempt, owner=owner)  # submitting: not a claim


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
    assert entry.submitted_at is not None
    assert journal.entry_for_task("t1") == entry
    assert journal.in_flight() == 1
    assert claim(journal, "fp", owner).decision is Decision.RESUME  # never submitted again
    assert journal.record("fp", 1, rules.Ready("https://cdn/s", 42, 5.24), owner=owner)
    assert journal.in_flight() == 0  # final: its slot is free before the download
    assert journal.entry("fp").state is State.READY  # type: ignore[union-attr]
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
    assert journal.counts() == {**ALL, "saved": 1}


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


def test_a_stale_attempt_owner_or_an_impossible_event_is_not_written(journal: Journal) -> None:
    owner = journal.open_run()
    claim(journal, "fp", owner)
    journal.record("fp", 1, rules.Lost("HTTP 502", "ServerError"), owner=owner)
    other = journal.open_run()
    assert claim(journal, "fp", other, resubmit_uncertain=True).attempt == 2
    # The first attempt's late answer must not overwrite the second's entry.
    assert not journal.record("fp", 1, rules.Accepted("late"), owner=owner)
    assert not journal.record("fp", 2, rules.Accepted("stolen"), owner=owner)  # not its owner
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


# -- every state × every event, through the store ------------------------------------------------

EVENTS: dict[str, rules.Event] = {
    "Take": rules.Take(),
    "Begin": rules.Begin(),
    "Accepted": rules.Accepted("t1", None, 5.0),
    "Refused": rules.Refused("HTTP 422", "RequestValidationError"),
    "Lost": rules.Lost("HTTP 502", "ServerError"),
    "Abandoned": rules.Abandoned(),
    "Ready": rules.Ready("https://cdn/x", 7, 5.2),
    "Ended": rules.Ended("moderated", "ModerationError"),
    "Stopped": rules.Stopped("timed out", "WaitTimeoutError"),
    "Saved": rules.Saved(None, "https://cdn/x", 7, 5.2),
}
# How to bring an entry to each state from a claim (begin=False) or a submission.
PATHS: dict[State, tuple[bool, list[rules.Event]]] = {
    State.CLAIMED: (False, []),
    State.SUBMITTING: (True, []),
    State.SUBMITTED: (True, [EVENTS["Accepted"]]),
    State.READY: (True, [EVENTS["Accepted"], EVENTS["Ready"]]),
    State.SAVED: (True, [EVENTS["Accepted"], EVENTS["Saved"]]),
    State.FAILED: (True, [EVENTS["Refused"]]),
}


@pytest.mark.parametrize(("state", "name"), list(itertools.product(State, EVENTS)), ids=str)
def test_every_state_and_event(journal: Journal, state: State, name: str) -> None:
    owner = journal.open_run()
    begin, events = PATHS[state]
    claim(journal, "fp", owner, begin=begin)
    for event in events:
        assert journal.record("fp", 1, event, owner=owner)
    assert journal.entry("fp").state is state  # type: ignore[union-attr]
    try:
        change = rules.apply(state, EVENTS[name])
    except rules.InvalidTransition:
        assert not journal.record("fp", 1, EVENTS[name], owner=owner)
        assert journal.entry("fp").state is state  # type: ignore[union-attr]
        return
    assert journal.record("fp", 1, EVENTS[name], owner=owner)
    after = journal.entry("fp")
    if change.state is None:
        assert after is None
        return
    assert after is not None
    assert after.state is change.state
    assert after.attempt == (2 if change.next_attempt else 1)
    assert (after.owner is None) == change.release
    for column, value in change.values.items():
        if column != "error":
            assert getattr(after, column) == value, column


# -- owners: liveness, leases, holding -----------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "after_death"),
    [
        (State.CLAIMED, Decision.SUBMIT),
        (State.SUBMITTING, Decision.UNCERTAIN),
        (State.SUBMITTED, Decision.RESUME),
        (State.READY, Decision.RESUME),
    ],
)
def test_a_live_owner_holds_its_entry_and_a_dead_ones_is_free(
    journal: Journal, state: State, after_death: Decision
) -> None:
    mine = journal.open_run()
    begin, events = PATHS[state]
    claim(journal, "fp", mine, begin=begin)
    for event in events:
        journal.record("fp", 1, event, owner=mine)
    other = journal.open_run()
    got = claim(journal, "fp", other, resubmit_uncertain=False)
    assert (got.decision, got.owner_live) == (Decision.HELD, True)
    assert got.holder == f"{os.getpid()}@{journal.host}"
    journal.close_run(mine)  # the run ended: nobody holds it
    got = claim(journal, "fp", other)
    assert got.decision is after_death
    if after_death is Decision.RESUME:  # taken over: the new owner records, the old one not
        assert not journal.record("fp", 1, rules.Stopped("x", "E"), owner=mine)
        assert journal.record("fp", 1, rules.Stopped("x", "E"), owner=other)


def test_an_uncertain_entry_is_resubmitted_only_when_asked_and_its_sender_is_gone(
    journal: Journal,
) -> None:
    mine = journal.open_run()
    claim(journal, "fp", mine)
    other = journal.open_run()
    assert claim(journal, "fp", other, resubmit_uncertain=True).decision is Decision.HELD
    journal.close_run(mine)
    assert claim(journal, "fp", other).decision is Decision.UNCERTAIN
    assert [e.fingerprint for e in journal.uncertain()] == ["fp"]
    assert claim(journal, "fp", other, resubmit_uncertain=True).decision is Decision.SUBMIT


def test_a_lost_answer_is_uncertain_for_others_at_once(journal: Journal) -> None:
    mine = journal.open_run()
    claim(journal, "fp", mine)
    journal.record("fp", 1, rules.Lost("HTTP 502", "ServerError"), owner=mine)
    other = journal.open_run()
    assert claim(journal, "fp", other).decision is Decision.UNCERTAIN  # nobody waits for it


def test_leases_expire_and_pass_claims_on(journal: Journal) -> None:
    short = journal.open_run(lease=0.6, renew_every=None)
    claim(journal, "fp", short, begin=False)
    other = journal.open_run()
    assert claim(journal, "fp", other).decision is Decision.HELD
    time.sleep(0.8)
    got = claim(journal, "fp", other, begin=False)
    assert (got.decision, got.attempt) == (Decision.SUBMIT, 2)
    assert journal.start("fp", 1, owner=short) is Start.LOST  # the slow one lost its claim
    assert journal.start("fp", 2, owner=other) is Start.STARTED


def test_renewal_keeps_claims(journal: Journal) -> None:
    kept = journal.open_run(lease=0.6, renew_every=0.15)
    claim(journal, "fp", kept, begin=False)
    other = journal.open_run()
    time.sleep(1.5)  # more than two leases
    assert claim(journal, "fp", other).decision is Decision.HELD
    assert journal.renew(kept)
    journal.close_run(kept)  # the renewal stops with the run
    assert not journal.renew(kept)
    assert claim(journal, "fp", other).decision is Decision.SUBMIT


def _claim_then_sleep(target: str, ready: Any) -> None:
    with Journal(target) as journal:
        owner = journal.open_run()
        journal.claim("fp", prompt="p", params={}, save_to=None, owner=owner, begin=False)
        ready.set()
        threading.Event().wait(30)  # killed by the test long before


def test_a_killed_process_on_this_host_is_dead_at_once(target: str) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=_claim_then_sleep, args=(target, ready))
    child.start()
    try:
        assert ready.wait(20)
        with Journal(target) as journal:
            owner = journal.open_run()
            assert claim(journal, "fp", owner).decision is Decision.HELD
            child.kill()
            child.join(10)
            got = claim(journal, "fp", owner)  # its lease has 30 s to go; its pid is gone
            assert got.decision is Decision.SUBMIT
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


def test_a_key_reused_with_other_parameters_is_a_conflict(journal: Journal) -> None:
    owner = journal.open_run()
    name = rules.key_name("order-123")
    first = rules.parameters_digest({"prompt": "a fox", "seed": 1})
    other = rules.parameters_digest({"prompt": "a fox", "seed": 2})
    got = claim(journal, name, owner, digest=first)
    assert got.decision is Decision.SUBMIT
    assert journal.entry(name).digest == first  # type: ignore[union-attr]
    journal.record(name, 1, rules.Accepted("t1"), owner=owner)
    assert claim(journal, name, owner, digest=other).decision is Decision.CONFLICT
    assert claim(journal, name, owner, digest=first).decision is Decision.RESUME


def test_a_keyless_call_is_named_by_its_task_once_answered(journal: Journal) -> None:
    owner = journal.open_run()
    pending = rules.pending_name("abc")
    claim(journal, pending, owner)
    assert journal.record(pending, 1, rules.Accepted("task-9"), owner=owner)
    assert journal.entry(pending) is None
    entry = journal.entry(rules.task_name("task-9"))
    assert entry is not None
    assert (entry.state, entry.task_id) == (State.SUBMITTED, "task-9")
    assert journal.record(rules.task_name("task-9"), 1, rules.Ready("u"), owner=owner)


# -- reading ---------------------------------------------------------------------------------------


def test_listing(journal: Journal) -> None:
    owner = journal.open_run()
    for fp in ("a", "b", "c"):
        claim(journal, fp, owner)
    journal.record("b", 1, rules.Accepted("tb", None, 1.5), owner=owner)
    journal.record("c", 1, rules.Refused("no", "X"), owner=owner)
    assert [e.fingerprint for e in journal.entries()] == ["a", "b", "c"]
    assert [e.fingerprint for e in journal.entries("submitted", State.FAILED)] == ["b", "c"]
    assert journal.counts() == {**ALL, "submitting": 1, "submitted": 1, "failed": 1}
    entry = journal.entry("b")
    assert entry is not None
    assert entry.created_at <= entry.updated_at
    assert " url=" not in repr(entry)  # sample URLs are signed: kept out of reprs
    assert journal.forget("a")
    assert not journal.forget("a")
    assert journal.entry("a") is None
    with pytest.raises(ValueError, match="nonsense"):
        journal.entries("nonsense")


# -- several writers -----------------------------------------------------------------------------

FINGERPRINTS = [f"fp{n:03d}" for n in range(40)]


def _race(target: str, seed: int, threads: int, out: Any) -> None:
    """Claim every fingerprint from ``threads`` threads; a winner records the whole life."""
    journal = Journal(target)
    won: list[str] = []
    errors: list[str] = []

    def worker(n: int) -> None:
        owner = journal.open_run()
        order = list(FINGERPRINTS)
        random.Random(seed * 100 + n).shuffle(order)
        for fp in order:
            try:
                got = journal.claim(
                    fp, prompt=fp, params={}, save_to=None, owner=owner, begin=False
                )
                if got.decision is Decision.SUBMIT:
                    won.append(fp)
                    assert journal.start(fp, got.attempt, owner=owner) is Start.STARTED
                    assert journal.record(fp, got.attempt, rules.Accepted("t-" + fp), owner=owner)
                    saved = rules.Saved(None, "https://cdn/" + fp)
                    assert journal.record(fp, got.attempt, saved, owner=owner)
                else:
                    assert got.decision in (Decision.HELD, Decision.SKIP), got
            except Exception as exc:
                errors.append(repr(exc))

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    journal.close()
    out.put((won, errors))


def test_concurrent_claims_from_several_processes_have_one_winner_each(target: str) -> None:
    Journal(target).close()
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [context.Process(target=_race, args=(target, seed, 3, out)) for seed in range(3)]
    for child in children:
        child.start()
    _race(target, 99, 3, out)  # this process takes part too
    results = [out.get(timeout=60) for _ in range(4)]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    won = [fp for got, _ in results for fp in got]
    assert [errors for _, errors in results] == [[], [], [], []]
    assert sorted(won) == FINGERPRINTS  # each request submitted exactly once, by one writer
    with Journal(target) as journal:
        entries = journal.entries()
    assert len(entries) == len(FINGERPRINTS)
    assert all(e.state is State.SAVED and e.task_id == "t-" + e.fingerprint for e in entries)


SLOTS = 4


def _use_slots(target: str, names: list[str], peak: Any, live: Any, out: Any) -> None:
    journal = Journal(target)
    errors: list[str] = []

    def worker(mine: list[str]) -> None:
        owner = journal.open_run()
        for name in mine:
            try:
                got = journal.claim(
                    name, prompt=name, params={}, save_to=None, owner=owner, begin=False
                )
                while (
                    result := journal.start(name, got.attempt, owner=owner, max_in_flight=SLOTS)
                ) is Start.NO_SLOT:
                    journal.wait_for_change(timeout=0.05)
                assert result is Start.STARTED
                with live.get_lock():
                    live.value += 1
                    peak.value = max(peak.value, live.value)
                time.sleep(0.005)
                journal.record(name, got.attempt, rules.Accepted("t-" + name), owner=owner)
                time.sleep(0.01)
                with live.get_lock():  # counted down before the journal frees the slot
                    live.value -= 1
                journal.record(name, got.attempt, rules.Ready("u"), owner=owner)
            except Exception as exc:
                errors.append(repr(exc))
        journal.close_run(owner)

    threads = [threading.Thread(target=worker, args=(names[n::3],)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    out.put(errors)


def test_slots_are_never_exceeded_under_contention(target: str) -> None:
    Journal(target).close()
    context = multiprocessing.get_context("fork")
    peak, live, out = context.Value("i", 0), context.Value("i", 0), context.Queue()
    names = [f"n{n:03d}" for n in range(36)]
    children = [
        context.Process(target=_use_slots, args=(target, names[k::3], peak, live, out))
        for k in range(3)
    ]
    for child in children:
        child.start()
    errors = [out.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)
    assert errors == [[], [], []]
    assert 1 < peak.value <= SLOTS  # nine threads wanted a slot at once; four got one
    with Journal(target) as journal:
        assert journal.counts()["ready"] == len(names)
        assert journal.in_flight() == 0


def test_a_stale_submitted_task_stops_taking_a_slot(journal: Journal) -> None:
    owner = journal.open_run()
    claim(journal, "old", owner)
    journal.record("old", 1, rules.Accepted("t"), owner=owner)
    assert journal.in_flight() == 1
    journal._offset += rules.IN_FLIGHT_HORIZON + 1  # as if that much time had passed
    assert journal.in_flight() == 0


def test_a_dead_runs_task_takes_a_slot_only_until_it_is_overdue(journal: Journal) -> None:
    live = journal.open_run(lease=3 * rules.IN_FLIGHT_HORIZON, renew_every=None)
    dead = journal.open_run()
    for name, owner in (("mine", live), ("orphan", dead)):
        claim(journal, name, owner)
        assert journal.record(name, 1, rules.Accepted(f"t-{name}"), owner=owner)
    journal.close_run(dead)  # its task is left submitted, and nobody resumes it
    assert journal.in_flight() == 2
    journal._offset += overdue_seconds({}) - 5  # not overdue yet: the API may still run it
    assert journal.in_flight() == 2
    journal._offset += 10  # overdue: the API has finished it, polled or not
    assert journal.in_flight() == 1  # the live run's task keeps its slot until it is final
    journal._offset += rules.IN_FLIGHT_HORIZON
    assert journal.in_flight() == 0
    journal.close_run(live)


# -- waiting ---------------------------------------------------------------------------------------


def _record_later(target: str, name: str, owner_entry: tuple[str, int]) -> None:
    time.sleep(0.3)
    with Journal(target) as journal:
        owner, attempt = owner_entry
        journal.record(name, attempt, rules.Accepted("t-late"), owner=owner)


def test_a_change_in_another_process_wakes_a_waiter(journal: Journal, target: str) -> None:
    owner = journal.open_run(lease=60)
    got = claim(journal, "fp", owner)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_record_later, args=(target, "fp", (owner, got.attempt)))
    started = time.monotonic()
    child.start()
    try:
        assert journal.wait_for_change("fp", timeout=20)
        waited = time.monotonic() - started
        assert journal.entry("fp").task_id == "t-late"  # type: ignore[union-attr]
        assert waited < 15  # woken by the change, not by the timeout
        assert not journal.wait_for_change("fp", timeout=0.2)  # nothing more happens
        assert not journal.wait_for_change("none", timeout=0.1)
        assert journal.wait_for_change("none", timeout=0.1, since=journal.entry("fp"))
    finally:
        child.join(10)


def test_any_change_wakes_a_waiter_for_any_entry(journal: Journal) -> None:
    owner = journal.open_run()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(journal.wait_for_change(timeout=20)))
    waiter.start()
    time.sleep(0.3)
    claim(journal, "x", owner)
    waiter.join(20)
    assert woke == [True]


def test_closing_the_journal_ends_its_runs(target: str) -> None:
    first = Journal(target)
    owner = first.open_run()
    claim(first, "fp", owner, begin=False)
    first.close()
    with Journal(target) as again:
        assert claim(again, "fp", again.open_run()).decision is Decision.SUBMIT
