"""Webhook deliveries into the journal (handled once across receivers, each image fetched
once) and recovery (overdue tasks taken over by exactly one reconciler), on both stores."""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Any

from flux_flex import Journal
from flux_flex._core import journal as rules
from flux_flex._core.journal import Decision, State

from .conftest import claim

READY = rules.Ready("https://cdn/img", 7, 5.0)


def submitted(journal: Journal, name: str, task_id: str, owner: str) -> None:
    claim(journal, name, owner)
    assert journal.record(name, 1, rules.Accepted(task_id), owner=owner)


def test_a_delivery_is_handled_once_and_the_worker_skips_its_download(journal: Journal) -> None:
    worker, receiver = journal.open_run(), journal.open_run()
    submitted(journal, "line", "t1", worker)
    first = journal.deliver("t1", READY, owner=receiver)
    assert (first.first, first.download, first.name) == (True, True, "line")
    assert first.entry.state is State.READY
    again = journal.deliver("t1", READY, owner=receiver)  # the API retried the delivery
    assert (again.first, again.download) == (False, False)
    # The worker's own poll said Ready too: the receiver holds the download.
    assert not journal.record("line", 1, READY, owner=worker)
    assert journal.record("line", 1, rules.Saved("/r/line.png", READY.url), owner=receiver)
    saved = journal.entry("line")
    assert saved is not None
    assert (saved.state, saved.path, saved.host) == (State.SAVED, "/r/line.png", journal.host)
    assert not journal.deliver("t1", READY, owner=receiver).first


def test_without_downloading_the_worker_keeps_the_download(journal: Journal) -> None:
    worker, receiver = journal.open_run(), journal.open_run()
    submitted(journal, "line", "t1", worker)
    got = journal.deliver("t1", READY, owner=receiver, download=False)
    assert (got.first, got.download) == (True, False)
    assert journal.record("line", 1, rules.Saved("/w/line.png", READY.url), owner=worker)


def test_a_delivery_for_an_unknown_task_gets_an_entry(journal: Journal) -> None:
    receiver = journal.open_run()
    got = journal.deliver("t9", READY, owner=receiver, prompt="a fox")
    assert (got.first, got.download, got.name) == (True, True, "task:t9")
    entry = journal.entry_for_task("t9")
    assert entry is not None
    assert (entry.state, entry.prompt, entry.url) == (State.READY, "a fox", READY.url)
    failed = journal.deliver("t10", rules.Ended("moderated", "ModerationError"), owner=receiver)
    assert (failed.first, failed.download, failed.entry.state) == (True, False, State.FAILED)


def test_a_delivery_before_the_posts_answer_is_taken_in(journal: Journal) -> None:
    worker, receiver = journal.open_run(), journal.open_run()
    claim(journal, "line", worker)
    journal.deliver("t1", READY, owner=receiver)
    journal.record("task:t1", 1, rules.Saved("/r/t1.png", READY.url), owner=receiver)
    assert journal.record("line", 1, rules.Accepted("t1"), owner=worker)  # the answer, late
    entry = journal.entry("line")
    assert entry is not None
    assert (entry.state, entry.task_id, entry.path) == (State.SAVED, "t1", "/r/t1.png")
    assert journal.entry("task:t1") is None  # one entry per task


def test_a_dead_receivers_download_is_taken_over(journal: Journal) -> None:
    worker = journal.open_run()
    submitted(journal, "line", "t1", worker)
    crashed = journal.open_run()
    assert journal.deliver("t1", READY, owner=crashed).download
    retried = journal.open_run()
    assert not journal.deliver("t1", READY, owner=retried).download  # the first one lives
    journal.close_run(crashed)
    got = journal.deliver("t1", READY, owner=retried)
    assert (got.first, got.download) == (False, True)
    assert journal.record("line", 1, rules.Saved("/x.png", READY.url), owner=retried)


