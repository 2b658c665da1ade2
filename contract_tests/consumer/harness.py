"""How the consumer suite builds the wrapper: scaled-down schedules, the suite's key and host."""

from __future__ import annotations

import json
from typing import Any

import httpx
from flux_flex import AsyncFluxFlex, FluxFlex, PollSchedule, RetryPolicy

from contract_tests.consumer.strategies import (
    API_KEY,
    BASE_URL,
    DELIVERY_HOST,
    RESULT_PATH,
    SUBMIT_PATH,
    request_validator,
)

SUBMIT_URL = f"{BASE_URL}{SUBMIT_PATH}"
RESULT_URL = f"{BASE_URL}{RESULT_PATH}"

# Polls and resends a few milliseconds apart: the contract, not the pacing, is under test.
FAST_POLLS = PollSchedule(
    initial=0.002, backoff=1.0, max_interval=0.005, jitter=0.0, min_interval=0.0, progress_margin=0
)
FAST_RETRIES = RetryPolicy(max_retries=3, backoff_initial=0.002, backoff_max=0.005)


def wrapper(
    http_client: httpx.Client | None = None,
    *,
    retry: RetryPolicy = FAST_RETRIES,
    api_key: str = API_KEY,
    base_url: str = BASE_URL,
    timeout: float = 5.0,
) -> FluxFlex:
    """A `FluxFlex` on the suite's host and key (or a fake's), with fast polls and resends."""
    return FluxFlex(
        api_key=api_key,
        base_url=base_url,
        retry=retry,
        poll_schedule=FAST_POLLS,
        http_client=http_client,
        timeout=timeout,
    )


def async_wrapper(
    http_client: httpx.AsyncClient | None = None, *, retry: RetryPolicy = FAST_RETRIES
) -> AsyncFluxFlex:
    """An `AsyncFluxFlex` set up like `wrapper`."""
    return AsyncFluxFlex(
        api_key=API_KEY,
        base_url=BASE_URL,
        retry=retry,
        poll_schedule=FAST_POLLS,
        http_client=http_client,
        timeout=5.0,
    )


def accepted(task_id: str = "task-1") -> dict[str, Any]:
    """An AsyncResponse for ``task_id`` polling the suite's host."""
    return {"id": task_id, "polling_url": f"{RESULT_URL}?id={task_id}", "cost": 5.0}


def ready(task_id: str = "task-1", *, sample: str | None = None) -> dict[str, Any]:
    """A Ready ResultResponse whose sample lives on the delivery host."""
    url = sample or f"{DELIVERY_HOST}/samples/{task_id}.png"
    return {
        "id": task_id,
        "status": "Ready",
        "result": {"sample": url, "prompt": "p", "seed": 7},
    }


def assert_contract_request(request: httpx.Request, body: dict[str, Any]) -> None:
    """The captured POST is exactly ``body``, on the spec's path, with the key and JSON type."""
    assert request.method == "POST"
    assert request.url == httpx.URL(SUBMIT_URL)
    assert request.headers["x-key"] == API_KEY
    assert request.headers["content-type"].split(";")[0].strip() == "application/json"
    sent = json.loads(request.content)
    assert sent == body, f"sent {sent!r}, expected {body!r}"
    errors = sorted(request_validator().iter_errors(sent), key=str)
    assert not errors, errors[0].message


# A small valid PNG (1x1), for downloads.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
