"""Webhook deliveries kept in a task journal: what a `WebhookReceiver` given ``journal=``
does with each verified delivery (`DeliveryRecorder`), and the `CompletionSource` that lets
``job.wait(webhook=...)`` in any process complete from whichever receiver got the delivery
(`JournalDeliveries`).

Every receiver of a cluster records into one journal (a PostgreSQL database, or a SQLite
file on one machine): a task's final event is handled once across all of them, and with an
``out_dir`` its image is downloaded once, by the receiver whose delivery moved the task to
its end (or that took over the download of a receiver that died).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from flux_flex._core.delivery import delivery_event, image_stem, payload_of
from flux_flex._core.journal import Saved, task_name, wait_failure
from flux_flex.errors import JournalError
from flux_flex.webhooks.event import WebhookEvent

if TYPE_CHECKING:
    from flux_flex.client import FluxFlex
    from flux_flex.journal import Delivery, Journal

__all__ = ["DeliveryRecorder", "JournalDeliveries", "JournalLike"]

logger: logging.Logger = logging.getLogger("flux_flex.webhooks")

JournalLike: TypeAlias = "Journal | str | os.PathLike[str]"
"""A `flux_flex.Journal`, or where one is: a path, ``sqlite:///path``, ``postgresql://...``."""

RECEIVER_RECONNECT_TIMEOUT = 5.0
"""How long a receiver's journal operation retries a database that went away before the
delivery is answered 503 (the API waits 30 s for an answer, then retries the delivery)."""
WAIT_SLICE = 1.0
"""Seconds of one blocking wait on the journal (a wait re-reads the task's entry after
each, so an entry renamed meanwhile, or a watcher that missed a change, costs at most this)."""


class _OpenedJournal:
    """A journal given as it is, or opened from its location on first use — again after a
    failure, so a receiver started while the database was down recovers once it is back."""

    def __init__(self, journal: JournalLike) -> None:
        from flux_flex.journal import Journal

        self._journal: Journal | None = None
        self._target: str | None = None
        if isinstance(journal, Journal):
            self._journal = journal
        elif isinstance(journal, str | os.PathLike) and os.fspath(journal).strip():
            self._target = os.fspath(journal)
        else:
            raise TypeError(
                "journal must be a Journal, a path, sqlite:///path or "
                f"postgresql://user@host/database, not {journal!r}"
            )
        self._owned = self._journal is None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The journal as messages name it (never a password)."""
        if self._journal is not None:
            return self._journal.path
        from flux_flex.journal import parse_target

        assert self._target is not None
        return parse_target(self._target).shown

    def get(self) -> Journal:
        """The journal (blocking: it may connect); `JournalError` if it cannot be opened."""
        with self._lock:
            if self._journal is None:
                from flux_flex.journal import Journal

                self._journal = Journal(self._target, reconnect_timeout=RECEIVER_RECONNECT_TIMEOUT)
            return self._journal

    def close(self) -> None:
        """Close the journal if it was opened here (a `Journal` given is left open)."""
        if not self._owned:
            return
        with self._lock:
            journal, self._journal = self._journal, None
        if journal is not None:
            journal.close()


class DeliveryRecorder:
    """A receiver's journal side: records each final delivery (`record`, blocking; answer
    the API only after it returns) and, with ``out_dir``, downloads the image of a task
    whose download this receiver holds (`fetch`), then records it saved with its host and
    path. A download cut short (a crash) is left ``ready`` to a reconciler."""

    def __init__(
        self,
        journal: JournalLike,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        client: FluxFlex | None = None,
    ) -> None:
        self._journal = _OpenedJournal(journal)
        self.out_dir: Path | None = None if out_dir is None else Path(out_dir)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._client = client
        self._owns_client = client is None
        self._owner: str | None = None
        self._lock = threading.Lock()
        self.on_saved: Callable[[str, str], object] | None = None
        """Told ``(task id, path)`` of each image `fetch` saved."""

    @property
    def where(self) -> str:
        """The journal, as messages name it."""
        return self._journal.where

    def deliveries(self) -> JournalDeliveries:
        """A `JournalDeliveries` over this receiver's journal (what every receiver
        recorded)."""
        return JournalDeliveries._sharing(self._journal)

    def open(self) -> None:
        """Open the journal now (blocking); `JournalError` if it cannot be reached."""
        self._owner_id()

    def _owner_id(self) -> str:
        journal = self._journal.get()
        with self._lock:
            if self._owner is None:
                self._owner = journal.open_run()
            return self._owner

    def record(self, event: WebhookEvent) -> Delivery | None:
        """Record the final delivery ``event`` once across every receiver; None for an
        event that is not final (nothing recorded). Raises `JournalError` when the journal
        cannot be reached: answer 503 so that the API delivers it again."""
        change = delivery_event(event.raw)
        if change is None:
            return None
        owner = self._owner_id()
        return self._journal.get().deliver(
            event.id, change, owner=owner, prompt=event.prompt, download=self.out_dir is not None
        )

    def fetch(self, delivery: Delivery, event: WebhookEvent) -> str | None:
        """Download the image of ``delivery`` (held by this receiver) into ``out_dir`` as
        ``<name or task id>.<ext>`` and record it saved; the path, or None if it failed
        (logged, and recorded so that a reconciler or a worker finishes it)."""
        assert self.out_dir is not None
        from flux_flex.models import Result

        journal, owner = self._journal.get(), self._owner_id()
        url = delivery.entry.url or event.sample or ""
        seed = delivery.entry.seed if delivery.entry.seed is not None else event.seed
        target = self.out_dir / image_stem(delivery.entry, event.id)
        try:
            result = Result(id=event.id, url=url, seed=seed, client=self._download_client())
            path = os.path.abspath(result.save(target))
        except Exception as exc:
            logger.warning("The image of task %s was not saved: %s", event.id, exc)
            journal.record(delivery.name, delivery.attempt, wait_failure(exc), owner=owner)
            return None
        saved = Saved(path, url, seed, delivery.entry.cost)
        if not journal.record(delivery.name, delivery.attempt, saved, owner=owner):
            logger.warning(
                "task %s: saved to %s, but its journal entry was changed by another run",
                event.id,
                path,
            )
        if self.on_saved is not None:
            self.on_saved(event.id, path)
        return path

    def _download_client(self) -> FluxFlex:
        with self._lock:
            if self._client is None:
                from flux_flex.client import FluxFlex

                # A download sends no API key (sample URLs are on delivery hosts): a client
                # made for downloads only needs none.
                key = os.environ.get("BFL_API_KEY") or "no-key:downloads-only"
                self._client = FluxFlex(api_key=key)
            return self._client

    def close(self) -> None:
        """End this receiver's run (what it holds goes to others) and close what it opened."""
        with self._lock:
            owner, self._owner = self._owner, None
            client = self._client if self._owns_client else None
            self._client = None if self._owns_client else self._client
        if owner is not None:
            try:
                self._journal.get().close_run(owner)
            except JournalError as exc:
                logger.debug("journal: the receiver's run is left to its lease: %s", exc)
        self._journal.close()
        if client is not None:
            client.close()