def _receive(target: str, seed: int, task_ids: list[str], out: Any) -> None:
    with Journal(target) as journal:
        owner = journal.open_run()
        order = task_ids * 3  # every delivery comes three times
        random.Random(seed).shuffle(order)
        firsts, downloads = [], []
        for task_id in order:
            got = journal.deliver(task_id, READY, owner=owner)
            if got.first:
                firsts.append(task_id)
            if got.download:
                downloads.append(task_id)
                path = f"/r{seed}/{task_id}.png"
                assert journal.record(got.name, got.attempt, rules.Saved(path, "u"), owner=owner)
        out.put((firsts, downloads))


def test_receivers_in_several_processes_handle_each_task_once(target: str) -> None:
    task_ids = [f"t{n:02d}" for n in range(20)]
    with Journal(target) as journal:
        owner = journal.open_run()
        for n, task_id in enumerate(task_ids[:10]):  # half known to the journal, half not
            submitted(journal, f"line{n}", task_id, owner)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [
        context.Process(target=_receive, args=(target, seed, task_ids, out)) for seed in range(3)
    ]
    for child in children:
        child.start()
    results = [out.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)
    firsts = sorted(t for got, _ in results for t in got)
    downloads = sorted(t for _, got in results for t in got)
    assert firsts == task_ids
    assert downloads == task_ids
    with Journal(target) as journal:
        assert journal.counts()["saved"] == 20


# -- recovery ------------------------------------------------------------------------------------


def test_overdue_tasks_of_dead_owners_and_uncertain_submissions(journal: Journal) -> None:
    dead = journal.open_run()
    submitted(journal, "a", "ta", dead)
    submitted(journal, "b", "tb", dead)
    journal.record("b", 1, READY, owner=dead)
    claim(journal, "u", dead)  # sent, never answered
    live = journal.open_run()
    submitted(journal, "c", "tc", live)
    assert journal.overdue(after=3600) == []
    assert journal.uncertain() == []  # its sender may still get the answer
    journal.close_run(dead)
    assert [e.fingerprint for e in journal.overdue(after=3600)] == ["a", "b"]
    (uncertain,) = journal.uncertain()
    assert (uncertain.fingerprint, uncertain.prompt, dict(uncertain.params)) == (
        "u",
        "prompt u",
        {"seed": 1},
    )
    reconciler = journal.open_run()
    taken = journal.take_over("a", owner=reconciler, after=3600)
    assert taken is not None
    assert (taken.decision, taken.attempt) == (Decision.RESUME, 1)
    assert journal.take_over("a", owner=journal.open_run(), after=3600) is None  # taken
    assert journal.take_over("c", owner=reconciler, after=3600) is None  # live, not overdue
    time.sleep(0.3)
    assert [e.fingerprint for e in journal.overdue(after=0.2)] == ["a", "b", "c"]
    assert journal.take_over("c", owner=reconciler, after=0.2) is not None  # overdue: taken
    assert journal.record("c", 1, READY, owner=reconciler)
    assert not journal.record("c", 1, rules.Saved(None, "u"), owner=live)


def _reconcile(target: str, names: list[str], out: Any, done: Any) -> None:
    with Journal(target) as journal:
        owner = journal.open_run()
        taken = [n for n in names if journal.take_over(n, owner=owner, after=3600) is not None]
        out.put(taken)
        # Stay alive until every reconciler has tried: one that ended would leave what it
        # took (and did not finish) to the others, rightly.
        done.wait(120)


def test_any_number_of_reconcilers_take_each_task_once(target: str) -> None:
    names = [f"n{n:02d}" for n in range(30)]
    with Journal(target) as journal:
        dead = journal.open_run()
        for n, name in enumerate(names):
            submitted(journal, name, f"t{n}", dead)
        journal.close_run(dead)
    context = multiprocessing.get_context("fork")
    out, done = context.Queue(), context.Barrier(4)
    children = [
        context.Process(
            target=_reconcile, args=(target, random.sample(names, len(names)), out, done)
        )
        for _ in range(4)
    ]
    for child in children:
        child.start()
    taken = [name for _ in children for name in out.get(timeout=120)]
    for child in children:
        child.join(30)
    assert sorted(taken) == names
