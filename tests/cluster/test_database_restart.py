"""Issue 20, "Done when" 5: the database restarts. PostgreSQL restarts mid-batch: the
workers reconnect, and nothing is paid twice or lost. With PostgreSQL down at start, the run
fails with a clear error and nothing is submitted.

The restart uses a server of this module's own (tests/postgres.py's `PostgresServer`,
stopped and started again on the same data folder and port), so no other test's server
goes away under it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import (
    FakeApi,
    cli,
    finish,
    images,
    journal_counts,
    journal_owners,
    line_names,
    prompts_file,
    running,
    wait_until,
)
from tests.postgres import PostgresServer, find_binaries, free_port, missing

LINES = 12
TASK = 1.0
OUTAGE = 3.0


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this module alone (it gets restarted)."""
    if (why := missing()) is not None:
        pytest.skip(why)
    binaries = find_binaries()
    assert binaries is not None
    server = PostgresServer(binaries)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


# Needs the session server's fixture name for deselect_without_postgres to see it.
@pytest.fixture
def pg(own_pg: PostgresServer) -> PostgresServer:
    return own_pg


def _batch(batch: Path, out: Path, journal: str, *more: str) -> list[str]:
    return ["batch", str(batch), "--out-dir", str(out), "--journal", journal, "--yes", *more]


@pytest.mark.parametrize(
    "workers",
    [1, 2],
)
def test_a_restart_mid_batch_loses_nothing_and_pays_nothing_twice(
    fake: FakeApi, pg: PostgresServer, tmp_path: Path, workers: int
) -> None:
    journal = pg.new_schema()
    batch = prompts_file(tmp_path / "prompts.jsonl", LINES, seconds=TASK)
    folders = [tmp_path / f"worker{i}" for i in range(workers)]
    procs = [
        cli(fake, *_batch(batch, folder, journal, "--concurrency", "4"), cwd=tmp_path)
        for folder in folders
    ]
    with running(*procs):
        wait_until(lambda: sum(fake.stats()["created"].values()) >= 4, timeout=60)
        # Every worker is past opening the journal (one opening it now would be refused:
        # that is the "down at start" case below).
        wait_until(lambda: len(journal_owners(journal)) == workers, timeout=60)
        pg.stop("fast")  # every connection is cut, tasks are running on the API
        time.sleep(OUTAGE)  # longer than a task: results and claims wait for the database
        pg.start()
        outcomes = [finish(proc, timeout=180) for proc in procs]
    for code, out, err in outcomes:
        assert code == 0, f"{out}\n{err}"
    seen = fake.stats()
    assert set(seen["created"].values()) == {1}, "a line was paid twice"
    assert len(seen["created"]) == LINES
    saved = images(folders)
    assert sorted(saved) == line_names(LINES)
    assert all(len(paths) == 1 for paths in saved.values())
    assert journal_counts(journal) == {"saved": LINES}  # the restarted database, not a file


def test_database_down_at_start_is_a_clear_error_and_nothing_is_sent(
    fake: FakeApi, tmp_path: Path
) -> None:
    down = f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/postgres"
    batch = prompts_file(tmp_path / "prompts.jsonl", 3)
    worker = cli(fake, *_batch(batch, tmp_path / "out", down), cwd=tmp_path)
    code, out, err = finish(worker, timeout=90)
    assert code not in (0, 3), f"{out}\n{err}"  # 3 is uncertain: nothing may be in doubt
    assert "Traceback" not in err
    assert "bug in flux-flex" not in err
    assert "127.0.0.1" in err
    assert "s3cret-pw" not in err + out
    assert fake.stats()["posts"] == {}
