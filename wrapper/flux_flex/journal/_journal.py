"""`Journal`: the journal's rules (`flux_flex._core.journal`) applied to a store, owners
with leases, slots, waiting for changes, webhook deliveries and recovery."""

from __future__ import annotations

import enum
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import attrs

from flux_flex._core.journal import (
    IN_FLIGHT_HORIZON,
    PENDING_PREFIX,
    Abandoned,
    Accepted,
    Begin,
    Claim,
    Decision,
    Ended,
    Event,
    InvalidTransition,
    JournalEntry,
    Ready,
    Run,
    Seen,
    State,
    Take,
    apply,
    count_in_flight,
    owner_live,
    plan,
    task_name,
    uniform_change,
)
from flux_flex._core.journal import (
    run_id as make_run_id,
)
from flux_flex._core.recovery import orphans_counted_since
from flux_flex._core.sniff import sniff_format
from flux_flex.errors import JournalError
from flux_flex.journal._migrate import renamed_v1
from flux_flex.journal._store import COLUMNS, LOCKED, Disconnected, Row, Store, Transaction
from flux_flex.journal._url import ENV_VAR, Target, parse_target, target_from_env

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_RENEW_EVERY",
    "SCHEMA_VERSION",
    "Delivery",
    "Journal",
    "Start",
    "journal_from_env",
]

logger = logging.getLogger("flux_flex")

SCHEMA_VERSION = 2
DEFAULT_LEASE = 30.0
"""Seconds a run holds its claims without renewing them."""
DEFAULT_RENEW_EVERY = 10.0
RECONNECT_TIMEOUT = 30.0
"""How long an operation keeps trying a database that went away (e.g. restarting)."""
PRUNE_RUNS_AFTER = 86_400.0
_HOST = socket.gethostname()
T = TypeVar("T")


class Start(enum.StrEnum):
    """What `Journal.start` did."""

    STARTED = "started"
    """The entry is ``submitting``: send the POST now."""
    NO_SLOT = "no_slot"
    """``max_in_flight`` tasks are in flight: wait (`Journal.wait_for_change`), try again."""
    LOST = "lost"
    """The claim is no longer this run's (its lease expired and another run took it)."""


@attrs.frozen
class Delivery:
    """What `Journal.deliver` recorded for a verified final webhook delivery.

    ``first``: this delivery is the first to say the task is final (handle it; a False is a
    duplicate, already handled here or by another receiver). ``download``: this receiver
    holds the entry's download now: save the image, then record `Saved` (or `Stopped`) for
    ``name`` at ``attempt``.
    """

    first: bool
    download: bool
    name: str
    attempt: int
    entry: JournalEntry


class _Current:
    def __repr__(self) -> str:
        return "CURRENT"


CURRENT: Any = _Current()
"""`Journal.wait_for_change`'s default ``since``: the entry as it is when the wait starts."""


def journal_from_env(
    given: str | os.PathLike[str] | Journal | None = None,
    *,
    default: str | os.PathLike[str] | None = None,
    create: bool = True,
) -> Journal | None:
    """The journal a caller asked for: ``given`` (a `Journal` is returned as it is), else
    ``$FLUX_FLEX_JOURNAL``, else ``default``; None when there is none of them."""
    if isinstance(given, Journal):
        return given
    target = target_from_env(given, None if default is None else os.fspath(default))
    return None if target is None else Journal(target, create=create)


