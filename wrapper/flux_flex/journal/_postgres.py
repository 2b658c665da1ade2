"""The PostgreSQL store (psycopg 3 and its pool): plain SQL, row locks with
``FOR UPDATE [SKIP LOCKED]`` for claims, a transaction-scoped advisory lock for counting
slots, and ``LISTEN/NOTIFY`` (a trigger notifies every change) for waiters.

Tables are ``flux_flex_entries``, ``flux_flex_runs`` and ``flux_flex_meta`` in the
connection's current schema (``?options=-csearch_path%3Dmyschema`` picks another).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from flux_flex._core.journal import Run
from flux_flex.errors import JournalError
from flux_flex.journal._store import (
    COLUMNS,
    LOCKED,
    SETTABLE,
    Disconnected,
    Locked,
    Row,
    cas_statement,
    iter_rows,
)
from flux_flex.journal._url import Target

__all__ = ["CONNECT_TIMEOUT", "PostgresStore"]

logger = logging.getLogger("flux_flex")

CONNECT_TIMEOUT = 5.0
"""Seconds to reach the server when opening, and to get a pooled connection."""
POOL_SIZE = 10

_ENTRIES = "flux_flex_entries"
_RUNS = "flux_flex_runs"
_META = "flux_flex_meta"
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {_META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_ENTRIES} (
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
        submit_cost DOUBLE PRECISION,
        cost DOUBLE PRECISION,
        seed BIGINT,
        error TEXT,
        error_type TEXT,
        retryable BOOLEAN,
        owner TEXT,
        host TEXT,
        digest TEXT,
        submitted_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS flux_flex_entries_task_id ON {_ENTRIES} (task_id)",
    f"CREATE INDEX IF NOT EXISTS flux_flex_entries_state ON {_ENTRIES} (state)",
    f"""CREATE TABLE IF NOT EXISTS {_RUNS} (
        run_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        lease_until DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION NOT NULL
    )""",
    # Every change wakes the waiters of this schema (the channel is per schema, so several
    # journals can share one database).
    """CREATE OR REPLACE FUNCTION flux_flex_notify() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify(
            'flux_flex_' || left(md5(TG_TABLE_SCHEMA), 20),
            CASE WHEN TG_OP = 'DELETE' THEN OLD.fingerprint ELSE NEW.fingerprint END
        );
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS flux_flex_entries_changed ON {_ENTRIES}",
    f"""CREATE TRIGGER flux_flex_entries_changed AFTER INSERT OR UPDATE OR DELETE
        ON {_ENTRIES} FOR EACH ROW EXECUTE FUNCTION flux_flex_notify()""",
)
_SELECT_ENTRY = f"SELECT {', '.join(COLUMNS)} FROM {_ENTRIES}"
_CHANNEL = "SELECT 'flux_flex_' || left(md5(current_schema()), 20)"
_SELECT = (
    "SELECT "
    + ", ".join(f"e.{column}" for column in COLUMNS)
    + f", r.run_id, r.host, r.pid, r.lease_until FROM {_ENTRIES} e "
    f"LEFT JOIN {_RUNS} r ON r.run_id = e.owner"
)
# One key per schema: every process counting slots in this journal takes the same lock.
_SLOT_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.flux_flex_slots'))"
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.flux_flex_schema'))"
_LOST = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


