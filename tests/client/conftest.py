"""Fixtures of the client tests: fast schedules and retry policies, a clean environment."""

from __future__ import annotations

import pytest
from flux_flex import PollSchedule, RetryPolicy

FAST_SCHEDULE = PollSchedule(initial=0.01, backoff=1.5, max_interval=0.05, min_interval=0.005)
FAST_RETRY = RetryPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.02, retry_after_max=2)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
