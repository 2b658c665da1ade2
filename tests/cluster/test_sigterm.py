"""Issue 20, "Done when" 6: SIGTERM mid-batch (what container platforms send before
SIGKILL). The process exits non-zero within 10 s with the message saying how to resume,
and a re-run of the same command pays nothing new.

On the session's PostgreSQL journal, with tasks long enough (3 s) that the signal lands
while tasks run on the API.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.cluster.harness import (
    FakeApi,
    cli,
    finish,
    images,
    journal_counts,
    line_names,
    prompts_file,
    running,
    wait_until,
)

LINES = 8


def test_sigterm_mid_batch_exits_within_10_s_and_a_rerun_pays_nothing_new(
    fake: FakeApi, journal_url: str, tmp_path: Path
) -> None:
    batch = prompts_file(tmp_path / "prompts.jsonl", LINES, seconds=3)
    out = tmp_path / "images"
    command = ["batch", str(batch), "--out-dir", str(out), "--journal", journal_url]
    command += ["--yes", "--concurrency", "4"]
    worker = cli(fake, *command, cwd=tmp_path)
    with running(worker):
        wait_until(lambda: sum(fake.stats()["posts"].values()) >= 4, timeout=60)
        sent = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code, _, stderr = finish(worker, timeout=60)
        took = time.monotonic() - sent
    assert code not in (0, -signal.SIGTERM), stderr  # handled: not success, not killed by it
    assert took < 10, f"exited {took:.1f} s after SIGTERM"
    assert "Traceback" not in stderr
    assert "Re-run the same command to resume them" in stderr, stderr
    paid = fake.stats()["created"]
    assert 4 <= sum(paid.values()) < LINES  # stopped mid-batch

    code, out_text, stderr = finish(cli(fake, *command, cwd=tmp_path))
    assert code == 0, f"{out_text}\n{stderr}"
    again = fake.stats()
    assert set(again["created"].values()) == {1}  # no line paid twice
    for prompt, count in paid.items():
        assert again["created"][prompt] == count  # the re-run resumed, paid nothing new for them
    assert sorted(images([out])) == line_names(LINES)
    assert journal_counts(journal_url) == {"saved": LINES}
