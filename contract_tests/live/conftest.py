"""The live suite: the consumer contract against the real API, only when ``BFL_API_KEY`` is set.

    BFL_API_KEY=... pytest -m live contract_tests/live

At most ONE small generation per run, and only when its estimated cost is within
``BFL_LIVE_MAX_COST`` (US dollars, default 0.05 = 5 credits); every other check is free
(validation errors, unknown task ids, a wrong key).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

DEFAULT_MAX_COST_USD = 0.05
USD_PER_CREDIT = 0.01  # docs/api-facts.md#pricing: 1 credit = 0.01 USD


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything here talks to the real API: mark it, and skip it without a key.
    skip = pytest.mark.skip(reason="live contract checks need BFL_API_KEY (they talk to the API)")
    for item in items:
        if "contract_tests/live/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.live)
            if not os.environ.get("BFL_API_KEY"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def api_key() -> str:
    return os.environ["BFL_API_KEY"]


@pytest.fixture(scope="session")
def base_url() -> str:
    return os.environ.get("BFL_BASE_URL", "https://api.bfl.ai").rstrip("/")


@pytest.fixture(scope="session")
def max_cost_usd() -> float:
    raw = os.environ.get("BFL_LIVE_MAX_COST", str(DEFAULT_MAX_COST_USD))
    try:
        return float(raw)
    except ValueError:
        pytest.fail(f"BFL_LIVE_MAX_COST must be a number of US dollars, not {raw!r}")


@pytest.fixture
def raw_http(base_url: str) -> Iterator[httpx.Client]:
    """A plain client on the API host, for the free checks (no key header of its own)."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        yield client
