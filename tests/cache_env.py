"""Each test's own cache folder: the learned poll timings a client keeps between processes
(`flux_flex._timings_cache`) never go to the real home, and no test starts warm from
another's tasks. Used as an autouse fixture by tests/ and contract_tests/ (and inherited by
the subprocesses they start, through the environment)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FLUX_FLEX_CACHE_DIR`` set to a new empty folder for the test."""
    monkeypatch.setenv("FLUX_FLEX_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
