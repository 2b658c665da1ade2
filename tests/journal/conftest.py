"""The journal's contract suite runs against both stores: ``target`` is a fresh SQLite
file or a fresh schema of the session's PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flux_flex import Journal

from tests.postgres import PostgresServer, deselect_without_postgres, postgres_server

__all__ = ["postgres_server"]

STORES = ("sqlite", "postgres")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_without_postgres(config, items, Path(__file__).parent)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    """Which store the test runs against."""
    return str(request.param)


@pytest.fixture
def target(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty journal location of the ``store`` kind."""
    if store == "sqlite":
        return str(tmp_path / "sub" / "tasks.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_schema()


@pytest.fixture
def journal(target: str) -> Iterator[Journal]:
    with Journal(target) as opened:
        yield opened


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


def claim(journal: Journal, name: str, owner: str, **flags: Any) -> Any:
    """Claim ``name`` as a one-prompt request."""
    return journal.claim(
        name, prompt=f"prompt {name}", params={"seed": 1}, save_to=None, owner=owner, **flags
    )