class JournalDeliveries:
    """A `flux_flex.completion.CompletionSource` over a task journal: the final delivery of a
    task as any receiver recorded it, from any process or machine sharing the journal.

        job.wait(webhook=JournalDeliveries(journal))   # wakes when any receiver records it

    Waiting blocks on the journal's change notifications (LISTEN/NOTIFY on PostgreSQL, the
    file's change counter on SQLite). A journal that cannot be read answers "not yet": the
    wait then falls back to polling the API.
    """

    def __init__(self, journal: JournalLike) -> None:
        self._journal = _OpenedJournal(journal)

    @classmethod
    def _sharing(cls, opened: _OpenedJournal) -> JournalDeliveries:
        """One over a receiver's own journal (opened once for both)."""
        deliveries = cls.__new__(cls)
        deliveries._journal = opened
        return deliveries

    def __repr__(self) -> str:
        return f"JournalDeliveries({self._journal.where!r})"

    def delivered(self, task_id: str) -> Mapping[str, Any] | None:
        """The final payload recorded for ``task_id``, else None. Never waits."""
        try:
            return payload_of(self._journal.get().entry_for_task(task_id))
        except JournalError as exc:
            logger.info("journal %s not readable: %s", self._journal.where, exc)
            return None

    def wait_delivered(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Block up to ``timeout`` seconds for the final payload of ``task_id``."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            payload = self._wait_once(task_id, deadline)
            if payload is not None or time.monotonic() >= deadline:
                return payload

    async def wait_delivered_async(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Await up to ``timeout`` seconds for the final payload of ``task_id`` (each slice
        of the wait blocks a worker thread, never the event loop)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            payload = await asyncio.to_thread(self._wait_once, task_id, deadline)
            if payload is not None or time.monotonic() >= deadline:
                return payload

    def _wait_once(self, task_id: str, deadline: float) -> Mapping[str, Any] | None:
        """The payload, after waiting at most one slice for the task's entry to change."""
        try:
            journal = self._journal.get()
            entry = journal.entry_for_task(task_id)
            payload = payload_of(entry)
            remaining = deadline - time.monotonic()
            if payload is not None or remaining <= 0:
                return payload
            name = entry.fingerprint if entry is not None else task_name(task_id)
            journal.wait_for_change(name, timeout=min(WAIT_SLICE, remaining), since=entry)
            return payload_of(journal.entry_for_task(task_id))
        except JournalError as exc:
            logger.info("journal %s not readable: %s", self._journal.where, exc)
            time.sleep(max(0.0, min(WAIT_SLICE, deadline - time.monotonic())))
            return None

    def close(self) -> None:
        """Close the journal if it was opened here from its location."""
        self._journal.close()
