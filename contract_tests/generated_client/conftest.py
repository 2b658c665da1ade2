"""A fake API for the generated client's tests (real HTTP on 127.0.0.1), and helpers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from flux_flex.testing import FakeBFL

KEY = "generated-client-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    """One fake per module: quick tasks, no webhook deliveries."""
    with FakeBFL(task_seconds=0.05, api_key=KEY, deliver_webhooks=False) as server:
        yield server


@pytest.fixture(scope="module")
def task_id(fake: FakeBFL) -> str:
    """A task the fake accepted (submitted with plain httpx, not the client under test)."""
    answer = httpx.post(
        fake.url("/v1/flux-2-flex"), json={"prompt": "a fox"}, headers={"x-key": KEY}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])
