"""Many clients at once: the limit holds under concurrency and every task is recorded."""

from __future__ import annotations

import anyio
import httpx
import pytest
from flux_flex.testing import FakeBFL

from .conftest import SUBMIT, configure


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_concurrent_submissions_beyond_the_limit_get_429(fake: FakeBFL) -> None:
    configure(fake, task_seconds=30.0, max_in_flight=24)
    statuses: list[int] = []
    async with httpx.AsyncClient(
        base_url=fake.base_url,
        headers={"x-key": fake.api_key},
        limits=httpx.Limits(max_connections=30),
    ) as api:

        async def submit(i: int) -> None:
            answer = await api.post(SUBMIT, json={"prompt": f"p{i}"})
            statuses.append(answer.status_code)

        async with anyio.create_task_group() as group:
            for i in range(30):
                group.start_soon(submit, i)
    assert sorted(statuses) == [200] * 24 + [429] * 6
    assert len(fake.tasks) == 24
    assert fake.rate_limited == 6
    assert 1 <= fake.connections <= 30  # reuse depends on timing
    assert fake.count("POST", SUBMIT) == 30
