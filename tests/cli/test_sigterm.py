"""SIGTERM (what container platforms send before SIGKILL) stops a real ``flux-flex batch``
the way Ctrl-C does: tasks in flight stay recorded, a message says how to resume, the
process exits non-zero within 10 s (POSTs on the wire get 8 s; one still unanswered is
recorded as uncertain and listed), and a re-run pays nothing new."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

from flux_flex import Journal

from tests.hostile import KillableApi

from .test_crash_resume import JOURNAL, api, finish, start_batch, write_prompts

__all__ = ["api"]


def _terminate(process: object) -> float:
    """SIGTERM ``process``; the seconds it took to exit."""
    import subprocess

    assert isinstance(process, subprocess.Popen)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return time.monotonic() - started


def test_sigterm_mid_batch_records_what_is_in_flight_and_a_rerun_pays_nothing_new(
    api: KillableApi, tmp_path: Path
) -> None:
    prompts = [f"a terminated heron {n}" for n in range(4)]
    prompts_file = tmp_path / "prompts.txt"
    write_prompts(prompts_file, prompts)
    out = tmp_path / "images"
    gate = api.hold("poll", 2)  # the batch is waiting for its tasks when SIGTERM comes
    process = start_batch(api, prompts_file, out)
    gate.wait_reached()
    took = _terminate(process)
    gate.drop()
    code, summary, stderr = finish(process)
    assert code == 143, stderr
    assert took < 10
    assert "Traceback" not in stderr
    assert "terminated (SIGTERM)" in stderr
    assert "Re-run the same command to resume them" in stderr
    assert summary["error"]["type"] == "Interrupted"
    assert summary["error"]["exit_code"] == 143
    paid = api.total_created
    assert paid >= 1
    with Journal(out / JOURNAL) as journal:
        assert journal.counts()["submitted"] >= 1  # the paid tasks are recorded
    again = start_batch(api, prompts_file, out)  # the advice: the same command
    code, _summary, stderr = finish(again)
    assert code == 0, stderr
    assert api.total_created == len(prompts)  # the earlier tasks resumed, none paid twice
    assert max(api.created.values()) == 1


def test_sigterm_waits_8_seconds_for_a_post_then_records_it_uncertain(
    api: KillableApi, tmp_path: Path
) -> None:
    prompts = [f"a terminated crane {n}" for n in range(3)]
    prompts_file = tmp_path / "prompts.txt"
    write_prompts(prompts_file, prompts)
    out = tmp_path / "images"
    gate = api.hold("submit-created", 1)  # billed, its answer never comes
    process = start_batch(api, prompts_file, out, concurrency=1)
    gate.wait_reached()
    took = _terminate(process)
    code, summary, stderr = finish(process)
    gate.drop()
    assert code == 143, stderr
    assert 7 < took < 10, stderr
    listed = re.search(r"(\d+) submission\(s\) got no answer within 8 s", stderr)
    assert listed is not None, stderr
    assert int(listed.group(1)) == 1
    assert "recorded as uncertain" in stderr
    assert "flux-flex tasks" in stderr
    with Journal(out / JOURNAL) as journal:
        uncertain = journal.uncertain()
    assert [entry.prompt for entry in uncertain] == [prompts[0]]
    again = start_batch(api, prompts_file, out, concurrency=1)
    code, summary, stderr = finish(again)
    assert code == 1, stderr  # the uncertain line is reported, never sent again
    states = {item["prompt"]: item["state"] for item in summary["items"]}
    assert states[prompts[0]] == "uncertain"
    assert api.created[prompts[0]] == 1
    assert api.total_created == len(prompts)
    assert json.dumps(summary).count("--resubmit-uncertain") >= 1
