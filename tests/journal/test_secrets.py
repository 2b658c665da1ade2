"""Secrets stay out of the journal, whichever store holds it: neither the API key nor a
webhook secret, nor any 8-character run of them, in any column of any table, after a batch
with successes, failures, refusals and a wrong key."""

from __future__ import annotations

import sqlite3
from typing import Any

from flux_flex import FluxFlex, Journal
from flux_flex.testing import FakeBFL

API_KEY = "sk-live-Q7vX2mPz9RtK4wLs"
WEBHOOK_SECRET = "whsec-H3nB8cYd6FjU1eTq"
RUN = 8


def fragments(secret: str) -> set[str]:
    return {secret[i : i + RUN] for i in range(len(secret) - RUN + 1)}


def every_cell(target: str, store: str) -> list[str]:
    cells: list[Any] = []
    if store == "sqlite":
        db = sqlite3.connect(target)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cells += [c for row in db.execute(f"SELECT * FROM {table}") for c in row]
        db.close()
    else:
        import psycopg

        with psycopg.connect(target) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            ]
            for table in tables:
                cells += [c for row in conn.execute(f"SELECT * FROM {table}") for c in row]
    return [str(cell) for cell in cells if cell is not None]


def test_no_secret_in_any_column(target: str, store: str) -> None:
    hook = {"webhook_url": "https://hooks.example/flux", "webhook_secret": WEBHOOK_SECRET}
    requests: list[Any] = [
        {"prompt": "a fox", **hook},
        {"prompt": "a failing fox [fail]", **hook},
        {"prompt": f"a fox that says {WEBHOOK_SECRET[:3]}", **hook},
        {"prompt": "a moderated fox [moderate-request]", **hook},
    ]
    with FakeBFL(api_key=API_KEY, task_seconds=0.02) as fake:
        with FluxFlex(api_key=API_KEY, base_url=fake.base_url) as client:
            outcomes = client.generate_many(requests, journal=target)
        assert sum(not isinstance(o, BaseException) for o in outcomes) == 2
        wrong = API_KEY[::-1]  # refused (403) with the wrong key: the error is journaled
        with FluxFlex(api_key=wrong, base_url=fake.base_url) as client:
            client.generate_many(["another fox"], journal=target)
    with Journal(target) as journal:
        assert journal.counts()["failed"] >= 3
    cells = every_cell(target, store)
    assert len(cells) > 40
    leaked = [
        (fragment, cell)
        for secret in (API_KEY, API_KEY[::-1], WEBHOOK_SECRET)
        for fragment in fragments(secret)
        for cell in cells
        if fragment in cell
    ]
    assert leaked == []
