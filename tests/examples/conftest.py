"""Fixtures for running the scripts in examples/ against a fake API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    """One fake API for the module, quick tasks, quick webhook retries."""
    with FakeBFL(task_seconds=0.1, webhook_retry_scale=0.01) as server:
        yield server


@pytest.fixture
def env(fake: FakeBFL) -> dict[str, str]:
    """The environment a user would set: key and base URL (here: the fake's)."""
    return {**os.environ, "BFL_BASE_URL": fake.base_url, "BFL_API_KEY": fake.api_key}


def run_example(
    name: str, env: Mapping[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` as a user would: ``python examples/<name> ARGS``."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
