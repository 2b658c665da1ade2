"""What only a database server does: refuse the connection, restart under a running
journal, and take a password."""

from __future__ import annotations

import threading
import time

import pytest
from flux_flex import FluxFlex, Journal, JournalError
from flux_flex._core import journal as rules
from flux_flex._core.journal import Decision, State
from flux_flex.testing import FakeBFL

from tests.postgres import PostgresServer, free_port

from .conftest import claim


def test_a_postgres_server_is_available(pg: PostgresServer) -> None:
    """The one test that skips, saying how to get a server, where there is none."""
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    assert int(str(row[0]).split(".")[0]) >= 13


def test_a_database_that_refuses_the_connection_is_a_typed_error_and_nothing_is_sent() -> None:
    pytest.importorskip("psycopg")
    port = free_port()  # nothing listens there
    url = f"postgresql://flux:hunter22secret@127.0.0.1:{port}/flux"
    with pytest.raises(JournalError, match=f"127.0.0.1:{port} refused the connection") as caught:
        Journal(url)
    assert "hunter22" not in str(caught.value)
    assert "hunter22" not in caught.value.path
    with FakeBFL() as fake, FluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client:
        with pytest.raises(JournalError, match="refused the connection"):
            client.generate_many(["a fox", "a cat"], journal=url)
        assert fake.requests == []  # the batch stopped before its first POST


def test_a_password_never_shows(pg: PostgresServer) -> None:
    url = pg.new_schema().replace("postgres@", "postgres:hunter22secret@")
    with Journal(url) as journal:  # trust authentication: the password is not checked
        assert "hunter22" not in repr(journal)
        assert "hunter22" not in journal.path
        assert "***" in journal.path
        owner = journal.open_run()
        claim(journal, "fp", owner)
        assert "hunter22" not in repr(journal.entries())


def test_the_database_restarts_under_a_running_journal(pg: PostgresServer) -> None:
    url = pg.new_schema()
    with Journal(url) as journal:
        owner = journal.open_run(lease=60)
        assert claim(journal, "a", owner).decision is Decision.SUBMIT
        woke: list[bool] = []
        assert not journal.wait_for_change("a", timeout=0.05)  # the listener is up
        seen = journal.entry("a")
        pg.restart()  # every connection is cut
        waiter = threading.Thread(
            target=lambda: woke.append(journal.wait_for_change("a", timeout=30, since=seen))
        )
        waiter.start()
        # The pool's old connections are dead: the journal reconnects and decides afresh.
        assert journal.record("a", 1, rules.Accepted("t-a"), owner=owner)
        assert claim(journal, "b", owner).decision is Decision.SUBMIT
        waiter.join(30)
        assert woke == [True]  # the listener came back too
        assert journal.entry("a").state is State.SUBMITTED  # type: ignore[union-attr]
        assert journal.renew(owner)
        assert journal.counts()["submitting"] == 1


def test_a_database_down_for_longer_than_the_reconnect_timeout_is_a_journal_error(
    pg: PostgresServer,
) -> None:
    url = pg.new_schema()
    journal = Journal(url, reconnect_timeout=1.0)
    try:
        owner = journal.open_run()
        pg.stop()
        started = time.monotonic()
        try:
            with pytest.raises(JournalError, match="cannot be reached"):
                claim(journal, "a", owner)
            assert time.monotonic() - started < 20
        finally:
            pg.start()
        assert claim(journal, "a", owner).decision is Decision.SUBMIT
    finally:
        journal.close()


def test_tables_live_in_the_connections_schema(pg: PostgresServer) -> None:
    first, second = pg.new_schema(), pg.new_schema()
    with Journal(first) as one, Journal(second) as two:
        claim(one, "x", one.open_run())
        assert two.entries() == []
        assert [e.fingerprint for e in one.entries()] == ["x"]
    import psycopg

    with psycopg.connect(pg.url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'flux_flex_entries'"
        ).fetchone()
    assert found is not None
    assert found[0] >= 2


def test_a_renewal_survives_a_slow_database(pg: PostgresServer) -> None:
    url = pg.new_schema()
    with Journal(url) as journal:
        kept = journal.open_run(lease=1.5, renew_every=0.2)
        claim(journal, "fp", kept, begin=False)
        import psycopg

        with psycopg.connect(url) as blocker:  # every renewal waits while this lasts
            blocker.execute("LOCK TABLE flux_flex_runs IN ACCESS EXCLUSIVE MODE")
            time.sleep(1.0)
        time.sleep(2.0)  # more than a lease after the database came back
        other = journal.open_run()
        assert claim(journal, "fp", other).decision is Decision.HELD
        journal.close_run(kept)
        assert claim(journal, "fp", other).decision is Decision.SUBMIT
