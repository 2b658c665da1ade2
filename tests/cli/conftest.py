"""Fixtures for the CLI tests: a fake API, the real console script, and click's runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flux_flex.cli.app import cli
from flux_flex.testing import FakeBFL

# The console script installed next to this interpreter (what `pip install` puts on PATH).
FLUX_FLEX = str(Path(sys.executable).with_name("flux-flex"))
SLOW_MARKER = "[slow]"
SLOW_SECONDS = 1.5


def task_seconds(body: dict[str, Any]) -> float:
    """Tasks are quick, except prompts carrying SLOW_MARKER (for Ctrl-C and resume)."""
    return SLOW_SECONDS if SLOW_MARKER in str(body.get("prompt", "")) else 0.1


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    """One fake API for a test module (tests use distinct prompts and ids)."""
    with FakeBFL(task_seconds=task_seconds, webhook_retry_scale=0.01) as server:
        yield server


@pytest.fixture
def env(fake: FakeBFL) -> dict[str, str]:
    """Environment pointing the CLI at the fake (for subprocesses: a full environment)."""
    return {
        **os.environ,
        "BFL_BASE_URL": fake.base_url,
        "BFL_API_KEY": fake.api_key,
        "COLUMNS": "120",
    }


def run_script(
    args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real ``flux-flex`` console script and capture its output."""
    return subprocess.run(
        [FLUX_FLEX, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke(args: Sequence[str], env: Mapping[str, str | None]) -> Result:
    """Run the CLI in-process with click's runner (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, list(args), env=dict(env), catch_exceptions=False)


@pytest.fixture
def quick_env(fake: FakeBFL) -> dict[str, str | None]:
    """Environment overrides for `invoke`: only what differs from the test process."""
    return {"BFL_BASE_URL": fake.base_url, "BFL_API_KEY": fake.api_key}
