"""`Journal`: the durable task journal, one SQLite file (the rules are in `_core.journal`).

    from flux_flex import FluxFlex, Journal

    with FluxFlex() as client, Journal("out/tasks.sqlite") as journal:
        client.generate_many(prompts, journal=journal)      # a re-run resumes, never repays
        for entry in journal.entries():
            print(entry.state, entry.task_id, entry.prompt, entry.cost, entry.path)

One row per request, keyed by a fingerprint of the request's body and destination. The row
is written *before* the POST is sent, updated with the task id the moment the answer
arrives, then marked saved or failed. Several threads and processes may share one file
(WAL mode, a busy timeout, every read-modify-write in one ``BEGIN IMMEDIATE`` transaction).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from flux_flex._core.journal import (
    Begin,
    Claim,
    Decision,
    Event,
    InvalidTransition,
    JournalEntry,
    Seen,
    State,
    apply,
    plan,
)
from flux_flex._core.sniff import sniff_format
from flux_flex.errors import JournalError

__all__ = ["Claim", "Journal", "JournalEntry", "State"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 30.0
"""How long a write waits for another writer (thread or process) before giving up."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
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
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS entries_task_id ON entries (task_id)",
)
# Which entries each run of this connection has taken (a temporary table: no fsync, its
# pages spill to a temporary file, so a run's memory does not grow with its size).
_RUN_SCHEMA = (
    "CREATE TEMP TABLE IF NOT EXISTS taken "
    "(owner TEXT NOT NULL, fingerprint TEXT NOT NULL, PRIMARY KEY (owner, fingerprint))"
)
_COLUMNS = (
    "fingerprint, state, attempt, prompt, params, save_to, task_id, polling_url, path, url, "
    "submit_cost, cost, seed, error, error_type, retryable, owner, created_at, updated_at"
)
_SETTABLE = frozenset(
    {
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
    }
)

# Runs of this process that are still going (see `Journal.open_run`): an entry written by
# one of them may be in the middle of its POST.
_LIVE_RUNS: set[str] = set()
_HOST = socket.gethostname()


