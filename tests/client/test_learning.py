"""A client learns how long tasks take from its own waits, and polls later tasks later; a
`with_options` copy shares what it learnt, another client does not. (The planner itself:
tests/core/test_schedule.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flux_flex import FluxFlex, PollSchedule
from flux_flex._core.schedule import MIN_RECORDS
from flux_flex.testing import FakeBFL

from tests.clients import Flavour

TASK_SECONDS = 0.4
# No progress, no jitter: the first poll comes `initial` (0.05 s) after submitting, unless
# the client has seen enough tasks finish to expect this one no sooner than ~0.4 s.
SCHEDULE = PollSchedule(use_progress=False, jitter=0.0).scaled(0.1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=TASK_SECONDS, api_key="k") as server:
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
    fake: FakeBFL, flavour: Flavour
) -> None:
    fake.reset()
    client = flavour.client(api_key="k", base_url=fake.base_url, poll_schedule=SCHEDULE)
    for _ in range(MIN_RECORDS):
        generated(client)
    # The copy has waited for nothing itself: it polls late only with the client's history.
    learnt = generated(client.with_options(timeout=5))
    other = flavour.client(api_key="k", base_url=fake.base_url, poll_schedule=SCHEDULE)
    fresh = generated(other)

    # With history, not before the window of expected finishes (~0.4 s less 10 % slack). A
    # lower bound: a loaded machine can make a poll later, never earlier.
    assert first_poll_after_creation(fake, learnt) >= 0.75 * TASK_SECONDS
    # Without (a client of its own, one history per client): the backoff's first poll, at
    # 0.05 s; a bound six times that still tells them apart.
    assert first_poll_after_creation(fake, fresh) < 0.75 * TASK_SECONDS
