"""Fixtures for the attacks: a hostile server running a well-behaved API, fast clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flux_flex import PollSchedule, RetryPolicy

from tests.hostile import Api, HostileServer

KEY = "hostile-test-key-0123"
FAST_SCHEDULE = PollSchedule(initial=0.02, backoff=1.5, max_interval=0.1, min_interval=0.01)
FAST_RETRY = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.02, retry_after_max=5)
# Wall-time bounds are generous on purpose (2 shared cores): "ends near its deadline", not
# a benchmark. The promise under test is T + 1 s.
MARGIN = 1.5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    monkeypatch.delenv("BFL_BASE_URL", raising=False)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    """A fresh hostile server for each test."""
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
def api(server: HostileServer) -> Api:
    """A well-behaved API on `server` (requiring `KEY`), to make hostile route by route."""
    return server.api(key=KEY)
