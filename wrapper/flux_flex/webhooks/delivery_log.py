"""A bounded, thread-safe memory of handled deliveries that waiters can block or await on.

This is the ``CompletionSource`` half of the receiver, kept apart from the ASGI half: it has
no I/O and is shared between the server's event loop (which records deliveries) and any
number of waiting threads and event loops (``job.wait(webhook=...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from flux_flex.webhooks.event import WebhookEvent

__all__ = ["DeliveryLog"]


def _clamp(timeout: float) -> float:
    # Condition.wait rejects timeouts above TIMEOUT_MAX (e.g. math.inf) with OverflowError.
    return max(0.0, min(float(timeout), threading.TIMEOUT_MAX))


def _settle(future: asyncio.Future[WebhookEvent], event: WebhookEvent) -> None:
    if not future.done():
        future.set_result(event)


class DeliveryLog:
    """The last ``capacity`` events handled, by task id (least recently seen dropped first).

    ``record`` says whether an event is new, so duplicates can be dropped: an id not
    remembered, or a later status of a task whose remembered event is not final (a delivery
    saying ``Generating`` is replaced by the one saying ``Ready``). Only final events complete
    a task: ``delivered`` and the waiters in threads (``wait_delivered``) and in any event loop
    (``wait_delivered_async``) see a task once its final event is recorded.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._events: OrderedDict[str, WebhookEvent] = OrderedDict()
        self._changed = threading.Condition()
        self._async_waiters: dict[
            str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[WebhookEvent]]]
        ] = {}

    def __len__(self) -> int:
        with self._changed:
            return len(self._events)

    def record(self, event: WebhookEvent) -> bool:
        """Remember ``event``; False for a duplicate (the remembered event is kept).

        A duplicate is an event for an id whose remembered event is final, or has the same
        status; a new status of a running task replaces the remembered event.
        """
        with self._changed:
            known = self._events.get(event.id)
            if known is not None and (known.is_final or known.status == event.status):
                self._events.move_to_end(event.id)
                return False
            self._events[event.id] = event
            self._events.move_to_end(event.id)
            if len(self._events) > self.capacity:
                self._events.popitem(last=False)
            if not event.is_final:
                return True
            waiters = self._async_waiters.pop(event.id, [])
            self._changed.notify_all()
        for loop, future in waiters:
            # RuntimeError: that loop is closed, so its waiter is gone anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, event)
        return True

    def event(self, task_id: str) -> WebhookEvent | None:
        """The latest event handled for ``task_id`` (final or not), if it is still remembered."""
        with self._changed:
            return self._events.get(task_id)

    def _final(self, task_id: str) -> WebhookEvent | None:
        found = self._events.get(task_id)
        return found if found is not None and found.is_final else None

    def delivered(self, task_id: str) -> Mapping[str, Any] | None:
        """A copy of the final payload delivered for ``task_id``, else None. Never blocks."""
        with self._changed:
            found = self._final(task_id)
        return None if found is None else found.to_dict()

    def wait_delivered(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Block up to ``timeout`` s for the final payload of ``task_id``; None if none came."""
        deadline = time.monotonic() + _clamp(timeout)
        with self._changed:
            while (found := self._final(task_id)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(_clamp(remaining))
        return found.to_dict()

    async def wait_delivered_async(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Await up to ``timeout`` s for the final payload of ``task_id``; None if none came.

        Never blocks the loop: works whether deliveries are recorded in this loop (receiver
        mounted in the same app) or in another thread (e.g. a ``ReceiverServer``).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WebhookEvent] = loop.create_future()
        entry = (loop, future)
        with self._changed:
            found = self._final(task_id)
            if found is None:
                self._async_waiters.setdefault(task_id, []).append(entry)
        if found is not None:
            return found.to_dict()
        try:
            async with asyncio.timeout(_clamp(timeout)):
                event = await future
        except TimeoutError:
            # It may have been recorded just as the deadline passed.
            return self.delivered(task_id)
        finally:
            self._forget_waiter(task_id, entry)
        return event.to_dict()

    def _forget_waiter(
        self,
        task_id: str,
        entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[WebhookEvent]],
    ) -> None:
        with self._changed:
            waiters = self._async_waiters.get(task_id)
            if waiters and entry in waiters:
                waiters.remove(entry)
                if not waiters:
                    del self._async_waiters[task_id]
