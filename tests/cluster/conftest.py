"""The cluster tests: the fake in a child process, workers as `flux-flex` subprocesses,
one journal on the session's throwaway PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import FakeApi
from tests.postgres import PostgresServer, deselect_without_postgres, postgres_server

__all__ = ["postgres_server"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_without_postgres(config, items, Path(__file__).parent)


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


@pytest.fixture
def journal_url(pg: PostgresServer) -> str:
    """A fresh, empty journal: a schema of its own on the session's server."""
    return pg.new_schema()


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    """The fake with short tasks and room for more than the workers' limit (so the peak
    the fake measures shows what the workers kept to, not what the fake refused)."""
    with FakeApi(task_seconds=0.3, max_in_flight=1000) as api:
        yield api
