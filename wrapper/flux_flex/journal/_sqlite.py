"""The SQLite store: one file, shared by threads and processes (WAL mode, a busy timeout,
every transaction ``BEGIN IMMEDIATE``, so writers take turns and a read-decide-write is
atomic across processes)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from flux_flex._core.journal import Run
from flux_flex.errors import JournalError
from flux_flex.journal._store import COLUMNS, SETTABLE, Locked, Row, cas_statement, iter_rows

__all__ = ["BUSY_TIMEOUT_SECONDS", "SQLiteStore"]

BUSY_TIMEOUT_SECONDS = 30.0
"""How long a write waits for another writer (thread or process) before giving up."""
WATCH_INTERVAL = 0.025
"""How often a waiter looks at the file for another process's change (PRAGMA data_version)."""

_ENTRIES = """CREATE TABLE IF NOT EXISTS entries (
    fingerprint TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    save_to TEXT,
    task_id TEXT,
    polling_url TEXT,
    path TEXT,
    url TEXT,
    submit_cost REAL,
    cost REAL,
    seed INTEGER,
    error TEXT,
    error_type TEXT,
    retryable INTEGER,
    owner TEXT,
    host TEXT,
    digest TEXT,
    submitted_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)"""
_RUNS = """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    lease_until REAL NOT NULL,
    started_at REAL NOT NULL
)"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS entries_task_id ON entries (task_id)",
    "CREATE INDEX IF NOT EXISTS entries_state ON entries (state)",
)
_SELECT = (
    "SELECT "
    + ", ".join(f"e.{column}" for column in COLUMNS)
    + ", r.run_id, r.host, r.pid, r.lease_until FROM entries e "
    "LEFT JOIN runs r ON r.run_id = e.owner"
)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, name: str, *, skip_locked: bool = False) -> Row | Locked | None:
        # BEGIN IMMEDIATE already holds the whole file: nothing is ever locked by another.
        rows = self._db.execute(_SELECT + " WHERE e.fingerprint = ?", (name,)).fetchall()
        return next(iter_rows(rows), None)

    def by_task(self, task_id: str) -> Row | None:
        rows = self._db.execute(
            _SELECT + " WHERE e.task_id = ? ORDER BY e.created_at LIMIT 1", (task_id,)
        ).fetchall()
        return next(iter_rows(rows), None)

    def insert(self, values: Mapping[str, Any]) -> bool:
        names = sorted(values)
        cursor = self._db.execute(
            f"INSERT OR IGNORE INTO entries ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})",
            [_stored(values[name]) for name in names],
        )
        return cursor.rowcount > 0

    def update(self, name: str, values: Mapping[str, Any]) -> None:
        unknown = set(values) - SETTABLE - {"fingerprint"}
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        names = sorted(values)
        self._db.execute(
            f"UPDATE entries SET {', '.join(f'{n} = ?' for n in names)} WHERE fingerprint = ?",
            [*(_stored(values[n]) for n in names), name],
        )

    def delete(self, name: str) -> None:
        self._db.execute("DELETE FROM entries WHERE fingerprint = ?", (name,))

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
        query, args = cas_statement(
            "entries",
            "?",
            name,
            states=states,
            attempt=attempt,
            owner=owner,
            values=values,
            unless_exists=unless_exists,
        )
        return self._db.execute(query, [_stored(a) for a in args]).rowcount > 0

    def lock_slots(self) -> None:
        pass  # BEGIN IMMEDIATE: this transaction is the only writer already

    def in_flight(
        self, accepted_since: float, orphaned_since: float
    ) -> tuple[list[tuple[Run | None, int]], int]:
        grouped = self._db.execute(
            "SELECT r.run_id, r.host, r.pid, r.lease_until, count(*) FROM entries e "
            "LEFT JOIN runs r ON r.run_id = e.owner WHERE e.state = 'submitting' OR "
            "(e.state = 'submitted' AND e.submitted_at >= ? AND e.submitted_at < ?) "
            "GROUP BY r.run_id, r.host, r.pid, r.lease_until",
            (accepted_since, orphaned_since),
        ).fetchall()
        (submitted,) = self._db.execute(
            "SELECT count(*) FROM entries WHERE state = 'submitted' AND submitted_at >= ?",
            (orphaned_since,),
        ).fetchone()
        owners = [
            (None if run_id is None else Run(run_id, host, int(pid), float(until)), count)
            for run_id, host, pid, until, count in grouped
        ]
        return owners, int(submitted)


def _stored(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


class _FileWatcher:
    """Changes by any connection, seen through ``PRAGMA data_version`` on a connection of
    its own (a connection does not see its own commits there); this process's writers also
    wake waiters at once through ``changed``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.changed = threading.Condition()
        self._local = 0

    def _version(self) -> int:
        with self._lock:
            if self._db is None:
                self._db = sqlite3.connect(self._path, check_same_thread=False)
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return int(version) << 32 | self._local

    def bump(self) -> None:
        with self.changed:
            self._local += 1
            self.changed.notify_all()

    def token(self) -> int:
        return self._version()

    def wait(self, token: int, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._version() != token:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self.changed:
                self.changed.wait(min(WATCH_INTERVAL, remaining))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class SQLiteStore:
    """The journal in the SQLite file ``path`` (its folders are created)."""

    def __init__(self, path: str, *, create: bool = True) -> None:
        self.path = path
        self.shown = path
        self._lock = threading.RLock()
        if not create and not os.path.isfile(path):
            raise JournalError(
                f"There is no task journal at {path}: check the path (a batch writes "
                "its journal where it was told to, e.g. in its output folder).",
                path=path,
            )
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._db = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # shared by threads, serialized by self._lock
            )
        except (OSError, sqlite3.Error) as exc:
            raise self.error("cannot be opened", exc) from exc
        try:
            with self._guard("cannot be opened"):
                self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
                self._db.execute("PRAGMA journal_mode = WAL")
                # The submitting row must survive a power cut as well as a killed process.
                self._db.execute("PRAGMA synchronous = FULL")
                # Lookups are by key: 256 KiB of page cache (not SQLite's 2 MiB) keep a
                # batch's memory flat (measured: benchmarks/batch_memory.py).
                self._db.execute("PRAGMA cache_size = -256")
        except BaseException:
            self._db.close()
            raise
        self._watcher = _FileWatcher(path)

    # -- schema --------------------------------------------------------------------------------
    def version(self) -> int:
        with self._read() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if (
                version == 0
                and db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'"
                ).fetchone()
            ):
                return 1  # written before the version was recorded
        return int(version)

    def create(self, version: int) -> None:
        with self.transaction():
            self._db.execute(_ENTRIES)
            self._db.execute(_RUNS)
            for statement in _INDEXES:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {int(version)}")

    def upgrade(self, from_version: int) -> None:
        if from_version != 1:
            raise ValueError(f"no upgrade from schema {from_version}")
        with self.transaction():
            present = {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}
            for column, kind in (("host", "TEXT"), ("digest", "TEXT"), ("submitted_at", "REAL")):
                if column not in present:
                    self._db.execute(f"ALTER TABLE entries ADD COLUMN {column} {kind}")
            self._db.execute(_RUNS)
            for statement in _INDEXES:
                self._db.execute(statement)

    def set_version(self, version: int) -> None:
        with self.transaction():
            self._db.execute(f"PRAGMA user_version = {int(version)}")

    # -- entries -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        with self._lock, self._guard("cannot be written"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _Transaction(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self._watcher.bump()

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
        with self.transaction() as tx:
            return tx.cas(
                name,
                states=states,
                attempt=attempt,
                owner=owner,
                values=values,
                unless_exists=unless_exists,
            )

    def insert(self, values: Mapping[str, Any]) -> bool:
        with self.transaction() as tx:
            return tx.insert(values)

    def rows(
        self,
        *,
        states: Sequence[str] = (),
        name: str | None = None,
        task_id: str | None = None,
    ) -> list[Row]:
        query, args = _SELECT, []  # type: tuple[str, list[Any]]
        if name is not None:
            query, args = query + " WHERE e.fingerprint = ?", [name]
        elif task_id is not None:
            query, args = query + " WHERE e.task_id = ?", [task_id]
        elif states:
            query += f" WHERE e.state IN ({', '.join('?' * len(states))})"
            args = list(states)
        with self._read() as db:
            found = db.execute(query + " ORDER BY e.created_at, e.fingerprint", args).fetchall()
        return list(iter_rows(found))

    def counts(self) -> dict[str, int]:
        with self._read() as db:
            found = db.execute("SELECT state, count(*) FROM entries GROUP BY state").fetchall()
        return {state: int(count) for state, count in found}

    def delete(self, name: str) -> bool:
        with self.transaction():
            cursor = self._db.execute("DELETE FROM entries WHERE fingerprint = ?", (name,))
        return cursor.rowcount > 0

    # -- runs ----------------------------------------------------------------------------------
    def put_run(self, run: Run, *, prune_before: float | None = None) -> None:
        with self.transaction():
            if prune_before is not None:
                self._db.execute("DELETE FROM runs WHERE lease_until < ?", (prune_before,))
            self._db.execute(
                "INSERT OR REPLACE INTO runs (run_id, host, pid, lease_until, started_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (run.run_id, run.host, run.pid, run.lease_until, time.time()),
            )

    def renew_run(self, run_id: str, lease_until: float) -> bool:
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE runs SET lease_until = ? WHERE run_id = ?", (lease_until, run_id)
            )
        return cursor.rowcount > 0

    def end_run(self, run_id: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def now(self) -> float:
        return time.time()

    def watcher(self) -> _FileWatcher:
        return self._watcher

    # -- plumbing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._guard("cannot be read"):
            yield self._db

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self.error(what, exc) from exc

    def error(self, what: str, exc: BaseException) -> JournalError:
        """A `JournalError` saying the file ``what`` (e.g. "cannot be read"), and why."""
        return JournalError(
            f"The task journal {self.path} {what} ({exc}). Nothing new was submitted for the "
            "request concerned; check the file (disk full? another program holding it "
            "locked?) and run again: the journal resumes where it stopped.",
            path=self.path,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._watcher.close()
