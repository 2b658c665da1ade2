"""Fixtures shared by the test folders: `flavour`, which runs a test for each client, and
`private_cache_dir` (autouse: no test writes to the real cache folder)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cache_env import private_cache_dir
from tests.clients import FLAVOURS, Flavour

__all__ = ["flavour", "private_cache_dir"]


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    """The sync client's test, then the async client's (see `tests.clients`)."""
    chosen = Flavour(request.param)
    try:
        yield chosen
    finally:
        chosen.close()
