"""What the respx-mocked API answers in the client tests, and a webhook source to hand a
wait: the task ``t1`` on the default host, polled on the EU host, its sample on a CDN."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

API = "https://api.bfl.ai"
SUBMIT = f"{API}/v1/flux-2-flex"
POLL = f"{API}/v1/get_result"
CREDITS = f"{API}/v1/credits"
EU_POLL = "https://api.eu.bfl.ai/v1/get_result"
SAMPLE = "https://delivery.example/abc/sample.png?sig=zzz"
KEY = "sk-test-SECRET-1234"


def ready(task_id: str = "t1", url: str = SAMPLE) -> httpx.Response:
    """A Ready poll whose sample is ``url``."""
    return httpx.Response(
        200,
        json={
            "id": task_id,
            "status": "Ready",
            "result": {"sample": url, "seed": 7, "prompt": "fox"},
        },
    )


def pending(task_id: str = "t1", progress: float | None = None) -> httpx.Response:
    """A Pending poll."""
    return httpx.Response(200, json={"id": task_id, "status": "Pending", "progress": progress})


def accepted(task_id: str = "t1") -> httpx.Response:
    """A submission's answer, polling on the EU host."""
    return httpx.Response(
        200,
        json={
            "id": task_id,
            "polling_url": f"{EU_POLL}?id={task_id}",
            "cost": 5.0,
            "input_mp": 0.0,
            "output_mp": 1.0,
        },
    )


def stamped(
    *answers: httpx.Response | Exception, at: list[float]
) -> Callable[[httpx.Request], httpx.Response]:
    """A respx side effect giving ``answers`` in turn (raising the exceptions) and noting in
    ``at`` when each request came (``time.monotonic()``): how long a client waited before a
    resend, seen from the server's side."""
    queue = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        at.append(time.monotonic())
        next_one = queue.pop(0)
        if isinstance(next_one, Exception):
            raise next_one
        return next_one

    return answer


class OneDelivery:
    """A CompletionSource that has (or gets) one payload."""

    def __init__(self, payload: Mapping[str, Any] | None = None) -> None:
        self.payload = payload
        self.arrived = threading.Event()
        if payload is not None:
            self.arrived.set()

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload
        self.arrived.set()

    def delivered(self, task_id: str) -> Mapping[str, Any] | None:
        return self.payload if self.payload and self.payload["id"] == task_id else None

    def wait_delivered(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        self.arrived.wait(timeout)
        return self.delivered(task_id)

    async def wait_delivered_async(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        import anyio

        with anyio.move_on_after(timeout):
            while not self.arrived.is_set():  # noqa: ASYNC110 - a threading.Event, set from any thread
                await anyio.sleep(0.005)
        return self.delivered(task_id)


class NotDoneYet:
    """A CompletionSource holding a delivery whose status is not final (handed out at once)."""

    def delivered(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "status": "Generating"}

    def wait_delivered(self, task_id: str, timeout: float) -> dict[str, Any]:
        return self.delivered(task_id)

    async def wait_delivered_async(self, task_id: str, timeout: float) -> dict[str, Any]:
        return self.delivered(task_id)