class _Transaction:
    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cur = cursor

    def get(self, name: str, *, skip_locked: bool = False) -> Row | Locked | None:
        lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
        self._cur.execute(f"{_SELECT_ENTRY} WHERE fingerprint = %s {lock}", (name,))
        found = self._with_holder(self._cur.fetchone())
        if found is None and skip_locked:
            self._cur.execute(f"SELECT 1 FROM {_ENTRIES} WHERE fingerprint = %s", (name,))
            if self._cur.fetchone() is not None:
                return LOCKED
        return found

    def by_task(self, task_id: str) -> Row | None:
        self._cur.execute(
            f"{_SELECT_ENTRY} WHERE task_id = %s ORDER BY created_at LIMIT 1 FOR UPDATE",
            (task_id,),
        )
        return self._with_holder(self._cur.fetchone())

    def _with_holder(self, raw: Any) -> Row | None:
        # The owner's run is read by a statement of its own, after the entry is locked: a
        # locking read re-checks a row changed meanwhile, but not what it was joined with.
        if raw is None:
            return None
        row = Row(zip(COLUMNS, raw, strict=True))
        if row["owner"] is not None:
            self._cur.execute(
                f"SELECT run_id, host, pid, lease_until FROM {_RUNS} WHERE run_id = %s",
                (row["owner"],),
            )
            run = self._cur.fetchone()
            if run is not None:
                row.holder = Run(run[0], run[1], int(run[2]), float(run[3]))
        return row

    def insert(self, values: Mapping[str, Any]) -> bool:
        names = sorted(values)
        self._cur.execute(
            f"INSERT INTO {_ENTRIES} ({', '.join(names)}) "
            f"VALUES ({', '.join(['%s'] * len(names))}) ON CONFLICT (fingerprint) DO NOTHING",
            [values[name] for name in names],
        )
        return self._cur.rowcount > 0

    def update(self, name: str, values: Mapping[str, Any]) -> None:
        unknown = set(values) - SETTABLE - {"fingerprint"}
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        names = sorted(values)
        self._cur.execute(
            f"UPDATE {_ENTRIES} SET {', '.join(f'{n} = %s' for n in names)} WHERE fingerprint = %s",
            [*(values[n] for n in names), name],
        )

    def delete(self, name: str) -> None:
        self._cur.execute(f"DELETE FROM {_ENTRIES} WHERE fingerprint = %s", (name,))

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
            _ENTRIES,
            "%s",
            name,
            states=states,
            attempt=attempt,
            owner=owner,
            values=values,
            unless_exists=unless_exists,
        )
        self._cur.execute(query, args)
        return self._cur.rowcount > 0

    def lock_slots(self) -> None:
        self._cur.execute(_SLOT_LOCK)

    def in_flight(
        self, accepted_since: float, orphaned_since: float
    ) -> tuple[list[tuple[Run | None, int]], int]:
        # One round trip: the submitting entries by owner, then (run_id NULL, host '')
        # the submitted ones still counted.
        self._cur.execute(
            f"""SELECT r.run_id, r.host, r.pid, r.lease_until, count(*), 0 FROM {_ENTRIES} e
            LEFT JOIN {_RUNS} r ON r.run_id = e.owner WHERE e.state = 'submitting' OR
            (e.state = 'submitted' AND e.submitted_at >= %s AND e.submitted_at < %s)
            GROUP BY r.run_id, r.host, r.pid, r.lease_until
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, count(*), 1 FROM {_ENTRIES}
            WHERE state = 'submitted' AND submitted_at >= %s""",
            (accepted_since, orphaned_since, orphaned_since),
        )
        owners: list[tuple[Run | None, int]] = []
        submitted = 0
        for run_id, host, pid, until, count, is_submitted in self._cur.fetchall():
            if is_submitted:
                submitted = int(count)
            else:
                run = None if run_id is None else Run(run_id, host, int(pid), float(until))
                owners.append((run, int(count)))
        return owners, submitted


class _Listener:
    """``LISTEN`` on a connection of its own, in a daemon thread started at the first
    wait; it reconnects after the server restarts (and then wakes every waiter)."""

    def __init__(self, url: str, scrub: Any) -> None:
        self._url = url
        self._scrub = scrub
        self._changed = threading.Condition()
        self._count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_lock = threading.Lock()

    def token(self) -> int:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flux-flex-journal-listen", daemon=True
                )
                self._thread.start()
        self._ready.wait(CONNECT_TIMEOUT)  # changes before LISTEN took effect are missed
        with self._changed:
            return self._count

    def wait(self, token: int, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while self._count == token:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def _bump(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
                ) as conn:
                    row = conn.execute(_CHANNEL).fetchone()
                    assert row is not None
                    conn.execute(f'LISTEN "{row[0]}"')
                    self._ready.set()
                    self._bump()  # anything may have changed while we were not listening
                    delay = 0.1
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=64):
                            self._bump()
            except Exception as exc:
                if self._stop.is_set():
                    return
                logger.debug("journal listener: %s", self._scrub(str(exc)))
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


