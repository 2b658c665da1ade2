"""The batch engine without a journal: order, concurrency, validation of the whole batch,
lazy reading, completion order, live counts — through both shells."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flux_flex import (
    AsyncFluxFlex,
    AsyncResult,
    BatchEvent,
    BatchValidationError,
    FluxFlex,
    ModerationError,
    RequestValidationError,
    Result,
    TaskFailedError,
    TaskSnapshot,
)
from flux_flex.testing import FakeBFL

from .conftest import client_options, posts, run_batch


def test_outcomes_come_back_in_order_and_one_failure_never_cancels_others(
    kind: str, fake: FakeBFL, tmp_path: Path
) -> None:
    requests: list[Any] = []
    for i in range(12):
        duration = f"[d={0.02 * (12 - i):.2f}]"  # later requests finish first
        if i == 3:
            requests.append(f"fox {i} [fail] {duration}")
        elif i == 7:
            requests.append({"prompt": f"fox {i} [moderate-content]", "seed": i})
        elif i % 4 == 0:
            requests.append({"prompt": f"fox {i} {duration}", "save_to": tmp_path / f"{i}.png"})
        else:
            requests.append(f"fox {i} {duration}")
    outcomes = run_batch(kind, fake, requests, concurrency=5)
    assert len(outcomes) == 12
    result_type = Result if kind == "sync" else AsyncResult
    for i, outcome in enumerate(outcomes):
        if i == 3:
            assert isinstance(outcome, TaskFailedError)
        elif i == 7:
            assert isinstance(outcome, ModerationError)
        else:
            assert isinstance(outcome, result_type), (i, outcome)
            assert outcome.prompt is not None
            assert outcome.prompt.startswith(f"fox {i} ")
    saved = sorted(Path(o.path).name for o in outcomes if isinstance(o, result_type) and o.path)
    assert saved == ["0.png", "4.png", "8.png"]  # save_to's extension chose the format
    assert posts(fake) == 12


def _peak(fake: FakeBFL) -> int:
    steps = sorted(
        [(t.created_at, 1) for t in fake.tasks.values()]
        + [(t.ready_at, -1) for t in fake.tasks.values()]
    )
    peak = running = 0
    for _, step in steps:
        running += step
        peak = max(peak, running)
    return peak


def test_concurrency_is_never_exceeded(kind: str, fake: FakeBFL) -> None:
    workers: set[str] = set()

    def on_event(event: BatchEvent) -> None:
        workers.add(_worker_name(kind))

    outcomes = run_batch(
        kind, fake, [f"p{i} [d=0.04]" for i in range(40)], concurrency=4, on_event=on_event
    )
    assert all(not isinstance(o, BaseException) for o in outcomes)
    assert fake.rate_limited == 0
    assert 1 < _peak(fake) <= 4  # tasks alive at once on the server
    assert 1 < len(workers) <= 4  # a fixed pool of workers, not one per request


def _worker_name(kind: str) -> str:
    if kind == "sync":
        return threading.current_thread().name
    task = asyncio.current_task()
    assert task is not None
    return task.get_name()


def test_live_tasks_stay_flat_in_the_number_of_requests(fake: FakeBFL) -> None:
    peak = 0

    def on_event(event: BatchEvent) -> None:
        nonlocal peak
        peak = max(peak, len(asyncio.all_tasks()))

    async def main() -> list[Any]:
        async with AsyncFluxFlex(**client_options(fake)) as client:
            return await client.generate_many(
                (f"p{i} [d=0.0]" for i in range(120)), concurrency=6, on_event=on_event
            )

    outcomes = asyncio.run(main())
    assert len(outcomes) == 120
    assert all(not isinstance(o, BaseException) for o in outcomes)
    # The workers, one shielded POST each at most, and the caller's task, whatever the size
    # of the batch (one task per request used to make it 120 + the caller's).
    assert peak <= 2 * 6 + 1


BAD_BATCH: list[Any] = [
    "fine",
    {"prompt": "fine too", "seed": 3},
    {"prompt": "too narrow", "width": 10},
    "also fine",
    {"prompt": "typo", "sead": 7},
    42,
    {"seed": 1},
    {"prompt": "two problems", "steps": 99, "guidance": -1},
]


def test_the_whole_batch_is_checked_before_anything_is_sent(kind: str, fake: FakeBFL) -> None:
    with pytest.raises(BatchValidationError) as caught:
        run_batch(kind, fake, BAD_BATCH)
    error = caught.value
    assert isinstance(error, RequestValidationError)
    assert error.fields == [
        "requests[2].width",
        "requests[4].sead",
        "requests[5]",
        "requests[6].prompt",
        "requests[7].guidance",
        "requests[7].steps",
    ]
    assert sorted(error.by_index) == [2, 4, 5, 6, 7]
    assert [e.field for e in error.by_index[7]] == ["guidance", "steps"]
    message = str(error)
    assert "5 requests are invalid, nothing was sent" in message
    assert "requests[2].width must be >= 64" in message
    assert "requests[4].sead is not a parameter of a request (did you mean 'seed'?)" in message
    assert "not int" in message
    assert fake.requests == []  # nothing at all reached the API


def test_a_generator_is_read_once_and_checked_whole_before_any_submit(
    kind: str, fake: FakeBFL
) -> None:
    pulled: list[int] = []

    def requests() -> Iterator[Any]:
        for i in range(6):
            pulled.append(i)
            yield {"prompt": f"p{i}", "width": 10 if i == 5 else 1024}

    with pytest.raises(BatchValidationError) as caught:
        run_batch(kind, fake, requests())
    assert caught.value.fields == ["requests[5].width"]
    assert pulled == [0, 1, 2, 3, 4, 5]
    assert posts(fake) == 0  # the first five were fine, and still nothing was sent


def test_stream_reads_lazily_and_refuses_bad_requests_one_by_one(kind: str, fake: FakeBFL) -> None:
    pulled = 0
    seen_at_first_outcome: list[int] = []
    concurrency = 3

    def requests() -> Iterator[Any]:
        nonlocal pulled
        for i in range(30):
            pulled += 1
            yield {"prompt": f"p{i}", "width": 10} if i == 4 else f"p{i}"

    def on_result(index: int, outcome: object) -> None:
        if not seen_at_first_outcome:
            seen_at_first_outcome.append(pulled)

    outcomes = run_batch(
        kind, fake, requests(), concurrency=concurrency, stream=True, on_result=on_result
    )
    # At the first outcome only a few requests had been read: each worker holds one, and
    # at most `concurrency` finished ones wait to be handed over.
    assert seen_at_first_outcome[0] <= 1 + 2 * concurrency
    assert len(outcomes) == 30
    assert isinstance(outcomes[4], BatchValidationError)
    assert outcomes[4].fields == ["requests[4].width"]
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 29
    assert posts(fake) == 29


def test_a_broken_iterable_ends_the_batch_with_its_error(kind: str, fake: FakeBFL) -> None:
    def requests() -> Iterator[str]:
        yield "p0"
        raise OSError("the prompts file went away")

    with pytest.raises(OSError, match="went away"):
        run_batch(kind, fake, requests(), stream=True)
    assert posts(fake) == 1


@pytest.mark.anyio
async def test_as_completed_yields_each_outcome_as_it_finishes(fake: FakeBFL) -> None:
    durations = [0.9, 0.5, 0.3, 0.02]
    order: list[int] = []
    async with (
        AsyncFluxFlex(**client_options(fake)) as client,
        client.generate_as_completed(
            [f"p{i} [d={d}]" for i, d in enumerate(durations)], concurrency=4
        ) as run,
    ):
        assert fake.requests == []  # nothing starts before the first iteration
        async for index, outcome in run:
            assert isinstance(outcome, AsyncResult)
            assert outcome.prompt is not None
            assert outcome.prompt.startswith(f"p{index} ")
            order.append(index)
        assert run.counts.done == 4
    # Completion order, not request order (the extremes are far apart: robust under load).
    assert sorted(order) == [0, 1, 2, 3]
    assert (order[0], order[-1]) == (3, 0)


def test_sync_as_completed(fake: FakeBFL) -> None:
    order: list[int] = []
    with (
        FluxFlex(**client_options(fake)) as client,
        client.generate_as_completed(["a [d=0.4]", "b [d=0.02]"], concurrency=2) as run,
    ):
        for index, outcome in run:
            assert isinstance(outcome, Result)
            order.append(index)
    assert order == [1, 0]


def test_events_and_live_counts(kind: str, fake: FakeBFL) -> None:
    events: list[BatchEvent] = []
    outcomes = run_batch(
        kind, fake, ["a", "b [fail]", "c", "d"], concurrency=2, on_event=events.append
    )
    kinds = [e.kind for e in events]
    assert kinds.count("submitting") == 4
    assert kinds.count("submitted") == 4
    assert sorted(k for k in kinds if k in ("done", "failed")) == ["done"] * 3 + ["failed"]
    final = events[-1].counts
    assert (final.total, final.finished, final.in_flight) == (4, 4, 0)
    assert (final.done, final.failed, final.created, final.skipped) == (3, 1, 4, 0)
    assert final.credits == pytest.approx(sum(t.cost for t in fake.tasks.values()))
    assert final.credits > 0
    assert max(e.counts.in_flight for e in events) <= 2
    for event in events:
        if event.kind in ("done", "failed"):
            assert event.outcome is outcomes[event.index]
            assert event.task_id is not None
        if event.kind == "submitted":
            assert event.task_id in fake.tasks


def test_callbacks_that_raise_do_not_break_the_batch(kind: str, fake: FakeBFL) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("display crashed")

    outcomes = run_batch(kind, fake, ["a", "b"], on_result=broken, on_event=broken)
    assert all(not isinstance(o, BaseException) for o in outcomes)


@pytest.mark.parametrize(
    ("requests", "options", "error"),
    [
        (["a"], {"concurrency": 0}, ValueError),
        (["a"], {"concurrency": 2.5}, ValueError),
        (["a"], {"timeout": -1}, ValueError),
        (["a"], {"timeout": float("inf")}, ValueError),
        ("a single prompt", {}, TypeError),
        ({"prompt": "a dict"}, {}, TypeError),
    ],
)
def test_bad_arguments(
    kind: str, fake: FakeBFL, requests: Any, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        run_batch(kind, fake, requests, **options)
    assert posts(fake) == 0


def test_an_empty_batch(kind: str, fake: FakeBFL) -> None:
    assert run_batch(kind, fake, []) == []
    assert run_batch(kind, fake, iter([]), stream=True) == []


def test_every_poll_of_every_request_reaches_on_progress(kind: str, fake: FakeBFL) -> None:
    seen: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def on_progress(index: int, snapshot: TaskSnapshot) -> None:
        with lock:
            seen.append((index, snapshot.id, snapshot.status))

    outcomes = run_batch(
        kind, fake, [f"heron {i} [d=0.3]" for i in range(3)], on_progress=on_progress
    )
    ids = [o.id for o in outcomes if not isinstance(o, BaseException)]
    assert len(ids) == 3
    for index, task_id in enumerate(ids):
        statuses = [status for i, tid, status in seen if i == index]
        assert {tid for i, tid, _ in seen if i == index} == {task_id}  # each its own task
        assert statuses[-1] == "Ready"
        assert len(statuses) >= 2  # at least one poll before it was ready
