"""examples/batch_journal.py (shown in the README) does what it says: run twice, the second
run resumes and creates no task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flux_flex.testing import FakeBFL

from .conftest import posts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_journal.py"


def run_example(fake: FakeBFL, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BFL_API_KEY": fake.api_key, "BFL_BASE_URL": fake.base_url}
    return subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_journal_example_resumes(fake: FakeBFL, tmp_path: Path) -> None:
    first = run_example(fake, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("saved: ") == 6
    assert posts(fake) == 6
    second = run_example(fake, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("saved: ") == 6
    assert "'saved': 6" in second.stdout
    assert posts(fake) == 6  # nothing submitted again
    assert len(list((tmp_path / "out").glob("fox*.png"))) == 6  # save_to picks the format