class PostgresStore:
    """The journal in the PostgreSQL database ``target`` names (tables created at first
    use). Raises `JournalError` (host and port named, never the password) when the
    server cannot be reached."""

    def __init__(self, target: Target, *, pool_size: int = POOL_SIZE) -> None:
        assert target.url is not None
        self._url = target.url
        self._target = target
        self.shown = target.shown
        try:
            probe = psycopg.connect(
                self._url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
            )
        except psycopg.Error as exc:
            raise self._refused(exc) from None
        probe.close()
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self._url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            timeout=CONNECT_TIMEOUT,
            name="flux-flex-journal",
            open=True,
        )
        self._listener = _Listener(self._url, self.scrub)
        self._renewals = threading.local()

    # -- schema --------------------------------------------------------------------------------
    def version(self) -> int:
        with self._cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (_META,))
            row = cur.fetchone()
            if row is None or not row[0]:
                return 0
            cur.execute(f"SELECT value FROM {_META} WHERE key = 'schema_version'")
            found = cur.fetchone()
        return 0 if found is None else int(found[0])

    def create(self, version: int) -> None:
        with self.transaction() as tx:
            tx._cur.execute(_SCHEMA_LOCK)  # several processes may create it at once
            for statement in _SCHEMA:
                tx._cur.execute(statement)
            tx._cur.execute(
                f"INSERT INTO {_META} (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (str(version),),
            )

    def upgrade(self, from_version: int) -> None:
        raise ValueError(f"no upgrade from schema {from_version}: PostgreSQL starts at 2")

    def set_version(self, version: int) -> None:
        with self._cursor() as cur:
            cur.execute(
                f"INSERT INTO {_META} (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(version),),
            )

    # -- entries -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _Transaction(cur)

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
        with self._cursor() as cur:  # one statement in autocommit: atomic by itself
            return _Transaction(cur).cas(
                name,
                states=states,
                attempt=attempt,
                owner=owner,
                values=values,
                unless_exists=unless_exists,
            )

    def insert(self, values: Mapping[str, Any]) -> bool:
        with self._cursor() as cur:
            return _Transaction(cur).insert(values)

    def rows(
        self,
        *,
        states: Sequence[str] = (),
        name: str | None = None,
        task_id: str | None = None,
    ) -> list[Row]:
        query, args = _SELECT, []  # type: tuple[str, list[Any]]
        if name is not None:
            query, args = query + " WHERE e.fingerprint = %s", [name]
        elif task_id is not None:
            query, args = query + " WHERE e.task_id = %s", [task_id]
        elif states:
            query, args = query + " WHERE e.state = ANY(%s)", [list(states)]
        with self._cursor() as cur:
            cur.execute(query + " ORDER BY e.created_at, e.fingerprint", args)
            return list(iter_rows(cur.fetchall()))

    def counts(self) -> dict[str, int]:
        with self._cursor() as cur:
            cur.execute(f"SELECT state, count(*) FROM {_ENTRIES} GROUP BY state")
            return {state: int(count) for state, count in cur.fetchall()}

    def delete(self, name: str) -> bool:
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {_ENTRIES} WHERE fingerprint = %s", (name,))
            return cur.rowcount > 0

    # -- runs ----------------------------------------------------------------------------------
    def put_run(self, run: Run, *, prune_before: float | None = None) -> None:
        with self._cursor() as cur:
            if prune_before is not None:
                cur.execute(f"DELETE FROM {_RUNS} WHERE lease_until < %s", (prune_before,))
            cur.execute(
                f"INSERT INTO {_RUNS} (run_id, host, pid, lease_until, started_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id) "
                "DO UPDATE SET lease_until = EXCLUDED.lease_until",
                (run.run_id, run.host, run.pid, run.lease_until, time.time()),
            )

    def renew_run(self, run_id: str, lease_until: float) -> bool:
        # A connection of the renewing thread's own, outside the pool: a pool emptied by
        # slow statements must not starve the renewal that keeps this run's claims.
        conn: psycopg.Connection[Any] | None = getattr(self._renewals, "conn", None)
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
                )
                self._renewals.conn = conn
            cur = conn.execute(
                f"UPDATE {_RUNS} SET lease_until = %s WHERE run_id = %s", (lease_until, run_id)
            )
            return cur.rowcount > 0
        except psycopg.Error as exc:
            if conn is not None:
                conn.close()
            raise self._lost(exc) from None

    def close_renewals(self) -> None:
        """Close the calling thread's renewal connection (a renewal thread ends)."""
        conn = getattr(self._renewals, "conn", None)
        if conn is not None:
            conn.close()
            self._renewals.conn = None

    def end_run(self, run_id: str) -> None:
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {_RUNS} WHERE run_id = %s", (run_id,))

    def now(self) -> float:
        with self._cursor() as cur:
            cur.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
            row = cur.fetchone()
        assert row is not None
        return float(row[0])

    def watcher(self) -> _Listener:
        return self._listener

    # -- plumbing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except _LOST as exc:
            raise self._lost(exc) from None
        except psycopg.Error as exc:
            raise JournalError(
                f"The task journal database {self.shown} refused a statement "
                f"({self.scrub(str(exc))}). Nothing new was submitted for the request "
                "concerned; check the database and run again.",
                path=self.shown,
            ) from None

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._connection() as conn, conn.cursor() as cur:
            yield cur

    def scrub(self, text: str) -> str:
        """``text`` without the password (a driver's message may quote the URL)."""
        password = self._target.password
        if password:
            text = text.replace(password, "***")
        return text.replace(self._url, self.shown)

    def _where(self) -> str:
        return f"{self._target.host}:{self._target.port}"

    def _refused(self, exc: BaseException) -> JournalError:
        return JournalError(
            f"The task journal database at {self._where()} refused the connection "
            f"({self.scrub(str(exc).strip())}). Nothing was submitted. Check that PostgreSQL "
            f"runs there and lets this user in, or fix the journal URL {self.shown}.",
            path=self.shown,
        )

    def _lost(self, exc: BaseException) -> Disconnected:
        return Disconnected(
            f"The task journal database at {self._where()} cannot be reached "
            f"({self.scrub(str(exc).strip()) or type(exc).__name__}). Nothing new was "
            "submitted for the request concerned; check that PostgreSQL runs and run again: "
            "the journal resumes where it stopped.",
            path=self.shown,
        )

    def close(self) -> None:
        self._listener.close()
        self.close_renewals()
        self._pool.close(timeout=5.0)
