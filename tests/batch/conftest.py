"""Fixtures of the batch tests: one fake per module (reset per test), fast schedules, and
`run_batch`, which runs the same batch through the sync or the async client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flux_flex import AsyncFluxFlex, FluxFlex, PollSchedule, RetryPolicy
from flux_flex.testing import FakeBFL

FAST_SCHEDULE = PollSchedule(initial=0.01, backoff=1.5, max_interval=0.04, min_interval=0.005)
FAST_RETRY = RetryPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.02, retry_after_max=1)
SUBMIT = "/v1/flux-2-flex"
DURATION = re.compile(r"\[d=([0-9.]+)\]")


def task_seconds(body: dict[str, Any]) -> float:
    """0.05 s, or what ``[d=SECONDS]`` in the prompt asks for."""
    found = DURATION.search(str(body.get("prompt", "")))
    return float(found.group(1)) if found else 0.05


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=task_seconds) as fake:
        yield fake


@pytest.fixture
def fake(shared_fake: FakeBFL) -> FakeBFL:
    shared_fake.reset()
    shared_fake.config.task_seconds = task_seconds
    shared_fake.config.sample_ttl = 600.0
    return shared_fake


def client_options(fake: FakeBFL) -> dict[str, Any]:
    return {
        "api_key": fake.api_key,
        "base_url": fake.base_url,
        "poll_schedule": FAST_SCHEDULE,
        "retry": FAST_RETRY,
    }


def run_batch(kind: str, fake: FakeBFL, requests: Any, **options: Any) -> list[Any]:
    """``generate_many`` with the sync client (``kind == "sync"``) or the async one."""
    if kind == "sync":
        with FluxFlex(**client_options(fake)) as client:
            return client.generate_many(requests, **options)

    async def main() -> list[Any]:
        async with AsyncFluxFlex(**client_options(fake)) as client:
            return await client.generate_many(requests, **options)

    return asyncio.run(main())


def posts(fake: FakeBFL) -> int:
    """Tasks the fake created (every accepted POST)."""
    return len(fake.tasks)


@pytest.fixture(params=["async", "sync"])
def kind(request: pytest.FixtureRequest) -> str:
    """Run the test with both shells of the one engine."""
    value: str = request.param
    return value
