"""The generated-client examples (shown in docs/guides/generated-client.md) run
against the fake as a user runs them: BFL_API_KEY and BFL_BASE_URL set, nothing else.

They run against the strict reading of an explicit width/height of 0
(docs/api-facts.md#width-and-height-0), which refuses 0: they never send it. The lenient
reading takes everything the strict one takes, so passing here passes under both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, fake: FakeBFL, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BFL_API_KEY": fake.api_key, "BFL_BASE_URL": fake.base_url}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(
        task_seconds=0.1, api_key="example-key", deliver_webhooks=False, strict_dimensions=True
    ) as server:
        yield server


def assert_no_size_of_0_sent(fake: FakeBFL) -> None:
    bodies = [r.json for r in fake.requests if r.path == "/v1/flux-2-flex"]
    assert bodies
    for body in bodies:
        assert body.get("width") != 0
        assert body.get("height") != 0


def test_the_sync_example_submits_polls_and_saves(fake: FakeBFL, tmp_path: Path) -> None:
    done = run_example("generated_client_sync.py", fake, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "generated-fox.png").read_bytes().startswith(PNG)
    assert "(200)" in done.stdout
    assert "  Ready" in done.stdout
    assert {(r.path, r.status) for r in fake.requests if r.path.startswith("/v1/")} == {
        ("/v1/flux-2-flex", 200),
        ("/v1/get_result", 200),
    }
    assert all(r.carried_key for r in fake.requests if r.path.startswith("/v1/"))
    assert not any(r.carried_key for r in fake.downloads)  # never the key to the sample
    assert_no_size_of_0_sent(fake)


def test_the_async_example_reads_the_balance_submits_polls_and_saves(
    fake: FakeBFL, tmp_path: Path
) -> None:
    done = run_example("generated_client_async.py", fake, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "generated-owl.png").read_bytes().startswith(PNG)
    assert "  Ready" in done.stdout
    assert "balance: " in done.stdout
    assert {(r.path, r.status) for r in fake.requests if r.path.startswith("/v1/")} == {
        ("/v1/credits", 200),
        ("/v1/flux-2-flex", 200),
        ("/v1/get_result", 200),
    }
    assert not any(r.carried_key for r in fake.downloads)
    # The owl leaves its size to the model: nothing about it in the body.
    (body,) = [r.json for r in fake.requests if r.path == "/v1/flux-2-flex"]
    assert "width" not in body
    assert "height" not in body