class Journal:
    """The durable task journal in the SQLite file ``path`` (created with its folders;
    ``create=False`` refuses a missing file with `JournalError` instead, for readers).

    Safe to share between threads and processes. `entries` and `counts` are for people and
    tools (``flux-flex tasks``); ``claim`` and ``record`` are how `generate_many` uses it.
    Use it as a context manager, or call `close`.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path: str = os.path.abspath(os.fspath(path))
        self._lock = threading.RLock()
        if not create and not os.path.isfile(self.path):
            raise JournalError(
                f"There is no task journal at {self.path}: check the path (a batch writes "
                "its journal where it was told to, e.g. in its output folder).",
                path=self.path,
            )
        try:
            folder = os.path.dirname(self.path)
            os.makedirs(folder, exist_ok=True)
            self._db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # shared by threads, serialized by self._lock
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._error("cannot be opened", exc) from exc
        try:
            with self._guard("cannot be opened"):
                self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
                self._db.execute("PRAGMA journal_mode = WAL")
                # The submitting row must survive a power cut as well as a killed process.
                self._db.execute("PRAGMA synchronous = FULL")
                # Lookups are by key: 256 KiB of page cache each (not SQLite's 2 MiB) keep a
                # batch's memory flat (measured: benchmarks/batch_memory.py).
                self._db.execute("PRAGMA cache_size = -256")
                self._db.execute("PRAGMA temp.cache_size = -256")
            with self._write() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise JournalError(
                        f"The task journal {self.path} was written by a newer flux-flex "
                        f"(schema {version}, this one knows {SCHEMA_VERSION}): upgrade "
                        "flux-flex, or use another journal file.",
                        path=self.path,
                    )
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(_RUN_SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    # -- reading ---------------------------------------------------------------------------------
    def entries(self, *states: State | str) -> list[JournalEntry]:
        """Every entry (or those in ``states``), oldest first."""
        query = f"SELECT {_COLUMNS} FROM entries"
        args: list[str] = []
        if states:
            query += f" WHERE state IN ({', '.join('?' * len(states))})"
            args = [State(state).value for state in states]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY created_at, fingerprint", args).fetchall()
        return [_entry(row) for row in rows]

    def entry(self, fingerprint: str) -> JournalEntry | None:
        """The entry for ``fingerprint``, or None."""
        with self._read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
        return None if row is None else _entry(row)

    def counts(self) -> dict[str, int]:
        """How many entries are in each state (every state listed, zeros included)."""
        with self._read() as db:
            rows = db.execute("SELECT state, count(*) FROM entries GROUP BY state").fetchall()
        found = {State(state).value: count for state, count in rows}
        return {state.value: found.get(state.value, 0) for state in State}

    def forget(self, fingerprint: str) -> bool:
        """Remove an entry (e.g. to generate a saved image again); True if there was one.

        Forgetting a ``submitted`` or ``submitting`` entry gives up the only record of a task
        that may be billed: the next run submits a new one.
        """
        with self._write() as db:
            cursor = db.execute("DELETE FROM entries WHERE fingerprint = ?", (fingerprint,))
        return cursor.rowcount > 0

    # -- the engine's side -----------------------------------------------------------------------
    def open_run(self) -> str:
        """A new owner token for one run (see `claim`); end it with `close_run`. Entries a
        live run wrote while submitting are never resubmitted by another run."""
        owner = f"{_HOST}|{os.getpid()}|{uuid.uuid4().hex[:16]}"
        _LIVE_RUNS.add(owner)
        return owner

    def close_run(self, owner: str) -> None:
        """The run ``owner`` has ended: forget what it took."""
        _LIVE_RUNS.discard(owner)
        with contextlib.suppress(JournalError), self._write() as db:
            db.execute("DELETE FROM temp.taken WHERE owner = ?", (owner,))

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
    ) -> Claim:
        """Decide what to do with a request, atomically; on `Decision.SUBMIT` the entry is
        written as ``submitting`` before this returns (so before the POST is sent).

        ``fingerprint`` names the entry, or is a function of the occurrence (0, 1, …) of
        identical requests in one run: the first occurrence this run has not taken yet is
        chosen (`Claim.fingerprint`). Of several runs racing for one entry, exactly one gets
        SUBMIT.
        """
        now = time.time()
        with self._write() as db:
            if callable(fingerprint):
                fingerprint = _first_untaken(db, fingerprint, owner)
            db.execute("INSERT OR IGNORE INTO temp.taken VALUES (?, ?)", (owner, fingerprint))
            row = db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
            found = None if row is None else _entry(row)
            seen = _seen(found)
            decision = plan(seen, resubmit_uncertain=resubmit_uncertain, retry_failed=retry_failed)
            if decision is not Decision.SUBMIT:
                live = seen is not None and seen.owner_live
                return Claim(decision, found, found.attempt if found else 0, live, fingerprint)
            change = apply(found.state if found else None, Begin())
            assert change.state is not None
            attempt = (found.attempt if found else 0) + 1
            params_json = json.dumps(params, sort_keys=True, default=str)
            if found is None:
                db.execute(
                    "INSERT INTO entries (fingerprint, state, attempt, prompt, params, save_to, "
                    "owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        fingerprint,
                        change.state.value,
                        attempt,
                        prompt,
                        params_json,
                        save_to,
                        owner,
                        now,
                        now,
                    ),
                )
            else:
                self._update(db, fingerprint, change.state, change.values, owner, now, attempt)
            return Claim(decision, found, attempt, fingerprint=fingerprint)

    def record(self, fingerprint: str, attempt: int, event: Event, *, owner: str) -> bool:
        """Apply ``event`` to the entry if it is still at ``attempt``; False if it is not
        (another run took it over) or the event cannot happen in its state."""
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT state, attempt FROM entries WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
            if row is None or row[1] != attempt:
                return False
            try:
                change = apply(State(row[0]), event)
            except InvalidTransition:
                return False
            if change.state is None:
                db.execute("DELETE FROM entries WHERE fingerprint = ?", (fingerprint,))
            else:
                self._update(db, fingerprint, change.state, change.values, owner, now, attempt)
        return True

    # -- plumbing --------------------------------------------------------------------------------
    @staticmethod
    def _update(
        db: sqlite3.Connection,
        fingerprint: str,
        state: State,
        values: Mapping[str, Any],
        owner: str,
        now: float,
        attempt: int,
    ) -> None:
        unknown = set(values) - _SETTABLE
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        names = sorted(values)
        assignments = "".join(f", {name} = ?" for name in names)
        db.execute(
            f"UPDATE entries SET state = ?, attempt = ?, owner = ?, updated_at = ?{assignments} "
            "WHERE fingerprint = ?",
            (state.value, attempt, owner, now, *(values[name] for name in names), fingerprint),
        )

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._guard("cannot be written"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._guard("cannot be read"):
            yield self._db

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: BaseException) -> JournalError:
        return JournalError(
            f"The task journal {self.path} {what} ({exc}). Nothing new was submitted for the "
            "request concerned; check the file (disk full? another program holding it "
            "locked?) and run again: the journal resumes where it stopped.",
            path=self.path,
        )

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _first_untaken(db: sqlite3.Connection, name: Callable[[int], str], owner: str) -> str:
    occurrence = 0
    while True:
        candidate = name(occurrence)
        taken = db.execute(
            "SELECT 1 FROM temp.taken WHERE owner = ? AND fingerprint = ?", (owner, candidate)
        ).fetchone()
        if taken is None:
            return candidate
        occurrence += 1


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    (
        fingerprint,
        state,
        attempt,
        prompt,
        params,
        save_to,
        task_id,
        polling_url,
        path,
        url,
        submit_cost,
        cost,
        seed,
        error,
        error_type,
        retryable,
        owner,
        created_at,
        updated_at,
    ) = row
    try:
        parsed = json.loads(params)
    except ValueError:
        parsed = {}
    return JournalEntry(
        fingerprint=fingerprint,
        state=State(state),
        prompt=prompt,
        params=parsed if isinstance(parsed, dict) else {},
        save_to=save_to,
        task_id=task_id,
        polling_url=polling_url,
        path=path,
        url=url,
        cost=cost if cost is not None else submit_cost,
        submit_cost=submit_cost,
        seed=seed,
        error=error,
        error_type=error_type,
        retryable=None if retryable is None else bool(retryable),
        attempt=attempt,
        owner=owner,
        created_at=created_at,
        updated_at=updated_at,
    )


def _seen(entry: JournalEntry | None) -> Seen | None:
    if entry is None:
        return None
    file_ok = True
    if entry.state is State.SAVED and entry.path is not None:
        file_ok = _image_on_disk(entry.path)
    owner_live = entry.state is State.SUBMITTING and _owner_live(entry.owner)
    return Seen(entry.state, file_ok=file_ok, owner_live=owner_live)


def _image_on_disk(path: str) -> bool:
    """The saved file is still there and starts like an image."""
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError:
        return False
    return sniff_format(head) is not None


def _owner_live(owner: str | None) -> bool:
    """Whether the run that wrote an entry may still be going (same host only)."""
    if not owner:
        return False
    host, _, rest = owner.partition("|")
    pid_text, _, _ = rest.partition("|")
    if host != _HOST or not pid_text.isdigit():
        return False  # another machine sharing the file: its liveness cannot be checked
    pid = int(pid_text)
    if pid == os.getpid():
        return owner in _LIVE_RUNS
    if os.name == "nt":  # os.kill(pid, 0) would signal it there; assume it has ended
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True
