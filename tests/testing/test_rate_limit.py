"""More than max_in_flight Pending tasks: 429 with Retry-After and X-RateLimit-* headers."""

from __future__ import annotations

import httpx
from flux_flex.testing import FakeBFL

from .conftest import SUBMIT, configure, wait_final


def test_one_task_over_the_limit_gets_429_with_headers_and_is_not_created(
    fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=30.0, max_in_flight=2)
    assert [api.post(SUBMIT, json={"prompt": "p"}).status_code for _ in range(2)] == [200, 200]
    refused = api.post(SUBMIT, json={"prompt": "p"})
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 30  # seconds until the earliest task frees its slot
    assert refused.headers["x-ratelimit-reset"] == refused.headers["retry-after"]
    assert "detail" in refused.json()
    assert len(fake.tasks) == 2
    assert fake.rate_limited == 1


def test_slots_free_up_when_tasks_finish(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.1, max_in_flight=1, retry_after=0.05)
    first = api.post(SUBMIT, json={"prompt": "p"}).json()["id"]
    refused = api.post(SUBMIT, json={"prompt": "p"})
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "0.05")
    wait_final(api, first)
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 200
    assert fake.rate_limited == 1


def test_invalid_requests_are_422_even_when_full(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=30.0, max_in_flight=1)
    api.post(SUBMIT, json={"prompt": "p"})
    assert api.post(SUBMIT, json={"prompt": "p", "steps": 0}).status_code == 422
