"""Fixtures of the client tests: fast schedules and retry policies, a clean environment, the
respx router, and `client`: each test runs with the sync and with the async client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from flux_flex import FluxFlex, PollSchedule, RetryPolicy

from tests.clients import Flavour, skip_certificate_loading

from .answers import KEY

FAST_SCHEDULE = PollSchedule(initial=0.01, backoff=1.5, max_interval=0.05, min_interval=0.005)
FAST_RETRY = RetryPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.02, retry_after_max=2)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def empty_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("empty")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, empty_folder: Path) -> None:
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    skip_certificate_loading(monkeypatch, empty_folder)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    """Every request must hit a route (respx refuses the others)."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client(flavour: Flavour) -> FluxFlex:
    """`FluxFlex`, then `AsyncFluxFlex` behind the same face, with the test key and fast
    polls and resends."""
    return flavour.client(api_key=KEY, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY)
