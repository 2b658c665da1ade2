"""The issue's "Done when": the schemathesis CLI, default checks, key header, no failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flux_flex.testing import FakeBFL

from .conftest import SPEC_PATH


def test_schemathesis_cli_default_run_finds_no_issue(fuzzed_fake: FakeBFL, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    command = [str(cli), "run", str(SPEC_PATH), "--url", fuzzed_fake.base_url]
    command += ["-H", f"x-key: {fuzzed_fake.api_key}", "--seed", "20261125", "--no-color"]
    before = len(fuzzed_fake.requests)
    # cwd: the CLI keeps state in ./.schemathesis; keep it out of the checkout
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
    )
    summary = run.stdout[-1500:]
    assert run.returncode == 0, summary + run.stderr[-1500:]
    assert "No issues found" in run.stdout, summary
    answered = fuzzed_fake.requests[before:]
    assert len(answered) > 200, "the CLI hardly reached the fake"
    for path in ("/v1/flux-2-flex", "/v1/get_result", "/v1/credits"):
        assert any(r.path == path for r in answered), f"the CLI never called {path}"
    assert all(r.status is not None and r.status < 500 for r in answered)
