"""DeliveryLog: deduplication, bounded memory, and waking waiters in threads and event loops."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest
from flux_flex.webhooks import WebhookEvent
from flux_flex.webhooks.delivery_log import DeliveryLog

from .conftest import ready_payload


async def settle() -> None:
    """Let the loop run what is ready: a woken waiter finishes within a few iterations.

    (Waiters use 30 s timeouts only as a safety net: a waiter that is never woken would still
    end with the payload at its timeout, so the tests check it is done *before* that.)
    """
    for _ in range(5):
        await asyncio.sleep(0)


def event(task_id: str) -> WebhookEvent:
    return WebhookEvent.from_payload(ready_payload(task_id))


def test_record_reports_new_then_duplicate_and_keeps_the_first() -> None:
    log = DeliveryLog()
    first = event("a")
    assert log.record(first) is True
    again = WebhookEvent.from_payload({**ready_payload("a"), "timestamp": 2})
    assert log.record(again) is False
    assert log.delivered("a") == first.to_dict()
    assert log.delivered("b") is None


def test_memory_is_bounded_least_recently_seen_dropped_first() -> None:
    log = DeliveryLog(capacity=3)
    for task_id in "abc":
        log.record(event(task_id))
    assert log.record(event("a")) is False  # seen again: now the most recent
    log.record(event("d"))  # evicts b, the least recently seen
    assert len(log) == 3
    assert log.delivered("b") is None
    assert all(log.delivered(t) is not None for t in "acd")
    assert log.record(event("b")) is True  # forgotten, so new again


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DeliveryLog(capacity=0)


def test_delivered_returns_copies() -> None:
    log = DeliveryLog()
    log.record(event("a"))
    got = log.delivered("a")
    assert got is not None
    got["result"]["sample"] = "tampered"
    again = log.delivered("a")
    assert again is not None
    assert again["result"]["sample"] != "tampered"


def test_wait_delivered_wakes_a_blocked_thread() -> None:
    log = DeliveryLog()
    got: list[object] = []
    waiting = threading.Thread(target=lambda: got.append(log.wait_delivered("a", timeout=30)))
    waiting.start()
    log.record(event("b"))  # another id does not wake it with a wrong answer
    log.record(event("a"))
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert got == [event("a").to_dict()]


def test_wait_delivered_times_out_with_none_and_accepts_odd_timeouts() -> None:
    log = DeliveryLog()
    assert log.wait_delivered("a", timeout=0.01) is None
    assert log.wait_delivered("a", timeout=0) is None
    assert log.wait_delivered("a", timeout=-1) is None
    log.record(event("a"))
    assert log.wait_delivered("a", timeout=math.inf) == event("a").to_dict()


@pytest.mark.anyio
async def test_wait_delivered_async_same_loop() -> None:
    log = DeliveryLog()
    waiter = asyncio.create_task(log.wait_delivered_async("a", timeout=30))
    await asyncio.sleep(0)
    assert not waiter.done()
    log.record(event("a"))
    await settle()
    assert waiter.done()
    assert await waiter == event("a").to_dict()


@pytest.mark.anyio
async def test_wait_delivered_async_woken_from_another_thread() -> None:
    log = DeliveryLog()
    waiter = asyncio.create_task(log.wait_delivered_async("a", timeout=30))
    await asyncio.sleep(0)
    # Recorded a little later, once the loop idles in select(): then only a thread-safe
    # wake-up ends this wait before the waiter's own 30 s timeout (when it would return the
    # payload anyway, too late).
    recorder = threading.Timer(0.2, log.record, args=(event("a"),))
    recorder.start()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True

    alarm = asyncio.get_running_loop().call_later(15, expire)
    assert await waiter == event("a").to_dict()
    alarm.cancel()
    assert not expired, "the waiter was not woken by the recording thread"
    recorder.join()


@pytest.mark.anyio
async def test_wait_delivered_async_timeout_and_already_there() -> None:
    log = DeliveryLog()
    assert await log.wait_delivered_async("a", timeout=0.01) is None
    assert log._async_waiters == {}  # no waiter leaks after a timeout
    log.record(event("a"))
    assert await log.wait_delivered_async("a", timeout=0) == event("a").to_dict()


@pytest.mark.anyio
async def test_wait_delivered_async_does_not_block_the_loop() -> None:
    log = DeliveryLog()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    assert await log.wait_delivered_async("a", timeout=0.05) is None
    ticking.cancel()
    assert ticks > 1


@pytest.mark.anyio
async def test_cancelled_async_waiter_is_forgotten() -> None:
    log = DeliveryLog()
    waiter = asyncio.create_task(log.wait_delivered_async("a", timeout=30))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert log._async_waiters == {}
    assert log.record(event("a")) is True


def running_event(task_id: str, status: str = "Generating") -> WebhookEvent:
    return WebhookEvent.from_payload({"id": task_id, "status": status})


def test_a_running_delivery_does_not_complete_the_task_and_the_final_one_replaces_it() -> None:
    log = DeliveryLog()
    assert log.record(running_event("a")) is True
    assert log.delivered("a") is None  # not a completion
    assert log.wait_delivered("a", 0.01) is None
    assert log.record(running_event("a")) is False  # the same status again: a duplicate
    assert log.record(running_event("a", "Upscaling")) is True  # a new status is news
    latest = log.event("a")
    assert latest is not None
    assert latest.status == "Upscaling"
    final = event("a")
    assert log.record(final) is True  # the final delivery is never dropped as a duplicate
    assert log.delivered("a") == final.to_dict()
    assert log.record(running_event("a")) is False  # nothing replaces a final event


def test_waiters_sleep_through_running_deliveries_and_wake_on_the_final_one() -> None:
    log = DeliveryLog()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(log.wait_delivered("a", 30)))
    waiter.start()
    log.record(running_event("a"))
    waiter.join(0.2)
    assert waiter.is_alive()  # a running delivery wakes nobody
    log.record(event("a"))
    waiter.join(5)
    assert not waiter.is_alive()
    assert got == [event("a").to_dict()]


@pytest.mark.anyio
async def test_async_waiters_sleep_through_running_deliveries() -> None:
    log = DeliveryLog()
    task = asyncio.create_task(log.wait_delivered_async("a", 30))
    await settle()
    log.record(running_event("a", "Reasoning"))
    await settle()
    assert not task.done()
    log.record(event("a"))
    await settle()
    assert task.done()
    assert task.result() == event("a").to_dict()
