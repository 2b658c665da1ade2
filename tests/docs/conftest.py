"""A fake API for the documentation's code blocks to run against."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flux_flex.testing import FakeBFL


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    """One fake API for the module, quick tasks, quick webhook retries."""
    with FakeBFL(task_seconds=0.1, webhook_retry_scale=0.01) as server:
        yield server
