"""``WebhookReceiver``: the ASGI app that takes the API's deliveries, and a ``CompletionSource``.

Written against the ASGI 3 spec directly (no framework needed, so the receiver is part of
the core): it runs under any ASGI server and can be mounted in Starlette or FastAPI.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from flux_flex.errors import JournalError, WebhookVerificationError
from flux_flex.webhooks.authenticity import (
    check_authenticity,
    normalize_headers,
    normalize_secrets,
)
from flux_flex.webhooks.delivery_log import DeliveryLog
from flux_flex.webhooks.event import WebhookEvent, decode_json, parse_event
from flux_flex.webhooks.journaled import DeliveryRecorder, JournalDeliveries, JournalLike
from flux_flex.webhooks.verification import AUTHENTICITY_REASONS

if TYPE_CHECKING:
    from flux_flex.client import FluxFlex
    from flux_flex.journal import Delivery

__all__ = ["EventCallback", "ReceiverStats", "WebhookReceiver"]

logger: logging.Logger = logging.getLogger("flux_flex.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
EventCallback = Callable[[WebhookEvent], Any]
"""``on_event``: a plain function (run in a worker thread) or an ``async def`` (run as a task)."""

DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # a real payload is well under 2 KiB


class _Disconnected(Exception):
    """The sender hung up before the body was complete."""


@attrs.frozen
class ReceiverStats:
    """What a receiver has done so far: new events, duplicates dropped, refusals by reason."""

    accepted: int
    duplicates: int
    rejected: Mapping[str, int]
    callback_errors: int
    saved: int = 0
    """Images this receiver downloaded and recorded saved (with ``journal=`` and
    ``out_dir=``)."""
    unavailable: int = 0
    """Deliveries answered 503 because the journal could not be reached."""


def _is_async_callable(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an object with `async def __call__`
    )


class WebhookReceiver:
    """Receives the API's webhook deliveries: an ASGI app and a ``CompletionSource``.

    Every POST it is given (at whatever path it is mounted on) is verified with
    ``flux_flex.webhooks.verify`` against ``secret`` (a str, or a list while rotating).
    It answers:

    - 200 at once to an authentic delivery, and to a duplicate of an id it already handled
      (so the sender stops retrying; the duplicate is dropped);
    - 401 to a forged, altered or unsigned one; 400 to an authentic one whose body is not a
      usable payload; 413 to a body over ``max_body_bytes`` (announced or streamed);
      405 (``Allow: POST``) to any other method.

    Each new event goes to ``on_event`` (sync: run in a worker thread; async: run as a
    task), never making the sender wait; an exception there is logged to
    ``flux_flex.webhooks`` and counted, never sent back. The last ``remember`` handled ids
    are kept for deduplication and for ``job.wait(webhook=receiver)``.

    With ``journal`` (a `flux_flex.Journal`, or a path, ``sqlite:///path`` or
    ``postgresql://...`` opened on first use) every final delivery is recorded there before
    it is answered, once across every receiver sharing the journal: only the delivery that
    moved the task to its end goes to ``on_event`` (a duplicate that reached another
    receiver is answered 200 and dropped), and 503 answers a delivery the journal could not
    take (the database is unreachable), so that the API delivers it again. With ``out_dir``
    too, each Ready task's image is downloaded once across those receivers, after the
    answer, as ``<out_dir>/<name or task id>.<ext>`` (its name when the journal knows the
    request), and the journal records it saved with this host and the path; a download cut
    short by a crash is finished by `flux_flex.reconcile`. ``client`` downloads the images
    (default: a client of its own; a download sends no API key). A `Journal` given as it
    is keeps its own ``reconnect_timeout``: keep it well under the 30 s the API waits for
    an answer (one opened here from a location uses 5 s). The waits it answers
    (``job.wait(webhook=receiver)``) then complete from a delivery any of those receivers
    recorded.
    """

    def __init__(
        self,
        secret: str | Sequence[str],
        on_event: EventCallback | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        remember: int = 10_000,
        drain_timeout: float = 5.0,
        journal: JournalLike | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        client: FluxFlex | None = None,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, not {max_body_bytes}")
        if out_dir is not None and journal is None:
            raise ValueError(
                "out_dir needs a journal: pass journal=..., so that each image is "
                "downloaded once across receivers"
            )
        self.recorder: DeliveryRecorder | None = None
        self._deliveries: JournalDeliveries | None = None
        if journal is not None:
            self.recorder = DeliveryRecorder(journal, out_dir=out_dir, client=client)
            self._deliveries = self.recorder.deliveries()
        self._secrets = normalize_secrets(secret)
        self.on_event = on_event
        self.max_body_bytes = max_body_bytes
        self.drain_timeout = drain_timeout
        self._log = DeliveryLog(remember)
        self._pending: set[asyncio.Future[Any]] = set()
        self._counts_lock = threading.Lock()
        self._accepted = 0
        self._duplicates = 0
        self._callback_errors = 0
        self._saved = 0
        self._unavailable = 0
        self._rejected: Counter[str] = Counter()

    def __repr__(self) -> str:  # never show the secrets
        return f"WebhookReceiver(secrets=<{len(self._secrets)} hidden>, on_event={self.on_event!r})"

    # -- CompletionSource ---------------------------------------------------------------

    # With a journal, what any receiver recorded there counts, not only this one's.

    def delivered(self, task_id: str) -> Mapping[str, Any] | None:
        """The verified payload for ``task_id`` if it has arrived, else None. Never blocks
        (with a journal: a read of it)."""
        found = self._log.delivered(task_id)
        if found is None and self._deliveries is not None:
            return self._deliveries.delivered(task_id)
        return found

    def wait_delivered(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Block up to ``timeout`` seconds for the payload of ``task_id``; None if none came."""
        if self._deliveries is not None:
            return self._log.delivered(task_id) or self._deliveries.wait_delivered(task_id, timeout)
        return self._log.wait_delivered(task_id, timeout)

    async def wait_delivered_async(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Await up to ``timeout`` seconds for the payload of ``task_id``; None if none came."""
        if self._deliveries is not None:
            return self._log.delivered(task_id) or await self._deliveries.wait_delivered_async(
                task_id, timeout
            )
        return await self._log.wait_delivered_async(task_id, timeout)

    def close(self) -> None:
        """With a journal: end this receiver's run there (a download it holds passes to
        others) and close what it opened. A `ReceiverServer` does it when it stops; call it
        when you mount the receiver in an app of your own. Blocking."""
        if self.recorder is not None:
            self.recorder.close()

    # -- inspection ---------------------------------------------------------------------

    def event(self, task_id: str) -> WebhookEvent | None:
        """The typed event handled for ``task_id``, if it is still remembered."""
        return self._log.event(task_id)

    @property
    def stats(self) -> ReceiverStats:
        """Counts of accepted, duplicate and refused deliveries, and of callback failures."""
        with self._counts_lock:
            return ReceiverStats(
                accepted=self._accepted,
                duplicates=self._duplicates,
                rejected=dict(self._rejected),
                callback_errors=self._callback_errors,
                saved=self._saved,
                unavailable=self._unavailable,
            )

    async def drain(self, timeout: float | None = None) -> None:
        """Wait (up to ``timeout``, default ``drain_timeout``) for running callbacks to end."""
        pending = [f for f in self._pending if f.get_loop() is asyncio.get_running_loop()]
        if pending:
            await asyncio.wait(pending, timeout=self.drain_timeout if timeout is None else timeout)

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._handle_http(scope, receive, send)
        elif kind == "lifespan":
            await self._handle_lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})

    async def _handle_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.drain()
                if self.recorder is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.recorder.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"POST")])
            return
        raw_headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        announced = _content_length(raw_headers)
        if announced == -1:
            await self._reject(send, 400, "bad_request", "unreadable Content-Length")
            return
        if announced is not None and announced > self.max_body_bytes:
            await self._reject(send, 413, "body_too_large", f"{announced} bytes announced")
            return
        try:
            body = await _read_body(receive, self.max_body_bytes)
        except _Disconnected:
            return
        if body is None:
            await self._reject(send, 413, "body_too_large", "body over the limit")
            return
        try:
            check_authenticity(body, normalize_headers(raw_headers), self._secrets)
            event = parse_event(decode_json(body))
        except WebhookVerificationError as error:
            status = 401 if error.reason in AUTHENTICITY_REASONS else 400
            await self._reject(send, status, error.reason, error.message)
            return
        if self.recorder is not None and event.is_final:
            await self._handle_journaled(send, event)
            return
        if self._log.record(event):
            with self._counts_lock:
                self._accepted += 1
            self._schedule_callback(event)
            await _respond(send, 200, {"status": "accepted", "id": event.id})
        else:
            with self._counts_lock:
                self._duplicates += 1
            logger.info("Dropped a duplicate delivery for task %s", event.id)
            await _respond(send, 200, {"status": "duplicate", "id": event.id})

    async def _handle_journaled(self, send: Send, event: WebhookEvent) -> None:
        """Record a final delivery in the journal, answer, then download its image if
        this receiver holds the download."""
        recorder = self.recorder
        assert recorder is not None
        loop = asyncio.get_running_loop()
        try:
            delivery = await loop.run_in_executor(None, recorder.record, event)
        except JournalError as error:
            with self._counts_lock:
                self._unavailable += 1
            logger.warning(
                "Answered 503 to the delivery of task %s (the API delivers it again): the "
                "task journal cannot take it: %s",
                event.id,
                error,
            )
            await _respond(send, 503, {"error": "journal_unavailable"}, [(b"retry-after", b"1")])
            return
        assert delivery is not None
        self._log.record(event)  # for waiters in this process
        with self._counts_lock:
            if delivery.first:
                self._accepted += 1
            else:
                self._duplicates += 1
        if delivery.first:
            self._schedule_callback(event)
        else:
            logger.info("Dropped a duplicate delivery for task %s", event.id)
        await _respond(
            send, 200, {"status": "accepted" if delivery.first else "duplicate", "id": event.id}
        )
        if delivery.download:
            future = loop.run_in_executor(None, self._fetch, recorder, delivery, event)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    def _fetch(self, recorder: DeliveryRecorder, delivery: Delivery, event: WebhookEvent) -> None:
        try:
            path = recorder.fetch(delivery, event)
        except Exception:  # the journal went away meanwhile: the entry stays ready
            logger.exception("The image of task %s was not saved", event.id)
            return
        if path is not None:
            with self._counts_lock:
                self._saved += 1

    async def _reject(self, send: Send, status: int, reason: str, detail: str) -> None:
        with self._counts_lock:
            self._rejected[reason] += 1
        logger.warning("Refused a webhook delivery (%s, HTTP %d): %s", reason, status, detail)
        # Only the reason goes back: a forger learns nothing from the details.
        headers = [(b"connection", b"close")] if status == 413 else []
        await _respond(send, status, {"error": reason}, headers)

    def _schedule_callback(self, event: WebhookEvent) -> None:
        callback = self.on_event
        if callback is None:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any]
        if _is_async_callable(callback):
            future = loop.create_task(self._run_async_callback(callback, event))
        else:
            future = loop.run_in_executor(None, self._run_sync_callback, callback, event)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def _run_async_callback(self, callback: EventCallback, event: WebhookEvent) -> None:
        try:
            await callback(event)
        except Exception:
            self._callback_failed(event)

    def _run_sync_callback(self, callback: EventCallback, event: WebhookEvent) -> None:
        try:
            callback(event)
        except Exception:
            self._callback_failed(event)

    def _callback_failed(self, event: WebhookEvent) -> None:
        with self._counts_lock:
            self._callback_errors += 1
        logger.exception(
            "on_event raised for task %s; the delivery was still acknowledged and recorded",
            event.id,
        )


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The announced body size; None if not announced, -1 if unreadable."""
    values = {value.strip() for name, value in headers if name.lower() == b"content-length"}
    if not values:
        return None
    if len(values) > 1:
        return -1
    (value,) = values
    return int(value) if value.isdigit() else -1


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    payload: Mapping[str, Any],
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
