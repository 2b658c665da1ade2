"""`CallJournal`: the task journal a client's ``generate`` and ``submit`` calls keep (the
`flux_flex._core.journaled.JournalPort` their flows use).

It is a `Journal` the caller gave (used as it is, never closed here), or one opened from a
path or URL on first use — inside a `Local` action, so the async client opens a database
connection in a worker thread, not on its event loop — and closed with the client, or at
the end of the call it was given to.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from flux_flex._core.delivery import DownloadTurn, download_turn
from flux_flex._core.journal import Abandoned, Claim, Event, JournalEntry
from flux_flex._core.journaled import JournaledCall
from flux_flex.errors import ConfigurationError, JournalError

if TYPE_CHECKING:
    from flux_flex.journal import Journal

__all__ = ["CallJournal", "saved_elsewhere"]

logger = logging.getLogger("flux_flex")


class CallJournal:
    """A client's (or one call's) task journal. ``per_call``: given to one call, so that the
    end of the call's run closes a journal opened here."""

    def __init__(
        self, journal: Journal | str | os.PathLike[str], *, per_call: bool = False
    ) -> None:
        from flux_flex.journal import Journal, parse_target

        self._journal: Journal | None = None
        self._target: str | None = None
        if isinstance(journal, Journal):
            self._journal = journal
            self.where: str = journal.path
        elif isinstance(journal, str | os.PathLike) and os.fspath(journal).strip():
            self._target = os.fspath(journal)
            self.where = parse_target(self._target).shown  # an unknown scheme: JournalError
        else:
            raise ConfigurationError(
                f"journal must be a Journal, a file path, sqlite:///path or "
                f"postgresql://user@host/database, not {journal!r}."
            )
        self._owned = self._target is not None
        self._per_call = per_call
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"CallJournal({self.where!r})"

    def journal(self) -> Journal:
        """The journal, opened on first use (blocking)."""
        with self._lock:
            if self._journal is None:
                if self._closed:
                    raise ConfigurationError(
                        "This client was closed, and its task journal with it: build a new "
                        "client to make more calls."
                    )
                from flux_flex.journal import Journal

                self._journal = Journal(self._target)
            return self._journal

    def for_batch(self) -> Journal | str:
        """What a batch of the client takes as its journal: the open `Journal`, else its
        location (the batch then opens it for itself, blocking where batches block)."""
        with self._lock:
            if self._journal is not None:
                return self._journal
        assert self._target is not None
        return self._target

    # -- the port ----------------------------------------------------------------------------
    def open_run(self) -> str:
        """Start a call's run (its own owner, its lease renewed in the background)."""
        return self.journal().open_run()

    def claim(self, call: JournaledCall, owner: str, *, retry_failed: bool) -> Claim:
        """Decide what ``call`` does; a SUBMIT leaves the entry ``claimed``."""
        return self.journal().claim(
            call.name,
            prompt=call.prompt,
            params=call.params,
            save_to=call.save_to,
            owner=owner,
            resubmit_uncertain=call.resubmit_uncertain,
            retry_failed=retry_failed,
            digest=call.digest,
            begin=False,
        )

    def start(self, name: str, attempt: int, owner: str) -> bool:
        """The claimed entry is ``submitting`` now; False if the claim was lost."""
        from flux_flex.journal import Start

        return self.journal().start(name, attempt, owner=owner) is Start.STARTED

    def wait_for_change(self, name: str, since: JournalEntry, timeout: float) -> bool:
        """Block until the entry ``name`` changes, or ``timeout`` passes."""
        return self.journal().wait_for_change(name, timeout=timeout, since=since)

    def record(self, name: str, attempt: int, event: Event, owner: str) -> bool:
        """Write ``event``; a failure is logged and the call goes on (False)."""
        try:
            written = self.journal().record(name, attempt, event, owner=owner)
        except JournalError as exc:
            # What was done is not undone for want of a record: a submitting entry is then
            # reported as uncertain, a submitted one resumed, never paid twice.
            logger.warning(
                "journal %s: %s not recorded for %s: %s", self.where, _kind(event), name, exc
            )
            return False
        if not written:
            logger.warning(
                "journal %s: %s not recorded for %s: the entry was changed by another run",
                self.where,
                _kind(event),
                name,
            )
        return written

    def saved_elsewhere(self, name: str, owner: str, timeout: float) -> JournalEntry | None:
        """The entry ``name`` when a receiver saved its image (waiting up to ``timeout`` for
        one saving it now); None: this call downloads it. A journal that cannot be read
        says None (a second download costs nothing; a lost image would)."""
        try:
            return saved_elsewhere(self.journal(), name, owner, timeout)
        except JournalError as exc:
            logger.warning("journal %s: not read before downloading %s: %s", self.where, name, exc)
            return None

    def end_run(self, owner: str, unsent: tuple[str, int] | None) -> None:
        """End a call's run; first remove ``unsent``, a claim whose POST never left."""
        try:
            journal = self.journal()
            if unsent is not None:
                name, attempt = unsent
                try:
                    journal.record(name, attempt, Abandoned(), owner=owner)
                except JournalError as exc:
                    logger.warning("journal %s: %s not given back: %s", self.where, name, exc)
            journal.close_run(owner)
        except Exception as exc:  # the run's lease ends it anyway
            logger.warning("journal %s: the end of a call was not recorded: %s", self.where, exc)
        finally:
            if self._per_call:
                self.close()

    def abandon(self, owner: str, unsent: tuple[str, int] | None) -> None:
        """`end_run` in a daemon thread: for a call stopped by its caller."""
        threading.Thread(
            target=self.end_run,
            args=(owner, unsent),
            name="flux-flex-journal-end-call",
            daemon=True,
        ).start()

    def close(self) -> None:
        """Close the journal if it was opened here (a `Journal` given is left open)."""
        with self._lock:
            self._closed = True
            journal = self._journal if self._owned else None
            if self._owned:
                self._journal = None
        if journal is not None:
            journal.close()


def _kind(event: Event) -> str:
    return type(event).__name__


def saved_elsewhere(journal: Journal, name: str, owner: str, timeout: float) -> JournalEntry | None:
    """Before the run ``owner`` downloads the image of the entry ``name``: the entry when
    another run (a webhook receiver) saved it already where this host can open it, waiting
    up to ``timeout`` seconds for a live one that is saving it now; None when ``owner``
    downloads it (then it holds the entry again, so that its `Saved` is recorded). The
    batch engine can call it before its ``Save`` step the same way. Blocking; raises
    `JournalError`."""
    deadline = time.monotonic() + timeout
    while True:
        entry = journal.entry(name)
        live = entry is not None and journal.is_held(entry, by_other_than=owner)
        turn = download_turn(entry, owner=owner, other_live=live)
        if turn is DownloadTurn.SKIP:
            # Only a file this call can open counts: one saved on another host, or
            # removed since, is downloaded again (never paid again).
            path = entry.path if entry is not None else None
            here = entry is not None and entry.host == journal.host
            return entry if here and path and os.path.isfile(path) else None
        remaining = deadline - time.monotonic()
        if turn is DownloadTurn.DOWNLOAD or remaining <= 0:
            if entry is not None and entry.resumable and entry.owner != owner:
                # A receiver that held it gave up (or died): hold it again, so that this
                # run's Saved is recorded.
                journal.take_over(name, owner=owner, after=float("inf"))
            return None
        journal.wait_for_change(name, timeout=min(1.0, remaining), since=entry)
