"""Shared fixtures of the provider contract suite: one fake per module, plain HTTP helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux_flex.testing import FakeBFL

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "flux2-flex.openapi.yaml"
SUBMIT = "/v1/flux-2-flex"
RESULT = "/v1/get_result"
PROVIDER_KEY = "provider-contract-key"
# Generated sizes reach 10**30 pixels a side (billed as 5e9 credits, the pricing's cap):
# the accounts of these fakes cover them, so valid requests are never refused with 402.
RICH = 1e12


@pytest.fixture(scope="module")
def provider_fake() -> Iterator[FakeBFL]:
    """A fake for a whole module. Webhooks are not delivered: schemathesis invents
    loopback webhook URLs, and a random 127.0.0.1 port may be a colleague's test server."""
    with FakeBFL(
        task_seconds=0.05, deliver_webhooks=False, api_key=PROVIDER_KEY, balance=RICH
    ) as fake:
        yield fake


# For schemathesis' random prompts: single-letter markers, so generated requests reach every
# final status, and durations of 0 or 20 ms, so polls see both Pending and final answers.
FUZZ_MARKERS = {"a": "Content Moderated", "b": "Error", "c": "Request Moderated"}


def fuzz_task_seconds(body: dict[str, Any]) -> float:
    """0 s for prompts of even length, 20 ms for odd."""
    return 0.0 if len(body.get("prompt", "")) % 2 == 0 else 0.02


def _fuzzed(*, strict_dimensions: bool) -> FakeBFL:
    return FakeBFL(
        task_seconds=fuzz_task_seconds,
        markers=FUZZ_MARKERS,
        deliver_webhooks=False,
        api_key=PROVIDER_KEY,
        balance=RICH,
        strict_dimensions=strict_dimensions,
    )


@pytest.fixture(scope="module")
def fuzzed_fake() -> Iterator[FakeBFL]:
    """A fake for schemathesis runs: outcomes spread over all statuses (see FUZZ_MARKERS)."""
    with _fuzzed(strict_dimensions=False) as fake:
        yield fake


@pytest.fixture(scope="module")
def strict_fuzzed_fake() -> Iterator[FakeBFL]:
    """``fuzzed_fake`` under the strict reading of width/height 0: an explicit 0 gets 422, as
    the vendor's schema alone (``minimum: 64``) says (docs/api-facts.md#width-and-height-0)."""
    with _fuzzed(strict_dimensions=True) as fake:
        yield fake


@pytest.fixture
def api(provider_fake: FakeBFL) -> Iterator[httpx.Client]:
    """An HTTP client for the fake's API host, key set."""
    with httpx.Client(
        base_url=provider_fake.base_url, headers={"x-key": provider_fake.api_key}, timeout=10
    ) as client:
        yield client


FINAL = frozenset({"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"})


def poll_until_final(client: httpx.Client, polling_url: str, timeout: float = 10.0) -> Any:
    """Poll ``polling_url`` every 20 ms until the status is a final one; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(polling_url)
        assert answer.status_code == 200, answer.text
        state = answer.json()
        if state["status"] in FINAL or time.monotonic() > deadline:
            return state
        time.sleep(0.02)
