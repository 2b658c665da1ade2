"""Fixtures and helpers for the webhook tests (tests/webhooks only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flux_flex.webhooks import sign

SECRET = "whsec-test-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ready_payload(task_id: str = "task-1", **extra: Any) -> dict[str, Any]:
    """A Ready delivery body as the vendor guides show it."""
    return {
        "id": task_id,
        "status": "Ready",
        "result": {
            "sample": f"https://delivery.example/{task_id}.png",
            "prompt": "a fox",
            "seed": 7,
        },
        "timestamp": 1764035000.5,
        **extra,
    }


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-BFL-Signature": sign(body, secret), "Content-Type": "application/json"}


def echoed_headers(secret: str = SECRET) -> dict[str, str]:
    return {"X-Webhook-Secret": secret, "Content-Type": "application/json"}