class Journal:
    """The durable task journal: a SQLite file or a PostgreSQL database.

    ``target``: a path, ``sqlite:///relative/path``, ``sqlite:////absolute/path``,
    ``postgresql://user:password@host:port/database`` (or ``postgres://``); None reads
    ``$FLUX_FLEX_JOURNAL``. ``create=False`` refuses a missing SQLite file with
    `JournalError` instead (for readers). PostgreSQL needs ``pip install
    'flux-flex[postgres]'``; a server that cannot be reached is a `JournalError` naming its
    host and port (never the password), raised before anything is sent.

    Safe to share between threads, processes and machines. People and tools read it with
    `entries`, `entry`, `entry_for_task` and `counts`; runs write it with `open_run`,
    `claim`, `start`, `record`, `release`; receivers with `deliver`; reconcilers with
    `overdue`, `take_over` and `uncertain`. Use it as a context manager, or call `close`.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        pool_size: int = 10,
        reconnect_timeout: float = RECONNECT_TIMEOUT,
    ) -> None:
        chosen = target_from_env(target)
        if chosen is None:
            raise JournalError(
                f"No task journal was given: pass one, or set {ENV_VAR} to a path, "
                "sqlite:///path or postgresql://user@host/database.",
                path="",
            )
        self.target: Target = parse_target(chosen)
        self.path: str = self.target.shown
        """The SQLite file, or the database URL with its password as ***."""
        self.host = _HOST
        self.reconnect_timeout = reconnect_timeout
        self._store = _open_store(self.target, create=create, pool_size=pool_size)
        self._lock = threading.Lock()
        self._taken: dict[str, dict[str, int]] = {}
        self._unregistered: dict[str, float] = {}
        self._renewals: dict[str, tuple[threading.Event, threading.Thread | None]] = {}
        self._closed = False
        try:
            self._offset = self._store.now() - time.time() if self.target.kind != "sqlite" else 0
            self._prepare_schema()
        except BaseException:
            self._store.close()
            raise

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    # -- schema --------------------------------------------------------------------------------
    def _prepare_schema(self) -> None:
        version = self._store.version()
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"The task journal {self.path} was written by a newer flux-flex (schema "
                f"{version}, this one knows {SCHEMA_VERSION}): upgrade flux-flex, or use "
                "another journal.",
                path=self.path,
            )
        if version == 0:
            self._store.create(SCHEMA_VERSION)
            return
        for old in range(version, SCHEMA_VERSION):
            self._store.upgrade(old)
            if old == 1:
                self._rename_v1()
        if version < SCHEMA_VERSION:
            self._store.set_version(SCHEMA_VERSION)

    def _rename_v1(self) -> None:
        kept = 0
        for row in self._store.rows():
            if row["digest"] is not None:
                continue  # renamed already (another process upgraded it at the same time)
            renamed = renamed_v1(row)
            with self._store.transaction() as tx:
                if renamed is None or tx.get(renamed[0]) is not None:
                    kept += 1
                    continue
                tx.update(row["fingerprint"], {"fingerprint": renamed[0], "digest": renamed[1]})
        if kept:
            logger.warning(
                "journal %s: %d entries keep their schema-1 name (their requests cannot be "
                "rebuilt exactly, e.g. input images given as bytes): a re-run submits those "
                "again",
                self.path,
                kept,
            )

    # -- reading -------------------------------------------------------------------------------
    def entries(self, *states: State | str) -> list[JournalEntry]:
        """Every entry (or those in ``states``), oldest first."""
        wanted = [State(state).value for state in states]
        return [_entry(row) for row in self._op(lambda: self._store.rows(states=wanted))]

    def entry(self, name: str) -> JournalEntry | None:
        """The entry named ``name`` (a fingerprint, ``key:…`` or ``task:…``), or None."""
        found = self._op(lambda: self._store.rows(name=name))
        return _entry(found[0]) if found else None

    def entry_for_task(self, task_id: str) -> JournalEntry | None:
        """The entry of the task ``task_id``, or None."""
        found = self._op(lambda: self._store.rows(task_id=task_id))
        return _entry(found[0]) if found else None

    def counts(self) -> dict[str, int]:
        """How many entries are in each state (every state listed, zeros included)."""
        found = self._op(self._store.counts)
        return {state.value: found.get(state.value, 0) for state in State}

    def forget(self, name: str) -> bool:
        """Remove an entry (e.g. to generate a saved image again); True if there was one.

        Forgetting a ``submitted`` or ``submitting`` entry gives up the only record of a task
        that may be billed: the next run submits a new one.
        """
        return self._op(lambda: self._store.delete(name))

    def is_held(self, entry: JournalEntry, *, by_other_than: str | None = None) -> bool:
        """Whether a live run (other than ``by_other_than``) holds ``entry`` now."""
        return self._held(entry.holder, by_other_than)

    def in_flight(self) -> int:
        """Tasks taking an account slot now, across every process using this journal:
        ``submitting`` ones of live runs, and ``submitted`` ones not final yet (a dead run's
        only until they are overdue: `flux_flex._core.recovery.orphans_counted_since`)."""

        def count() -> int:
            with self._store.transaction() as tx:
                return self._count_in_flight(tx)

        return self._op(count)

    # -- runs ----------------------------------------------------------------------------------
    def open_run(
        self, lease: float = DEFAULT_LEASE, renew_every: float | None = DEFAULT_RENEW_EVERY
    ) -> str:
        """Register a run (an owner: this host, this process) holding its claims for
        ``lease`` seconds, renewed every ``renew_every`` seconds by a daemon thread (None:
        never; the run then dies when its lease ends). End it with `close_run`."""
        if not (isinstance(lease, int | float) and 0 < lease < float("inf")):
            raise ValueError(f"lease must be a positive number of seconds, not {lease!r}")
        if renew_every is not None and not (0 < renew_every < lease):
            raise ValueError(f"renew_every must be between 0 and the lease, not {renew_every!r}")
        run_id = make_run_id(self.host, os.getpid(), uuid.uuid4().hex[:16])
        with self._lock:
            self._unregistered[run_id] = float(lease)
        try:
            self._register(run_id)
        except JournalError as exc:  # the run's first claim tries again, and fails with it
            logger.debug("journal: run %s not recorded yet: %s", run_id, exc)
        stop = threading.Event()
        thread = None
        if renew_every is not None:
            thread = threading.Thread(
                target=self._renew_loop,
                args=(run_id, float(lease), float(renew_every), stop),
                name="flux-flex-journal-lease",
                daemon=True,
            )
        with self._lock:
            self._renewals[run_id] = (stop, thread)
            self._taken[run_id] = {}
        if thread is not None:
            thread.start()
        return run_id

    def _register(self, owner: str) -> None:
        """Record the run ``owner`` if `open_run` could not (nothing is claimed without)."""
        with self._lock:
            lease = self._unregistered.get(owner)
        if lease is None:
            return
        run = Run(owner, self.host, os.getpid(), self._now() + lease)
        prune = self._now() - PRUNE_RUNS_AFTER
        self._op(lambda: self._store.put_run(run, prune_before=prune))
        with self._lock:
            self._unregistered.pop(owner, None)

    def renew(self, owner: str, lease: float = DEFAULT_LEASE) -> bool:
        """Extend the run ``owner``'s lease by ``lease`` seconds from now; False if the run
        is not recorded (it ended, or was pruned long after its lease)."""
        return self._op(lambda: self._store.renew_run(owner, self._now() + lease))

    def close_run(self, owner: str) -> None:
        """The run ``owner`` has ended: its renewal stops and what it holds is free."""
        with self._lock:
            stop, thread = self._renewals.pop(owner, (None, None))
            self._taken.pop(owner, None)
            self._unregistered.pop(owner, None)
        if stop is not None:
            stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        try:
            self._store.end_run(owner)
        except JournalError as exc:
            logger.warning("journal: the end of run %s was not recorded: %s", owner, exc)

    def _renew_loop(self, run_id: str, lease: float, every: float, stop: threading.Event) -> None:
        host, pid = self.host, os.getpid()
        try:
            while not stop.wait(every):
                try:
                    if not self._store.renew_run(run_id, self._now() + lease):
                        self._store.put_run(Run(run_id, host, pid, self._now() + lease))
                except Exception as exc:  # a slow or restarting database: try again next time
                    logger.warning("journal: the lease of run %s was not renewed: %s", run_id, exc)
        finally:
            close = getattr(self._store, "close_renewals", None)
            if close is not None:
                close()

    # -- claims --------------------------------------------------------------------------------
    def claim(
        self,
        fingerprint: str | Callable[[int], str],
        *,
        prompt: str,
        params: Mapping[str, Any],
        save_to: str | None,
        owner: str,
        resubmit_uncertain: bool = False,
        retry_failed: bool = False,
        digest: str | None = None,
        begin: bool = True,
    ) -> Claim:
        """Decide what to do with a request, atomically, across every process using the
        journal.

        On `Decision.SUBMIT` the entry is written before this returns: ``submitting`` with
        ``begin=True`` (the POST is sent next), ``claimed`` with ``begin=False`` (then call
        `start`, which counts slots). On `Decision.RESUME` / `REDOWNLOAD` the run takes the
        entry over. `Decision.HELD`: a live run holds it (`Claim.holder` names it; wait with
        `wait_for_change`). `Decision.CONFLICT`: ``digest`` (`parameters_digest`) differs
        from the one stored under this name (an idempotency key reused).

        ``fingerprint`` names the entry, or is a function of the occurrence (0, 1, …) of
        identical requests in one run: the first occurrence this run has not taken yet is
        chosen (`Claim.fingerprint`). Of several runs racing for one entry, exactly one gets
        SUBMIT.
        """
        self._register(owner)
        name = self._choose(fingerprint, owner)
        request = {"prompt": prompt, "params": _params_json(params), "save_to": save_to}
        # Most claims are of new requests: one insert decides them (nothing to read first).
        if self._op(lambda: self._store.insert(self._new_row(name, request, owner, digest, begin))):
            return Claim(Decision.SUBMIT, None, 1, False, name)

        def once() -> Claim | None:
            with self._store.transaction() as tx:
                return self._claim(
                    tx, name, request, owner, digest, begin, resubmit_uncertain, retry_failed
                )

        for _ in range(5):
            claimed = self._op(once)
            if claimed is not None:
                return claimed
        raise JournalError(
            f"The task journal {self.path}: the entry {name} kept changing while it was "
            "claimed; nothing was sent for it. Run again.",
            path=self.path,
        )

    def _claim(
        self,
        tx: Transaction,
        name: str,
        request: Mapping[str, Any],
        owner: str,
        digest: str | None,
        begin: bool,
        resubmit_uncertain: bool,
        retry_failed: bool,
    ) -> Claim | None:
        row = tx.get(name, skip_locked=True)
        if row is LOCKED:  # another run is deciding on it right now
            return Claim(Decision.HELD, None, 0, True, name, "another run")
        assert row is None or isinstance(row, Row)
        found = None if row is None else _entry(row)
        live = found is not None and self._held(found.holder, owner)
        seen = None if found is None else self._seen(found, live, digest)
        decision = plan(seen, resubmit_uncertain=resubmit_uncertain, retry_failed=retry_failed)
        now = self._now()
        if found is not None and decision in (Decision.RESUME, Decision.REDOWNLOAD):
            tx.update(name, {"owner": owner, "host": self.host, "updated_at": now})
            return Claim(decision, found, found.attempt, False, name)
        if decision is not Decision.SUBMIT:
            holder = found.holder.label if live and found and found.holder else None
            attempt = found.attempt if found else 0
            return Claim(decision, found, attempt, live, name, holder)
        change = apply(found.state if found else None, Begin() if begin else Take())
        assert change.state is not None
        attempt = (found.attempt if found else 0) + 1  # a claim always starts a new attempt
        values = {
            **change.values,
            "state": change.state.value,
            "attempt": attempt,
            "owner": owner,
            "host": self.host,
            "updated_at": now,
            "save_to": request["save_to"],
        }
        if found is not None:
            if digest is not None:
                values["digest"] = digest
            tx.update(name, values)
        elif not tx.insert(self._new_row(name, request, owner, digest, begin)):
            return None  # another run inserted it first: decide again
        return Claim(Decision.SUBMIT, found, attempt, False, name)

    def _new_row(
        self,
        name: str,
        request: Mapping[str, Any],
        owner: str,
        digest: str | None,
        begin: bool,
    ) -> dict[str, Any]:
        change = apply(None, Begin() if begin else Take())
        assert change.state is not None
        now = self._now()
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(
            change.values,
            **request,
            fingerprint=name,
            state=change.state.value,
            attempt=1,
            owner=owner,
            host=self.host,
            digest=digest,
            created_at=now,
            updated_at=now,
        )
        return row

    def start(
        self, name: str, attempt: int, *, owner: str, max_in_flight: int | None = None
    ) -> Start:
        """Move a ``claimed`` entry to ``submitting`` right before its POST — only while
        fewer than ``max_in_flight`` tasks are in flight across every process using the
        journal (None: no limit), atomically. `Start.NO_SLOT`: wait and try again."""
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight!r}")

        change = apply(State.CLAIMED, Begin())
        assert change.state is not None
        state, claimed = change.state.value, (State.CLAIMED.value,)

        def started(write: Callable[..., bool]) -> bool:
            values = {**change.values, "state": state, "updated_at": self._now()}
            return write(name, states=claimed, attempt=attempt, owner=owner, values=values)

        def once() -> Start:
            if max_in_flight is None:
                if started(self._store.cas):
                    return Start.STARTED
            else:
                with self._store.transaction() as tx:
                    tx.lock_slots()
                    if self._count_in_flight(tx) >= max_in_flight:
                        return Start.NO_SLOT  # (a claim lost meanwhile says LOST next time)
                    if started(tx.cas):
                        return Start.STARTED
            # Not this run's claim any more — or written already (a retried commit).
            entry = self.entry(name)
            if entry is None or (entry.attempt, entry.owner) != (attempt, owner):
                return Start.LOST
            return Start.STARTED if entry.state is State.SUBMITTING else Start.LOST

        return self._op(once)

    def release(self, name: str, attempt: int, *, owner: str) -> bool:
        """Give back a claim that was never sent (the entry is removed); False if it is not
        this run's ``claimed`` entry any more."""
        entry = self.entry(name)
        if entry is None or entry.state is not State.CLAIMED:
            return False
        return self.record(name, attempt, Abandoned(), owner=owner)

    def record(self, fingerprint: str, attempt: int, event: Event, *, owner: str) -> bool:
        """Apply ``event`` to the entry if ``owner`` still holds it at ``attempt``; False if
        not (another run took it over, a receiver handled it) or the event cannot happen in
        its state (e.g. `Ready` after a receiver recorded it: read the entry and skip the
        download if it is ``saved``).

        `Accepted` renames an entry named ``call:…`` (a keyless call) to ``task:<id>``, and
        takes in what a receiver recorded for that task before the answer arrived.
        """

        fast = self._record_at_once(fingerprint, attempt, event, owner)
        if fast is not None and self._op(fast):
            return True

        def once() -> bool:  # read, decide, write: the cases a compare-and-set cannot settle
            with self._store.transaction() as tx:
                return self._record(tx, fingerprint, attempt, event, owner)

        return self._op(once)

    def _record_at_once(
        self, name: str, attempt: int, event: Event, owner: str
    ) -> Callable[[], bool] | None:
        """One compare-and-set for an event whose change does not depend on the state;
        None for the others (`Stopped`, `Begin`, `Take`, `Abandoned`)."""
        uniform = uniform_change(event)
        if uniform is None:
            return None
        states, change = uniform
        assert change.state is not None
        values: dict[str, Any] = {
            **change.values,
            "state": change.state.value,
            "owner": None if change.release else owner,
            "host": self.host,
            "updated_at": self._now(),
        }
        unless = None
        if isinstance(event, Accepted):
            values["submitted_at"] = values["updated_at"]
            unless = task_name(event.task_id)  # a delivery came first: taken in by _record
            if unless == name:
                unless = None
            elif name.startswith(PENDING_PREFIX):
                values["fingerprint"] = task_name(event.task_id)
        allowed = sorted(state.value for state in states)
        return lambda: self._store.cas(
            name,
            states=allowed,
            attempt=attempt,
            owner=owner,
            values=values,
            unless_exists=unless,
        )

    def _record(self, tx: Transaction, name: str, attempt: int, event: Event, owner: str) -> bool:
        row = tx.get(name)
        if not isinstance(row, Row) or row["attempt"] != attempt or row["owner"] != owner:
            return False
        try:
            change = apply(State(row["state"]), event)
        except InvalidTransition:
            return False
        if change.state is None:
            tx.delete(name)
            return True
        now = self._now()
        values: dict[str, Any] = {
            **change.values,
            "state": change.state.value,
            "attempt": attempt + 1 if change.next_attempt else attempt,
            "owner": None if change.release else owner,
            "host": self.host,
            "updated_at": now,
        }
        if isinstance(event, Accepted):
            values["submitted_at"] = now
            delivered_name = task_name(event.task_id)
            if delivered_name != name:
                delivered = tx.get(delivered_name)
                if isinstance(delivered, Row) and delivered["state"] != State.SUBMITTED.value:
                    # A receiver recorded the task's end before its POST's answer came here.
                    for column in ("state", "url", "seed", "cost", "path", "error"):
                        values[column] = delivered[column]
                    values["error_type"] = delivered["error_type"]
                    values["retryable"] = delivered["retryable"]
                    values["host"] = delivered["host"]
                    tx.delete(delivered_name)
                if name.startswith(PENDING_PREFIX):
                    values["fingerprint"] = delivered_name
        tx.update(name, values)
        return True

    # -- webhooks ------------------------------------------------------------------------------
    def deliver(
        self,
        task_id: str,
        event: Ready | Ended,
        *,
        owner: str,
        prompt: str | None = None,
        download: bool = True,
    ) -> Delivery:
        """Record a verified final webhook delivery for ``task_id`` (known to the journal
        or not: an unknown task gets an entry ``task:<id>``), once across every receiver.

        `Delivery.first` is True for the delivery that moved the task to its end (handle
        it); False for a duplicate. With ``download``, `Delivery.download` says this
        receiver holds the image's download (a ``ready`` entry left by a dead receiver is
        taken over). Answer the API 2xx only after this returns.
        """

        self._register(owner)

        def once() -> Delivery | None:
            with self._store.transaction() as tx:
                return self._deliver(tx, task_id, event, owner, prompt, download)

        for _ in range(5):
            delivered = self._op(once)
            if delivered is not None:
                return delivered
        raise JournalError(
            f"The task journal {self.path}: the delivery of task {task_id} could not be "
            "recorded (its entry kept changing). Answer 503 so that the API retries.",
            path=self.path,
            task_id=task_id,
        )

    def _deliver(
        self,
        tx: Transaction,
        task_id: str,
        event: Ready | Ended,
        owner: str,
        prompt: str | None,
        download: bool,
    ) -> Delivery | None:
        fetch = download and isinstance(event, Ready)
        now = self._now()
        row = tx.by_task(task_id)
        if row is None:
            change = apply(State.SUBMITTED, event)
            assert change.state is not None
            values = dict.fromkeys(COLUMNS)
            values.update(
                change.values,
                fingerprint=task_name(task_id),
                state=change.state.value,
                attempt=1,
                prompt=prompt or "",
                params="{}",
                task_id=task_id,
                owner=owner if fetch else None,
                host=self.host,
                created_at=now,
                updated_at=now,
            )
            if not tx.insert(values):
                return None
            return Delivery(True, fetch, task_name(task_id), 1, _entry(Row(values)))
        name, attempt = row["fingerprint"], row["attempt"]
        if row["state"] == State.SUBMITTED.value:
            change = apply(State.SUBMITTED, event)
            assert change.state is not None
            values = {
                **change.values,
                "state": change.state.value,
                "owner": owner if fetch else row["owner"],
                "host": self.host,
                "updated_at": now,
            }
            tx.update(name, values)
            return Delivery(True, fetch, name, attempt, _entry(Row({**row, **values})))
        found = _entry(row)
        mine = found.holder is not None and found.holder.run_id == owner
        if (
            fetch
            and row["state"] == State.READY.value
            and not mine
            and not self._held(found.holder, owner)
        ):
            # The receiver (or worker) that held its download died: this one takes it.
            tx.update(name, {"owner": owner, "host": self.host, "updated_at": now})
            return Delivery(False, True, name, attempt, found)
        return Delivery(False, False, name, attempt, found)

    # -- waiting -------------------------------------------------------------------------------
    def wait_for_change(
        self, name: str | None = None, *, timeout: float, since: Any = CURRENT
    ) -> bool:
        """Block until the entry ``name`` differs from ``since`` (a `JournalEntry` seen
        earlier, None for "no entry", or by default the entry as it is now) — or, with no
        ``name``, until any entry changes — or ``timeout`` seconds pass. True on a change.

        Any process's writes wake it: LISTEN/NOTIFY on PostgreSQL, the file's change counter
        on SQLite. With no ``name`` a wake-up may be spurious: read what you wait for again.
        """
        watcher = self._store.watcher()
        deadline = time.monotonic() + max(0.0, timeout)
        if name is None:
            return self._op(lambda: watcher.wait(watcher.token(), timeout))
        before = _version(self.entry(name) if since is CURRENT else since)
        while True:
            token = self._op(watcher.token)
            if _version(self.entry(name)) != before:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._op(_bind(watcher.wait, token, remaining)):
                return _version(self.entry(name)) != before

    # -- recovery ------------------------------------------------------------------------------
    def overdue(self, after: float) -> list[JournalEntry]:
        """Tasks ``submitted`` or ``ready`` that nobody live holds, or that are not final
        ``after`` seconds after their last change (accepted, taken over): what a reconciler
        finishes (`take_over`, then wait, save and `record`)."""
        now = self._now()
        rows = self._op(lambda: self._store.rows(states=(State.SUBMITTED.value, State.READY.value)))
        entries = [_entry(row) for row in rows]
        return [e for e in entries if self._takeable(e, None, after, now)]

    def take_over(self, name: str, *, owner: str, after: float) -> Claim | None:
        """Take an `overdue` entry for ``owner`` (a reconciler's run); None if it is no
        longer overdue, or another run took it first (exactly one of several reconcilers
        gets it). The claim's decision is `Decision.RESUME`."""
        self._register(owner)

        def once() -> Claim | None:
            with self._store.transaction() as tx:
                row = tx.get(name, skip_locked=True)
                if not isinstance(row, Row):
                    return None
                found = _entry(row)
                if found.state not in (State.SUBMITTED, State.READY):
                    return None
                if not self._takeable(found, owner, after, self._now()):
                    return None
                tx.update(name, {"owner": owner, "host": self.host, "updated_at": self._now()})
                return Claim(Decision.RESUME, found, found.attempt, False, name)

        return self._op(once)

    def uncertain(self) -> list[JournalEntry]:
        """Submissions whose answer never arrived and whose sender is gone: a billed task
        may exist. Each entry's prompt, params and save_to say what was sent; they are never
        resubmitted on their own (``resubmit_uncertain=True`` / ``--resubmit-uncertain``)."""
        rows = self._op(lambda: self._store.rows(states=(State.SUBMITTING.value,)))
        return [e for e in map(_entry, rows) if not self._held(e.holder, None)]

    # -- plumbing ------------------------------------------------------------------------------
    def _takeable(self, entry: JournalEntry, owner: str | None, after: float, now: float) -> bool:
        if entry.holder is not None and entry.holder.run_id == owner:
            return True
        if not self._held(entry.holder, owner):
            return True
        last = max(entry.submitted_at or 0.0, entry.updated_at)
        return now - last >= after

    def _choose(self, fingerprint: str | Callable[[int], str], owner: str) -> str:
        if not callable(fingerprint):
            with self._lock:
                self._taken.setdefault(owner, {})
            return fingerprint
        first = fingerprint(0)
        with self._lock:
            taken = self._taken.setdefault(owner, {})
            occurrence = taken.get(first, 0)
            taken[first] = occurrence + 1
        return first if occurrence == 0 else fingerprint(occurrence)

    def _count_in_flight(self, tx: Transaction) -> int:
        now = self._now()
        # A dead run's task takes its slot only until it is overdue (the API finishes it
        # whether anyone polls or not); a live run's, until it is final.
        horizon = now - IN_FLIGHT_HORIZON
        owners, submitted = tx.in_flight(horizon, max(horizon, orphans_counted_since(now)))
        return count_in_flight(owners, submitted, now=now, host=self.host, pid_exists=_pid_exists)

    def _held(self, holder: Run | None, other_than: str | None) -> bool:
        if holder is None or holder.run_id == other_than:
            return False
        return owner_live(holder, now=self._now(), host=self.host, pid_exists=_pid_exists)

    def _seen(self, entry: JournalEntry, live: bool, digest: str | None) -> Seen:
        file_ok = True
        # A file saved on another machine cannot be checked from here: trust the record.
        if (
            entry.state is State.SAVED
            and entry.path is not None
            and entry.host in (None, self.host)
        ):
            file_ok = _image_on_disk(entry.path)
        same = digest is None or entry.digest is None or digest == entry.digest
        return Seen(entry.state, file_ok=file_ok, owner_live=live, same_parameters=same)

    def _now(self) -> float:
        return time.time() + self._offset

    def _op(self, operation: Callable[[], T]) -> T:
        """Run ``operation``, again on a database that went away (restarting) until
        ``reconnect_timeout`` passes; each attempt decides afresh from what it reads."""
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.05
        while True:
            try:
                return operation()
            except Disconnected as exc:
                if time.monotonic() >= deadline:
                    raise
                logger.info("journal: %s; trying again", exc)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def close(self) -> None:
        """End the runs still open on this journal (what they hold is free), stop their
        renewals and close the connections (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            renewals = list(self._renewals.items())
            self._renewals.clear()
        for run_id, (stop, thread) in renewals:
            stop.set()
            if thread is not None:
                thread.join(5.0)
            try:  # a run cannot go on without its journal: what it holds is free now
                self._store.end_run(run_id)
            except JournalError as exc:
                logger.debug("journal: run %s left to its lease: %s", run_id, exc)
        self._store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open_store(target: Target, *, create: bool, pool_size: int) -> Store:
    if target.kind == "sqlite":
        from flux_flex.journal._sqlite import SQLiteStore

        assert target.path is not None
        return SQLiteStore(target.path, create=create)
    try:
        from flux_flex.journal._postgres import PostgresStore
    except ImportError as exc:
        raise JournalError(
            f"A PostgreSQL journal needs psycopg: pip install 'flux-flex[postgres]' ({exc}).",
            path=target.shown,
        ) from None
    return PostgresStore(target, pool_size=pool_size)


def _bind(function: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: function(*args)


def _params_json(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _version(entry: JournalEntry | None) -> tuple[Any, ...] | None:
    if entry is None:
        return None
    return (entry.fingerprint, entry.state, entry.attempt, entry.owner, entry.updated_at)


def _entry(row: Mapping[str, Any]) -> JournalEntry:
    try:
        parsed = json.loads(row["params"] or "{}")
    except ValueError:
        parsed = {}
    retryable = row["retryable"]
    cost, submit_cost = row["cost"], row["submit_cost"]
    return JournalEntry(
        fingerprint=row["fingerprint"],
        state=State(row["state"]),
        prompt=row["prompt"],
        params=parsed if isinstance(parsed, dict) else {},
        save_to=row["save_to"],
        task_id=row["task_id"],
        polling_url=row["polling_url"],
        path=row["path"],
        url=row["url"],
        cost=cost if cost is not None else submit_cost,
        submit_cost=submit_cost,
        seed=row["seed"],
        error=row["error"],
        error_type=row["error_type"],
        retryable=None if retryable is None else bool(retryable),
        attempt=row["attempt"],
        owner=row["owner"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        host=row["host"],
        digest=row["digest"],
        submitted_at=row["submitted_at"],
        holder=getattr(row, "holder", None),
    )


def _image_on_disk(path: str) -> bool:
    """The saved file is still there and starts like an image."""
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError:
        return False
    return sniff_format(head) is not None


def _pid_exists(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would signal it there; rely on the lease
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True
