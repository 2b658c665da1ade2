"""End to end: FakeBFL's real, signed deliveries to a WebhookReceiver served on 127.0.0.1,
and job.wait(webhook=receiver) completing through it (or by polling when it cannot)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flux_flex import AsyncFluxFlex, FluxFlex, PollSchedule, TaskFailedError
from flux_flex.testing import FakeBFL
from flux_flex.webhooks import ReceiverServer, WebhookEvent, WebhookReceiver

from .conftest import SECRET

POLL = "/v1/get_result"
FAST_POLLS = PollSchedule(initial=0.05, backoff=1.0, max_interval=0.1, jitter=0.0)


def fake(**options: Any) -> FakeBFL:
    # Retries at 1, 5, 30 s scaled by 0.005: 5, 25, 150 ms.
    return FakeBFL(task_seconds=0.05, webhook_retry_scale=0.005, **options)


def client_for(api: FakeBFL) -> FluxFlex:
    return FluxFlex(api_key=api.api_key, base_url=api.base_url, poll_schedule=FAST_POLLS)


class AckLost:
    """ASGI middleware: the receiver handles each delivery, but the sender gets a 503 whenever
    the receiver accepted a new event (an acknowledgement lost on the way back): the sender
    retries a delivery the receiver already has."""

    def __init__(self, app: WebhookReceiver) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        answers: list[Any] = []

        async def capture(message: Any) -> None:
            answers.append(message)

        await self.app(scope, receive, capture)
        body = b"".join(m.get("body", b"") for m in answers if m["type"] == "http.response.body")
        if b'"accepted"' in body:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"ack lost"})
            return
        for message in answers:
            await send(message)


@pytest.fixture
def events() -> list[WebhookEvent]:
    return []


def test_fake_delivery_arrives_verified(events: list[WebhookEvent]) -> None:
    receiver = WebhookReceiver(SECRET, on_event=events.append)
    with fake() as api, ReceiverServer(receiver) as server, client_for(api) as client:
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        payload = receiver.wait_delivered(job.id, timeout=10)
        assert payload is not None
        assert payload["id"] == job.id
        assert payload["status"] == "Ready"
        event = receiver.event(job.id)
        assert event is not None
        assert event.is_ready
        assert event.sample is not None
        assert event.sample.startswith(api.base_url)
        assert _wait_for(lambda: len(api.deliveries) >= 1)  # recorded once the answer is back
        assert [(d.attempt, d.status_code) for d in api.deliveries] == [(1, 200)]
    assert [e.id for e in events] == [job.id]  # the callback ran, once


def test_receiver_with_another_secret_refuses_the_fakes_deliveries() -> None:
    receiver = WebhookReceiver("not-the-submitted-secret")
    with fake() as api, ReceiverServer(receiver) as server, client_for(api) as client:
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        assert _wait_for(lambda: len(api.deliveries) >= 4)
        assert receiver.delivered(job.id) is None
    assert {d.status_code for d in api.deliveries} == {401}  # first try + 3 retries, dropped
    assert receiver.stats.accepted == 0


def test_retries_after_a_lost_ack_and_extra_copies_are_deduplicated(
    events: list[WebhookEvent],
) -> None:
    receiver = WebhookReceiver(SECRET, on_event=events.append)
    with (
        fake(duplicate_webhooks=2) as api,
        ReceiverServer(receiver, app=AckLost(receiver)) as server,
        client_for(api) as client,
    ):
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        assert _wait_for(lambda: len(api.deliveries) >= 4)
    attempts = [(d.attempt, d.status_code, d.duplicate) for d in api.deliveries]
    assert attempts == [(1, 503, False), (2, 200, False), (3, 200, True), (4, 200, True)]
    assert [e.id for e in events] == [job.id]
    assert (receiver.stats.accepted, receiver.stats.duplicates) == (1, 3)


def test_wait_completes_through_the_receiver_with_zero_polls() -> None:
    receiver = WebhookReceiver(SECRET)
    with fake() as api, ReceiverServer(receiver) as server, client_for(api) as client:
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        result = job.wait(timeout=30, webhook=receiver, webhook_grace=20)
        assert result.id == job.id
        assert result.url == receiver.event(job.id).sample  # type: ignore[union-attr]
        assert api.count("GET", POLL) == 0


def test_wait_on_an_async_webhook_response_completes_through_the_receiver() -> None:
    receiver = WebhookReceiver(SECRET)
    with (
        fake(webhook_response_shape="webhook") as api,
        ReceiverServer(receiver) as server,
        client_for(api) as client,
    ):
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        result = job.wait(timeout=30, webhook=receiver, webhook_grace=20)
        assert result.id == job.id
        assert api.count("GET", POLL) == 0


def test_failed_task_is_reported_from_the_delivery_with_zero_polls() -> None:
    receiver = WebhookReceiver(SECRET)
    with fake() as api, ReceiverServer(receiver) as server, client_for(api) as client:
        job = client.submit("a red fox [fail]", webhook_url=server.url, webhook_secret=SECRET)
        with pytest.raises(TaskFailedError) as caught:
            job.wait(timeout=30, webhook=receiver, webhook_grace=20)
        assert caught.value.task_id == job.id
        assert api.count("GET", POLL) == 0
        assert receiver.event(job.id).is_error  # type: ignore[union-attr]


def test_wait_falls_back_to_polling_when_deliveries_are_off() -> None:
    receiver = WebhookReceiver(SECRET)
    with (
        fake(deliver_webhooks=False) as api,
        ReceiverServer(receiver) as server,
        client_for(api) as client,
    ):
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        result = job.wait(timeout=30, webhook=receiver, webhook_grace=0.1)
        assert result.id == job.id
        assert api.count("GET", POLL) >= 1
    assert api.deliveries == []
    assert receiver.stats.accepted == 0


def test_wait_falls_back_to_polling_when_every_delivery_is_refused() -> None:
    receiver = WebhookReceiver("rotated-away-secret")
    with fake() as api, ReceiverServer(receiver) as server, client_for(api) as client:
        job = client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
        result = job.wait(timeout=30, webhook=receiver, webhook_grace=0.1)
        assert result.id == job.id
        assert api.count("GET", POLL) >= 1
    assert receiver.stats.accepted == 0


@pytest.mark.anyio
async def test_async_wait_with_the_receiver_in_the_same_loop_has_zero_polls() -> None:
    receiver = WebhookReceiver(SECRET)
    with fake() as api:
        async with (
            ReceiverServer(receiver) as server,
            AsyncFluxFlex(
                api_key=api.api_key, base_url=api.base_url, poll_schedule=FAST_POLLS
            ) as client,
        ):
            job = await client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
            result = await job.wait(timeout=30, webhook=receiver, webhook_grace=20)
            assert result.id == job.id
        assert api.count("GET", POLL) == 0


@pytest.mark.anyio
async def test_async_wait_with_the_receiver_in_a_server_thread_has_zero_polls() -> None:
    receiver = WebhookReceiver(SECRET)
    with fake() as api, ReceiverServer(receiver) as server:
        async with AsyncFluxFlex(
            api_key=api.api_key, base_url=api.base_url, poll_schedule=FAST_POLLS
        ) as client:
            job = await client.submit("a red fox", webhook_url=server.url, webhook_secret=SECRET)
            result = await job.wait(timeout=30, webhook=receiver, webhook_grace=20)
            assert result.id == job.id
        assert api.count("GET", POLL) == 0


def _wait_for(condition: Any, timeout: float = 10.0) -> bool:
    """Block until ``condition()`` holds (the fake's deliveries run in its own thread)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        done.wait(0.01)
    return bool(condition())
