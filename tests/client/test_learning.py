"""A client learns how long tasks take from its own waits, and polls later tasks later; a
`with_options` copy shares what it learnt, another client with its own cache folder does
not; a client made later (a new process) starts with what the earlier ones kept in the
cache folder. (The planner itself: tests/core/test_schedule.py; the file:
tests/client/test_timings_cache.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flux_flex import FluxFlex, PollSchedule
from flux_flex._core.schedule import MIN_RECORDS
from flux_flex.testing import FakeBFL

from tests.clients import Flavour

TASK_SECONDS = 0.3
# No progress, no jitter: without history the first poll comes `initial` (0.01 s) after
# submitting; with it, not before the window of expected finishes (the last poll that saw
# a task running, ~0.26 s, at the earliest).
SCHEDULE = PollSchedule(
    initial=0.01, backoff=1.5, max_interval=0.4, min_interval=0.005, use_progress=False, jitter=0.0
)
# Far from both (a loaded machine makes polls later, never earlier).
BETWEEN = TASK_SECONDS / 2


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    # One running status: the planner's window alone places the first poll (with several,
    # it may first poll where the next status should begin).
    with FakeBFL(task_seconds=TASK_SECONDS, lifecycle=["Pending"], api_key="k") as server:
        yield server


def first_poll_after_creation(fake: FakeBFL, task_id: str) -> float:
    task = fake.tasks[task_id]
    polls = [
        r.at
        for r in fake.requests
        if r.path.endswith("get_result") and r.query.get("id") == task_id
    ]
    return min(polls) - task.created_at


def generated(client: FluxFlex) -> str:
    job = client.submit("a fox")
    job.wait(timeout=30)
    return job.id


def test_a_client_learns_from_its_waits_and_polls_later_tasks_later(
    fake: FakeBFL, flavour: Flavour, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.reset()
    client = flavour.client(api_key="k", base_url=fake.base_url, poll_schedule=SCHEDULE)
    first = [generated(client) for _ in range(MIN_RECORDS)]
    # The copy has waited for nothing itself: it polls late only with the client's history.
    learnt = generated(client.with_options(timeout=5))
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(tmp_path / "elsewhere"))
    other = flavour.client(api_key="k", base_url=fake.base_url, poll_schedule=SCHEDULE)
    fresh = generated(other)  # a client of its own, and nothing kept: one history per client

    assert first_poll_after_creation(fake, first[0]) < BETWEEN  # no history yet
    assert first_poll_after_creation(fake, learnt) >= BETWEEN
    assert first_poll_after_creation(fake, fresh) < BETWEEN


def test_a_new_client_starts_with_the_history_the_earlier_ones_kept(
    fake: FakeBFL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a new process would: the first wait of a client made afterwards is already timed.
    fake.reset()
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(tmp_path))
    with FluxFlex(api_key="k", base_url=fake.base_url, poll_schedule=SCHEDULE) as earlier:
        first = [generated(earlier) for _ in range(MIN_RECORDS)]
    with FluxFlex(api_key="k", base_url=fake.base_url, poll_schedule=SCHEDULE) as later:
        warm = generated(later)
    assert first_poll_after_creation(fake, first[0]) < BETWEEN
    assert first_poll_after_creation(fake, warm) >= BETWEEN
