"""The schema is versioned: a newer one is refused naming both versions; a schema-1 SQLite
file (before issue 20) is migrated, its entries renamed so that a re-run pays nothing."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from flux_flex import FluxFlex, Journal, JournalError, prepare_request
from flux_flex._core import journal as rules
from flux_flex._core.journal import Decision, State
from flux_flex.journal import SCHEMA_VERSION, name_from_destination
from flux_flex.testing import FakeBFL

from .conftest import claim

# Schema 1, as flux-flex wrote it before issue 20 (wrapper/flux_flex/journal.py then).
SCHEMA_1 = """CREATE TABLE entries (
    fingerprint TEXT PRIMARY KEY, state TEXT NOT NULL, attempt INTEGER NOT NULL,
    prompt TEXT NOT NULL, params TEXT NOT NULL, save_to TEXT, task_id TEXT, polling_url TEXT,
    path TEXT, url TEXT, submit_cost REAL, cost REAL, seed INTEGER, error TEXT,
    error_type TEXT, retryable INTEGER, owner TEXT, created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX entries_task_id ON entries (task_id);
PRAGMA user_version = 1;"""
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_schema_1_names_are_those_flux_flex_wrote() -> None:
    # Computed with the schema-1 code (git show 1a6591c:wrapper/flux_flex/_core/journal.py).
    body = {"prompt": "a fox", "seed": 7, "input_image": "QUJD" * 10, "webhook_secret": "x"}
    assert rules.fingerprint_v1(body, "/out/a.png", 0) == (
        "638942b251a1d900936bb1747cff003cd3bdd10d2fb118fd0f35b79a8278d14e"
    )
    assert rules.fingerprint_v1(body, None, 1) == (
        "6d5b2eccb8dff31fbc0551e1460543e7c054f3b391d2319739fa9d71712b573c"
    )


def test_a_newer_schema_is_refused_naming_both_versions(target: str, store: str) -> None:
    Journal(target).close()
    if store == "sqlite":
        db = sqlite3.connect(target)
        db.execute("PRAGMA user_version = 99")
        db.close()
    else:
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("UPDATE flux_flex_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match="newer flux-flex") as caught:
        Journal(target)
    assert f"schema 99, this one knows {SCHEMA_VERSION}" in str(caught.value)


def _v1_row(
    prompt: str,
    params: dict[str, Any],
    save_to: str | None,
    occurrence: int,
    **columns: Any,
) -> dict[str, Any]:
    body = prepare_request(prompt, save_to=save_to, **params).body
    now = time.time()
    return {
        "fingerprint": rules.fingerprint_v1(body, save_to, occurrence),
        "state": "saved",
        "attempt": 1,
        "prompt": prompt,
        "params": json.dumps(params, sort_keys=True),
        "save_to": save_to,
        "owner": "otherhost|1|abc",
        "created_at": now,
        "updated_at": now,
        **columns,
    }


def test_a_schema_1_file_is_migrated_and_a_rerun_pays_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = tmp_path / "tasks.sqlite"
    rows = []
    for n in range(3):
        image = out / f"fox{n}.jpg"
        image.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 32)
        rows.append(
            _v1_row(
                f"fox {n}",
                {},
                str(image),
                0,
                task_id=f"t{n}",
                path=str(image),
                url="https://cdn/x",
                cost=5.0,
            )
        )
    # Two identical prompts without a destination: occurrences 0 and 1.
    rows += [_v1_row("same", {"seed": 3}, None, n, task_id=f"s{n}") for n in range(2)]
    # Input images given as bytes: only "<3 bytes>" was kept, the body cannot be rebuilt.
    rows.append(
        {
            **rows[0],
            "fingerprint": "f" * 64,
            "prompt": "bytes",
            "params": json.dumps({"input_images": ["<3 bytes>"]}),
            "task_id": "tb",
        }
    )
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    for row in rows:
        db.execute(
            f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
    db.commit()
    db.close()

    with Journal(path) as journal:
        entries = {e.task_id: e for e in journal.entries()}
        assert len(entries) == 6
        assert entries["tb"].fingerprint == "f" * 64  # kept: cannot be rebuilt exactly
        for n in range(3):
            body = prepare_request(f"fox {n}", save_to=str(out / f"fox{n}.jpg")).body
            assert entries[f"t{n}"].fingerprint == rules.fingerprint(body, f"fox{n}.jpg", 0)
            assert entries[f"t{n}"].digest == rules.parameters_digest(body)
        same = rules.fingerprint(
            prepare_request("same", seed=3).body,
            None,
            1,
        )
        assert entries["s1"].fingerprint == same
        # Its old owner is not a run of this schema: nobody holds anything.
        owner = journal.open_run()
        assert claim(journal, entries["t0"].fingerprint, owner).decision is Decision.SKIP
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()

    # The batch as it was sent before the upgrade: nothing is submitted again.
    requests: list[Any] = [{"prompt": f"fox {n}", "save_to": out / f"fox{n}.jpg"} for n in range(3)]
    requests += [{"prompt": "same", "seed": 3}] * 2
    with FakeBFL() as fake, FluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client:
        outcomes = client.generate_many(requests, journal=path)
        assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
        assert fake.tasks == {}  # no task created
        assert [o.path for o in outcomes[:3]] == [str(out / f"fox{n}.jpg") for n in range(3)]
    with Journal(path) as journal:
        assert journal.counts()["saved"] == 6


def test_the_name_of_a_destination() -> None:
    assert name_from_destination("/a/b/fox.jpg") == "fox.jpg"
    assert name_from_destination("/a/b/") == "b"
    assert name_from_destination(None) is None


def test_a_journal_opened_twice_at_once_is_created_once(target: str) -> None:
    with Journal(target) as one, Journal(target) as two:
        owner = one.open_run()
        claim(one, "x", owner)
        assert [e.state for e in two.entries()] == [State.SUBMITTING]
