"""Batches with a journal, run again: nothing is paid twice, nothing is lost — re-runs,
timeouts, answers lost after the task was created, cancellation and Ctrl-C."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flux_flex import (
    APIConnectionError,
    AsyncFluxFlex,
    BatchEvent,
    DownloadError,
    FluxFlex,
    Journal,
    JournalError,
    PreviouslyFailedError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    TaskUncertainError,
    WaitTimeoutError,
)
from flux_flex._core.journal import State
from flux_flex.testing import FakeBFL

from .conftest import SUBMIT, client_options, posts, run_batch


def images(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".sqlite"))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def batch(folder: Path, count: int, duration: float = 0.05) -> list[dict[str, Any]]:
    return [
        {"prompt": f"fox {i} [d={duration}]", "save_to": folder / f"fox{i}.jpg"}
        for i in range(count)
    ]


def states(path: Path) -> dict[str, int]:
    with Journal(path) as journal:
        return journal.counts()


def test_a_rerun_skips_what_was_saved(kind: str, fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 5)
    first = run_batch(kind, fake, requests, journal=journal)
    assert posts(fake) == 5
    downloads = len(fake.downloads)
    events: list[BatchEvent] = []
    again = run_batch(kind, fake, requests, journal=str(journal), on_event=events.append)
    assert posts(fake) == 5
    assert len(fake.downloads) == downloads
    assert [o.id for o in again] == [o.id for o in first]
    assert [o.path for o in again] == [o.path for o in first]
    assert [o.cost for o in again] == [fake.tasks[o.id].cost for o in first]  # as recorded
    assert [e.kind for e in events] == ["skipped"] * 5
    assert events[-1].counts.skipped == 5
    assert images(tmp_path) == [f"fox{i}.jpg" for i in range(5)]
    assert states(journal)["saved"] == 5


def test_identical_requests_are_distinct_entries(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "j" / "tasks.sqlite"
    requests: list[Any] = ["same", "same", {"prompt": "same", "save_to": tmp_path / "out"}]
    run_batch("async", fake, requests, journal=journal)
    run_batch("async", fake, requests, journal=journal)
    assert posts(fake) == 3
    assert states(journal)["saved"] == 3


def test_a_missing_file_is_fetched_again_not_paid_again(
    kind: str, fake: FakeBFL, tmp_path: Path
) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 3)
    run_batch(kind, fake, requests, journal=journal)
    (tmp_path / "fox1.jpg").unlink()
    (tmp_path / "fox2.jpg").write_bytes(b"")  # emptied by accident
    downloads = len(fake.downloads)
    events: list[BatchEvent] = []
    again = run_batch(kind, fake, requests, journal=journal, on_event=events.append)
    assert posts(fake) == 3
    assert len(fake.downloads) == downloads + 2
    assert all(not isinstance(o, BaseException) for o in again)
    assert sorted(e.kind for e in events) == ["done", "done", "resumed", "resumed", "skipped"]
    assert (tmp_path / "fox1.jpg").stat().st_size > 0
    assert (tmp_path / "fox2.jpg").stat().st_size > 0


def test_a_missing_file_whose_sample_expired_is_reported_not_repaid(
    fake: FakeBFL, tmp_path: Path
) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 1)
    run_batch("async", fake, requests, journal=journal)
    for task in fake.tasks.values():
        task.sample_expires_at = 0.0
    (tmp_path / "fox0.jpg").unlink()
    (outcome,) = run_batch("async", fake, requests, journal=journal)
    assert isinstance(outcome, DownloadError)
    assert posts(fake) == 1
    with Journal(journal) as opened:
        (entry,) = opened.entries()
    assert entry.state is State.FAILED
    assert entry.retryable is False
    assert entry.error is not None
    assert "missing" in entry.error
    assert "expired" in entry.error
    (again,) = run_batch("async", fake, requests, journal=journal)
    assert isinstance(again, PreviouslyFailedError)
    assert "retry_failed=True" in str(again)
    assert posts(fake) == 1
    (retried,) = run_batch("async", fake, requests, journal=journal, retry_failed=True)
    assert not isinstance(retried, BaseException)
    assert posts(fake) == 2


def test_failures_are_retried_only_when_asked(kind: str, fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    fake.fail_next("POST", SUBMIT, status=400)  # refused: no task exists
    requests = ["refused once", "always fails [fail]", "fine"]
    first = run_batch(kind, fake, requests, journal=journal, concurrency=1)
    assert type(first[0]).__name__ == "APIError"
    assert isinstance(first[1], TaskFailedError)
    assert posts(fake) == 2
    second = run_batch(kind, fake, requests, journal=journal, concurrency=1)
    assert isinstance(second[0], PreviouslyFailedError)
    assert second[0].retryable  # no task was created for it
    assert isinstance(second[1], PreviouslyFailedError)
    assert not second[1].retryable  # a billed task ended: a retry pays again
    assert second[1].task_id == first[1].task_id
    assert second[1].error_type == "TaskFailedError"
    assert posts(fake) == 2
    third = run_batch(kind, fake, requests, journal=journal, retry_failed=True)
    assert not isinstance(third[0], BaseException)
    assert isinstance(third[1], TaskFailedError)
    assert posts(fake) == 4


def test_timed_out_waits_are_resumed_by_id(kind: str, fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 4, duration=4.0)
    events: list[BatchEvent] = []
    # The timeout covers each request whole: time enough to submit, not to finish.
    first = run_batch(kind, fake, requests, journal=journal, timeout=1.0, on_event=events.append)
    assert all(isinstance(o, WaitTimeoutError) for o in first)
    assert events[-1].counts.unfinished == 4
    assert states(journal)["submitted"] == 4
    assert images(tmp_path) == []
    second = run_batch(kind, fake, requests, journal=journal, timeout=10)
    assert posts(fake) == 4  # 4 prompts, 4 tasks: resumed, never resubmitted
    assert [o.id for o in second] == [o.task_id for o in first]
    assert images(tmp_path) == [f"fox{i}.jpg" for i in range(4)]
    assert states(journal)["saved"] == 4


@pytest.mark.parametrize("fault", ["502", "drop"])
def test_an_answer_lost_after_the_task_was_created_is_uncertain(
    kind: str, fake: FakeBFL, tmp_path: Path, fault: str
) -> None:
    journal = tmp_path / "tasks.sqlite"
    if fault == "502":
        fake.fail_next("POST", SUBMIT, status=502, create_task=True)
    else:
        fake.drop_next("POST", SUBMIT, create_task=True)
    requests = batch(tmp_path, 3)
    first = run_batch(kind, fake, requests, journal=journal, concurrency=1)
    assert isinstance(first[0], ServerError | APIConnectionError)
    assert first[0].task_may_exist
    assert posts(fake) == 3  # the lost answer's task exists (and is billed)
    with Journal(journal) as opened:
        uncertain = opened.entries(State.SUBMITTING)
    assert len(uncertain) == 1
    assert uncertain[0].prompt == "fox 0 [d=0.05]"
    assert uncertain[0].error

    events: list[BatchEvent] = []
    second = run_batch(kind, fake, requests, journal=journal, on_event=events.append)
    assert isinstance(second[0], TaskUncertainError)
    assert second[0].prompt == "fox 0 [d=0.05]"
    assert second[0].fingerprint == uncertain[0].fingerprint
    assert "resubmit_uncertain=True" in str(second[0])
    assert events[-1].counts.uncertain == 1
    assert posts(fake) == 3  # reported, not resubmitted

    third = run_batch(kind, fake, requests, journal=journal, resubmit_uncertain=True)
    assert all(not isinstance(o, BaseException) for o in third)
    assert posts(fake) == 4  # resubmitted exactly once, because it was asked
    run_batch(kind, fake, requests, journal=journal, resubmit_uncertain=True)
    assert posts(fake) == 4
    assert images(tmp_path) == ["fox0.jpg", "fox1.jpg", "fox2.jpg"]


def test_a_task_the_api_forgot_is_reported_not_resubmitted(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 2, duration=4.0)
    run_batch("async", fake, requests, journal=journal, timeout=1.0)  # submitted, not done
    fake.reset()  # the fake forgets every task: each poll answers "Task not found"
    outcomes = run_batch("async", fake, requests, journal=journal)
    assert all(isinstance(o, TaskNotFoundError) for o in outcomes)
    assert posts(fake) == 0
    with Journal(journal) as opened:
        entries = opened.entries()
    assert all(e.state is State.FAILED and e.retryable is False for e in entries)
    assert all("no longer knows" in (e.error or "") for e in entries)


def test_a_journal_that_cannot_be_written_sends_nothing(fake: FakeBFL, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "tasks.sqlite")
    journal.close()
    outcomes = run_batch("async", fake, ["a", "b"], journal=journal)
    assert all(isinstance(o, JournalError) for o in outcomes)
    assert "Nothing new was submitted" in str(outcomes[0])
    assert posts(fake) == 0


def test_a_journal_passed_in_stays_open(fake: FakeBFL, tmp_path: Path) -> None:
    with Journal(tmp_path / "tasks.sqlite") as journal:
        run_batch("sync", fake, ["a"], journal=journal)
        run_batch("async", fake, ["a"], journal=journal)
        assert journal.counts()["saved"] == 1
    assert posts(fake) == 1


# -- stopping a run ------------------------------------------------------------------------------


def test_a_cancelled_batch_leaves_every_task_resumable(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 8, duration=0.3)
    last: list[BatchEvent] = []

    async def cancelled_run() -> None:
        created = asyncio.Event()

        def on_event(event: BatchEvent) -> None:
            last[:] = [event]
            if event.counts.created >= 3:
                created.set()

        async with AsyncFluxFlex(**client_options(fake)) as client:
            run = asyncio.create_task(
                client.generate_many(requests, concurrency=4, journal=journal, on_event=on_event)
            )
            await created.wait()
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    asyncio.run(cancelled_run())
    created_before = posts(fake)
    counts = states(journal)
    assert counts["submitting"] == 0  # every POST sent got its answer recorded
    assert counts["submitted"] + counts["saved"] == created_before
    assert last[0].counts.in_flight == counts["submitted"]  # what the CLI reports on Ctrl-C

    again = run_batch("async", fake, requests, journal=journal)
    assert all(not isinstance(o, BaseException) for o in again)
    assert posts(fake) == 8  # 8 prompts, 8 tasks
    assert images(tmp_path) == [f"fox{i}.jpg" for i in range(8)]
    assert leftovers(tmp_path) == []


def test_cancelling_during_a_post_waits_for_its_answer(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    fake.stall_next("POST", SUBMIT, seconds=0.4)

    async def cancelled_run() -> None:
        sending = asyncio.Event()

        def on_event(event: BatchEvent) -> None:
            if event.kind == "submitting":
                sending.set()

        async with AsyncFluxFlex(**client_options(fake)) as client:
            run = asyncio.create_task(
                client.generate_many(["slow answer"], journal=journal, on_event=on_event)
            )
            await sending.wait()
            await asyncio.sleep(0.1)  # the POST is on the wire; its answer stalls 0.4 s
            assert fake.requests
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    asyncio.run(cancelled_run())
    assert posts(fake) == 1
    with Journal(journal) as opened:
        (entry,) = opened.entries()
    assert entry.state is State.SUBMITTED  # not "submitting": its id was recorded
    assert entry.task_id in fake.tasks
    run_batch("async", fake, ["slow answer"], journal=journal)
    assert posts(fake) == 1


def test_cancelling_while_backing_off_a_429_leaves_nothing_behind(
    fake: FakeBFL, tmp_path: Path
) -> None:
    journal = tmp_path / "tasks.sqlite"
    fake.fail_next("POST", SUBMIT, status=429, headers={"Retry-After": "1"})

    async def cancelled_run() -> None:
        sending = asyncio.Event()

        def on_event(event: BatchEvent) -> None:
            if event.kind == "submitting":
                sending.set()

        async with AsyncFluxFlex(**client_options(fake)) as client:
            run = asyncio.create_task(
                client.generate_many(["refused first"], journal=journal, on_event=on_event)
            )
            await sending.wait()
            await asyncio.sleep(0.2)  # the 429 came back; the client backs off for 1 s
            assert fake.rate_limited == 1 or fake.requests
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    asyncio.run(cancelled_run())
    assert posts(fake) == 0
    assert set(states(journal).values()) == {0}  # every state listed, all empty
    (outcome,) = run_batch("async", fake, ["refused first"], journal=journal)
    assert not isinstance(outcome, BaseException)  # not "uncertain", not "failed"
    assert posts(fake) == 1


def test_cancelling_while_the_journal_writes_the_claim_sends_nothing(
    fake: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "tasks.sqlite"
    claiming = threading.Event()
    slow_claim = Journal.claim

    def claim(self: Journal, *args: Any, **kwargs: Any) -> Any:
        claiming.set()
        time.sleep(0.3)  # a slow disk: the run is cancelled while the entry is written
        return slow_claim(self, *args, **kwargs)

    monkeypatch.setattr(Journal, "claim", claim)

    async def cancelled_run() -> None:
        async with AsyncFluxFlex(**client_options(fake)) as client:
            run = asyncio.create_task(client.generate_many(["claimed"], journal=journal))
            await asyncio.to_thread(claiming.wait, 5)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    asyncio.run(cancelled_run())
    assert fake.requests == []  # the POST never left
    assert states(journal)["submitting"] == 0  # so the entry does not say "maybe billed"
    monkeypatch.undo()
    (outcome,) = run_batch("async", fake, ["claimed"], journal=journal)
    assert not isinstance(outcome, BaseException)
    assert posts(fake) == 1


def test_ctrl_c_in_the_sync_client_leaves_every_task_resumable(
    fake: FakeBFL, tmp_path: Path
) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 8, duration=0.1)

    def on_event(event: BatchEvent) -> None:
        if event.kind == "submitted" and event.counts.created == 4:
            fake.stall_next("POST", SUBMIT, seconds=0.5, times=4)  # the next wave hangs

    def interrupt(index: int, outcome: object) -> None:
        deadline = time.monotonic() + 5
        while sum(r.method == "POST" for r in fake.requests) < 5:  # a POST is on the wire
            assert time.monotonic() < deadline
            time.sleep(0.005)
        raise KeyboardInterrupt

    with (
        FluxFlex(**client_options(fake)) as client,
        pytest.raises(KeyboardInterrupt),
    ):
        client.generate_many(
            requests, concurrency=4, journal=journal, on_result=interrupt, on_event=on_event
        )
    counts = states(journal)
    assert counts["submitting"] == 0  # the stalled POSTs were awaited and recorded
    assert counts["submitted"] + counts["ready"] + counts["saved"] == posts(fake), counts
    assert posts(fake) > 4  # the interrupt came with POSTs of the second wave on the wire
    run_batch("sync", fake, requests, journal=journal)
    assert posts(fake) == 8
    assert images(tmp_path) == [f"fox{i}.jpg" for i in range(8)]


def test_leaving_a_sync_run_early_stops_it(fake: FakeBFL, tmp_path: Path) -> None:
    journal = tmp_path / "tasks.sqlite"
    requests = batch(tmp_path, 10, duration=0.2)
    with FluxFlex(**client_options(fake)) as client:
        with client.generate_as_completed(requests, concurrency=3, journal=journal) as run:
            for _ in run:
                break
        for thread in run._threads:  # the workers end after their current request
            thread.join(10)
            assert not thread.is_alive()
    assert posts(fake) < 10
    assert states(journal)["submitting"] == 0
    run_batch("sync", fake, requests, journal=journal)
    assert posts(fake) == 10
