"""Fixtures shared by the test folders: `flavour`, which runs a test for each client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clients import FLAVOURS, Flavour


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    """The sync client's test, then the async client's (see `tests.clients`)."""
    chosen = Flavour(request.param)
    try:
        yield chosen
    finally:
        chosen.close()
