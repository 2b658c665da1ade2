"""`reconcile`: finish what died, from the task journal that workers and receivers share.

    from flux_flex import FluxFlex, reconcile

    with FluxFlex() as client:
        report = reconcile("postgresql://flux@db/flux", "recovered/", client=client)
    for item in report.uncertain:
        print(item.entry.prompt, "->", item.command)

Any number of reconcilers may run at once, on any hosts: each task is taken by one of them
(`Journal.take_over`, under the journal's lease), polled, downloaded and recorded once.
The decisions (what is overdue, the command that resubmits) are `flux_flex._core.recovery`'s.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from flux_flex._core.delivery import image_stem
from flux_flex._core.journal import Ended, JournalEntry, Saved, State, wait_failure
from flux_flex._core.recovery import overdue_after, resubmit_command

if TYPE_CHECKING:
    from flux_flex.client import FluxFlex
    from flux_flex.journal import Journal

__all__ = ["ReconcileReport", "ReconciledTask", "UncertainSubmission", "reconcile"]

logger: logging.Logger = logging.getLogger("flux_flex")

ROUND = 1.0
"""Seconds between two looks at the tasks live runs hold (their writes wake it sooner)."""


@attrs.frozen
class ReconciledTask:
    """A task this reconciler finished: ``state`` is ``saved`` (``path`` written) or
    ``failed`` (``error`` says why: the task ended without an image), or ``running`` when
    it was not final within the timeout (it stays in the journal for the next run)."""

    entry: JournalEntry
    state: str
    path: str | None = None
    error: str | None = None


@attrs.frozen
class UncertainSubmission:
    """A submission whose answer never arrived, from a run that is gone: a billed task may
    exist. Never resent on its own; ``command`` sends it again (paying twice if it exists)."""

    entry: JournalEntry
    command: str


@attrs.frozen
class ReconcileReport:
    """What `reconcile` did: the tasks it ``saved`` or found ``failed``, those still
    ``running`` at its timeout (held by live runs, or not final), and the ``uncertain``
    submissions with the command that resends each."""

    saved: list[ReconciledTask]
    failed: list[ReconciledTask]
    running: list[ReconciledTask]
    uncertain: list[UncertainSubmission]

    @property
    def ok(self) -> bool:
        """Everything is settled: nothing failed, nothing runs on, nothing is uncertain."""
        return not (self.failed or self.running or self.uncertain)


def reconcile(
    journal: Journal | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    client: FluxFlex | None = None,
    after: float | None = None,
    timeout: float = 300.0,
    concurrency: int = 8,
) -> ReconcileReport:
    """Finish the tasks of ``journal`` that died: each submitted task that is overdue (not
    final ``after`` seconds after its last change; default twice its expected time) or
    whose owner is dead is polled, its image saved into ``out_dir`` as
    ``<name or task id>.<ext>`` and the journal entry settled — once across any number of
    reconcilers. Tasks that live runs hold are waited for (taken over once overdue) until
    ``timeout`` seconds have passed. Uncertain submissions are listed with the command that
    resends them, never resent. ``client`` polls and downloads (default: `FluxFlex()`, from
    ``$BFL_API_KEY``); ``concurrency`` tasks are settled at once.
    """
    from flux_flex.client import FluxFlex
    from flux_flex.journal import Journal

    if not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if after is not None and not (isinstance(after, int | float) and after >= 0):
        raise ValueError(f"after must be a number of seconds (>= 0), not {after!r}")
    opened = journal if isinstance(journal, Journal) else Journal(journal, create=False)
    own_client = client is None
    worker = FluxFlex() if client is None else client
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _Reconciler(opened, folder, worker, after, timeout, concurrency).run()
    finally:
        if own_client:
            worker.close()
        if opened is not journal:
            opened.close()


class _Reconciler:
    def __init__(
        self,
        journal: Journal,
        out_dir: Path,
        client: FluxFlex,
        after: float | None,
        timeout: float,
        concurrency: int,
    ) -> None:
        self.journal = journal
        self.out_dir = out_dir
        self.client = client
        self.after = after
        self.deadline = time.monotonic() + timeout
        self.concurrency = max(1, concurrency)

    def run(self) -> ReconcileReport:
        owner = self.journal.open_run()
        done: list[ReconciledTask] = []
        try:
            with ThreadPoolExecutor(self.concurrency, "flux-flex-reconcile") as pool:
                busy: dict[str, Future[ReconciledTask]] = {}
                while True:
                    for entry in self._pending():
                        if entry.fingerprint in busy:
                            continue
                        after = overdue_after(entry, self.after)
                        claim = self.journal.take_over(entry.fingerprint, owner=owner, after=after)
                        if claim is not None and claim.entry is not None:
                            busy[entry.fingerprint] = pool.submit(
                                self._settle, claim.entry, claim.attempt, owner
                            )
                    finished = [name for name, future in busy.items() if future.done()]
                    done += [busy.pop(name).result() for name in finished]
                    waiting = [e for e in self._pending() if e.fingerprint not in busy]
                    left = self.deadline - time.monotonic()
                    if (not busy and not waiting) or left <= 0:
                        break
                    if busy:
                        wait(
                            list(busy.values()),
                            timeout=min(ROUND, left),
                            return_when=FIRST_COMPLETED,
                        )
                    else:
                        self.journal.wait_for_change(timeout=min(ROUND, left))
                done += [future.result() for future in busy.values()]
        finally:
            self.journal.close_run(owner)
        running = [ReconciledTask(e, "running") for e in self._pending()]
        running += [s for s in done if s.state == "running"]
        uncertain = [
            UncertainSubmission(e, resubmit_command(e, self.journal.path))
            for e in self.journal.uncertain()
        ]
        return ReconcileReport(
            saved=[s for s in done if s.state == "saved"],
            failed=[s for s in done if s.state == "failed"],
            running=_unique(running),
            uncertain=uncertain,
        )

    def _pending(self) -> list[JournalEntry]:
        return self.journal.entries(State.SUBMITTED, State.READY)

    def _settle(self, entry: JournalEntry, attempt: int, owner: str) -> ReconciledTask:
        """Wait for the task, save its image, record what came of it."""
        assert entry.task_id is not None
        name = entry.fingerprint
        target = self.out_dir / image_stem(entry, entry.task_id)
        left = max(0.1, self.deadline - time.monotonic())
        try:
            job = self.client.job(entry.task_id, entry.polling_url)
            result = job.wait(timeout=left, save_to=target)
        except Exception as exc:
            event = wait_failure(exc)
            self.journal.record(name, attempt, event, owner=owner)
            state = "failed" if isinstance(event, Ended) else "running"
            logger.info("reconcile: task %s %s: %s", entry.task_id, state, exc)
            return ReconciledTask(entry, state, error=str(exc))
        path = os.path.abspath(result.path) if result.path is not None else None
        cost = result.cost if result.cost is not None else entry.cost
        saved = Saved(path, result.url, result.seed, cost)
        if not self.journal.record(name, attempt, saved, owner=owner):
            logger.warning("reconcile: task %s saved to %s, but its entry changed", name, path)
        return ReconciledTask(entry, "saved", path=path)


def _unique(settled: list[ReconciledTask]) -> list[ReconciledTask]:
    seen: set[str] = set()
    kept = []
    for item in settled:
        if item.entry.fingerprint not in seen:
            seen.add(item.entry.fingerprint)
            kept.append(item)
    return kept
