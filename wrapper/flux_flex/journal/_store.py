"""What a journal store does, and nothing more: read, write and compare-and-set rows,
inside transactions; count what takes a slot under a lock; tell when something changed.

The rules (`flux_flex._core.journal`), the schema version and migrations, the file checks
and owner liveness are the `Journal`'s: a store never decides anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol

from flux_flex._core.journal import Run
from flux_flex.errors import JournalError

__all__ = [
    "COLUMNS",
    "LOCKED",
    "SETTABLE",
    "Disconnected",
    "Locked",
    "Row",
    "Store",
    "Transaction",
    "Watcher",
]

COLUMNS = (
    "fingerprint",
    "state",
    "attempt",
    "prompt",
    "params",
    "save_to",
    "task_id",
    "polling_url",
    "path",
    "url",
    "submit_cost",
    "cost",
    "seed",
    "error",
    "error_type",
    "retryable",
    "owner",
    "host",
    "digest",
    "submitted_at",
    "created_at",
    "updated_at",
)
"""An entry's columns (schema 2), in this order in every row a store returns."""
SETTABLE = frozenset(COLUMNS) - {"fingerprint", "created_at"}


class Disconnected(JournalError):
    """The database could not be reached (down, restarting, network): the `Journal`
    retries the whole operation on a new connection for a while, then raises this."""


class Locked:
    """The row exists and another transaction holds it (``skip_locked`` reads only)."""

    def __repr__(self) -> str:
        return "LOCKED"


LOCKED = Locked()


class Row(dict[str, Any]):
    """An entry's columns by name, plus ``holder``: the owner's `Run` (None: none known)."""

    holder: Run | None = None


class Transaction(Protocol):
    """One transaction of a store; rows read through it stay as read until it ends."""

    def get(self, name: str, *, skip_locked: bool = False) -> Row | Locked | None:
        """The entry ``name`` (held until the transaction ends), None, or `LOCKED` when
        ``skip_locked`` and another transaction holds it."""

    def by_task(self, task_id: str) -> Row | None:
        """The entry of task ``task_id`` (held until the transaction ends), or None."""

    def insert(self, values: Mapping[str, Any]) -> bool:
        """Add an entry (every column given); False if one of that name exists."""

    def update(self, name: str, values: Mapping[str, Any]) -> None:
        """Set ``values`` (a subset of `SETTABLE`, maybe ``fingerprint`` to rename)."""

    def delete(self, name: str) -> None:
        """Remove the entry ``name``."""

    def cas(
        self,
        name: str,
        *,
        states: Collection[str],
        attempt: int,
        owner: str | None,
        values: Mapping[str, Any],
        unless_exists: str | None = None,
    ) -> bool:
        """Compare and set: set ``values`` on the entry ``name`` if it is in one of
        ``states`` at ``attempt`` held by ``owner`` (and no entry ``unless_exists`` exists);
        False (nothing written) otherwise."""

    def lock_slots(self) -> None:
        """Hold the account's slot lock until the transaction ends (one holder at a time
        across every process using the store)."""

    def in_flight(
        self, accepted_since: float, orphaned_since: float
    ) -> tuple[list[tuple[Run | None, int]], int]:
        """Counted by owner: ``submitting`` entries, and ``submitted`` ones accepted at or
        after ``accepted_since`` but before ``orphaned_since`` (they take a slot only while
        their owner lives); then the count of ``submitted`` entries accepted at or after
        ``orphaned_since`` (they take one whoever their owner is)."""


class Watcher(Protocol):
    """Tells that something in the store changed (any writer, any process)."""

    def token(self) -> int:
        """The current change count; pass it to `wait`."""

    def wait(self, token: int, timeout: float) -> bool:
        """Block until a change after ``token`` or ``timeout`` seconds; True on a change.
        A wake-up may be spurious: callers read again."""


class Store(Protocol):
    """A journal's storage: one SQLite file or one PostgreSQL database (or schema)."""

    shown: str
    """How messages name it (never with a password)."""

    def version(self) -> int:
        """The stored schema version (0: empty)."""

    def create(self, version: int) -> None:
        """Create the current schema in an empty store and set ``version``."""

    def upgrade(self, from_version: int) -> None:
        """Change the tables from ``from_version`` to the next (the data is the Journal's)."""

    def set_version(self, version: int) -> None:
        """Record the schema version."""

    def transaction(self) -> contextlib.AbstractContextManager[Transaction]:
        """A transaction (committed on success, rolled back on an error)."""

    def cas(
        self,
        name: str,
        *,
        states: Collection[str],
        attempt: int,
        owner: str | None,
        values: Mapping[str, Any],
        unless_exists: str | None = None,
    ) -> bool:
        """`Transaction.cas` in a transaction of its own (one statement where it can)."""

    def insert(self, values: Mapping[str, Any]) -> bool:
        """`Transaction.insert` in a transaction of its own (one statement where it can)."""

    def rows(
        self,
        *,
        states: Sequence[str] = (),
        name: str | None = None,
        task_id: str | None = None,
    ) -> list[Row]:
        """Entries, oldest first: all, those in ``states``, or the one named / of a task."""

    def counts(self) -> dict[str, int]:
        """Entries per stored state."""

    def delete(self, name: str) -> bool:
        """Remove an entry; True if there was one."""

    def put_run(self, run: Run, *, prune_before: float | None = None) -> None:
        """Record a run (an owner) and its lease; forget, in the same transaction, runs
        whose lease ended before ``prune_before`` (crashed long ago)."""

    def renew_run(self, run_id: str, lease_until: float) -> bool:
        """Extend a run's lease; False if the run is no longer recorded."""

    def end_run(self, run_id: str) -> None:
        """Forget a run (it ended: what it holds is free)."""

    def now(self) -> float:
        """The store's clock (Unix time): leases are compared with it across machines."""

    def watcher(self) -> Watcher:
        """The store's change watcher (one per store, shared)."""

    def close(self) -> None:
        """Release connections and threads (idempotent)."""


def iter_rows(rows: Sequence[Sequence[Any]]) -> Iterator[Row]:
    """Rows of `COLUMNS` then the owner run's run_id, host, pid and lease_until."""
    width = len(COLUMNS)
    for raw in rows:
        row = Row(zip(COLUMNS, raw[:width], strict=True))
        run_id, host, pid, lease_until = raw[width : width + 4]
        if run_id is not None:
            row.holder = Run(run_id, host, int(pid), float(lease_until))
        yield row


def cas_statement(
    table: str,
    mark: str,
    name: str,
    *,
    states: Collection[str],
    attempt: int,
    owner: str | None,
    values: Mapping[str, Any],
    unless_exists: str | None,
) -> tuple[str, list[Any]]:
    """The compare-and-set UPDATE (``mark``: the driver's placeholder) and its arguments."""
    unknown = set(values) - SETTABLE - {"fingerprint"}
    if unknown:
        raise ValueError(f"not journal columns: {sorted(unknown)}")
    names = sorted(values)
    ordered = sorted(states)
    query = (
        f"UPDATE {table} SET {', '.join(f'{n} = {mark}' for n in names)} "
        f"WHERE fingerprint = {mark} AND attempt = {mark} "
        f"AND state IN ({', '.join([mark] * len(ordered))}) "
        + ("AND owner IS NULL" if owner is None else f"AND owner = {mark}")
    )
    args: list[Any] = [*(values[n] for n in names), name, attempt, *ordered]
    if owner is not None:
        args.append(owner)
    if unless_exists is not None:
        query += f" AND NOT EXISTS (SELECT 1 FROM {table} WHERE fingerprint = {mark})"
        args.append(unless_exists)
    return query, args
