"""A real ``flux-flex batch`` killed (SIGKILL), interrupted (SIGINT), timed out, or lied to
(502 after the task was created), then re-run as the CLI advises: never a task paid twice,
every image saved once, no ``.part`` left.

The server is `tests.hostile.KillableApi` (the standard library; not our fake). Kill points
are deterministic: the server holds the n-th request of a kind (submit, poll, sample) and
the test kills the client while it waits for that answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.hostile import BAD_GATEWAY_MARKER, Gate, KillableApi

from .conftest import FLUX_FLEX

JOURNAL = ".flux-flex-journal.sqlite"


@pytest.fixture
def api() -> Iterator[KillableApi]:
    with KillableApi(task_seconds=0.05) as server:
        yield server


def cli_env(api: KillableApi) -> dict[str, str]:
    return {
        **os.environ,
        "BFL_BASE_URL": api.url,
        "BFL_API_KEY": api.key,
        "COLUMNS": "100",
    }


def start_batch(
    api: KillableApi, prompts: Path, out: Path, *extra: str, concurrency: int = 2
) -> subprocess.Popen[str]:
    argv = [FLUX_FLEX, "batch", str(prompts), "--out-dir", str(out), "--json"]
    argv += ["--concurrency", str(concurrency), *extra]
    return subprocess.Popen(
        argv, env=cli_env(api), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, json.loads(stdout) if stdout.strip() else {}, stderr


def journal_states(out: Path) -> dict[str, list[str]]:
    """prompt -> the states of its journal entries."""
    from flux_flex import Journal

    states: dict[str, list[str]] = {}
    with Journal(out / JOURNAL) as journal:
        for entry in journal.entries():
            states.setdefault(entry.prompt, []).append(str(entry.state))
    return states


def assert_saved_once(out: Path, prompts: Sequence[str]) -> None:
    """One valid image per prompt, and no temporary file left: the ``.part`` of a download
    killed halfway is removed by the re-run's first save into the folder (its writer, named
    in the file, is gone)."""
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
    images = sorted(p for p in out.iterdir() if p.suffix in (".png", ".jpg", ".webp"))
    assert len(images) == len(prompts), [p.name for p in images]
    for image in images:
        with Image.open(image) as opened:
            opened.verify()


def reached_before_exit(gate: Gate, process: subprocess.Popen[str], timeout: float = 30) -> bool:
    """Wait until the gate holds a request of ``process`` (True) or the process ended."""
    deadline = time.monotonic() + timeout
    while not gate.reached.wait(0.02):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
    return process.poll() is None


def write_prompts(path: Path, prompts: Sequence[str]) -> None:
    path.write_text("".join(f"{prompt}\n" for prompt in prompts))


# --- kill -9 at 20+ points ----------------------------------------------------------------------


def kill_chain(
    api: KillableApi, workdir: Path, prompts: Sequence[str], kinds: Sequence[str]
) -> Counter[str]:
    """Run the batch of ``prompts`` again and again, killing it (SIGKILL) at the next
    request of each of ``kinds`` in turn, until a run gets through; check it never paid
    twice.

    One request at a time (--concurrency 1), so at each kill exactly one request is
    outstanding: 3 kill points per prompt, and the final run. Returns the kills by kind
    (and ``part-left``: the temporary files killed downloads left, which later runs remove).
    """
    workdir.mkdir()
    prompts_file = workdir / "prompts.txt"
    write_prompts(prompts_file, prompts)
    out = workdir / "images"
    hits: Counter[str] = Counter()
    resubmit = False
    summary: dict[str, Any] = {}
    for run in range(3 * len(prompts) + 2):
        kind = kinds[run % len(kinds)]
        gate = api.hold(kind, 1)
        extra = ("--resubmit-uncertain",) if resubmit else ()
        process = start_batch(api, prompts_file, out, *extra, concurrency=1)
        if reached_before_exit(gate, process):
            if kind == "sample-body":
                time.sleep(0.3)  # let the client write the half it was sent to its .part
            process.kill()  # SIGKILL: no handler runs, no cleanup
            process.wait(timeout=10)
            gate.drop()
            hits[kind] += 1
            # What a killed download leaves (the next run's first save removes it).
            hits["part-left"] += sum(1 for p in out.glob("*.part"))
        else:  # the run got through without reaching its kill point: the batch is done
            gate.drop()
            code, summary, stderr = finish(process)
            assert code == 0, stderr
            break
        assert max(api.created.values(), default=0) <= 1  # never a prompt paid twice
        # A user told "uncertain" checks their tasks; here the server is the dashboard:
        # resubmit only when no uncertain request had created a task.
        uncertain = [p for p, states in journal_states(out).items() if "submitting" in states]
        resubmit = bool(uncertain) and all(api.created[p] == 0 for p in uncertain)
        assert resubmit or not uncertain, uncertain
    assert api.total_created == len(prompts)
    assert set(api.created) == set(prompts)
    assert_saved_once(out, prompts)
    assert summary["failed"] == 0
    return hits


def test_sigkill_at_21_points_then_rerun_never_pays_twice(tmp_path: Path) -> None:
    """Two independent chains at once (each its own server and folder): 4 and 3 prompts,
    12 and 9 kill points; the first kills its downloads halfway through the image, the
    second before the answer's first byte."""
    plan = (
        ("fox", 4, ("submit", "poll", "sample-body")),
        ("owl", 3, ("submit", "poll", "sample")),
    )
    with (
        KillableApi(task_seconds=0.05) as first,
        KillableApi(task_seconds=0.05) as second,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        chains = [
            pool.submit(
                kill_chain,
                api,
                tmp_path / name,
                [f"a killed {name} {n}" for n in range(count)],
                kinds,
            )
            for api, (name, count, kinds) in zip((first, second), plan, strict=True)
        ]
        hits: Counter[str] = Counter()
        for chain in chains:
            hits.update(chain.result(timeout=180))
    parts = hits.pop("part-left")
    # Spread over submit, wait and save: 21 kills.
    assert hits == {"submit": 7, "poll": 7, "sample-body": 4, "sample": 3}
    assert parts >= 1  # the halfway kills did leave .part files, and none is left now


# --- SIGINT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "nth"), [("submit", 2), ("poll", 1), ("sample", 2)])
def test_ctrl_c_says_what_is_in_flight_and_a_rerun_resumes(
    api: KillableApi, tmp_path: Path, kind: str, nth: int
) -> None:
    prompts = [f"an interrupted owl {n}" for n in range(3)]
    prompts_file = tmp_path / "prompts.txt"
    write_prompts(prompts_file, prompts)
    out = tmp_path / "images"
    gate = api.hold(kind, nth)
    process = start_batch(api, prompts_file, out)
    gate.wait_reached()
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)  # Ctrl-C lands while the held request is on the wire ...
    gate.release()  # ... then its answer comes: a POST already sent is awaited and recorded
    code, summary, stderr = finish(process)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert summary["error"]["type"] == "Interrupted"
    in_flight = int(re.search(r"interrupted: (\d+) tasks? in flight", stderr).group(1))
    assert in_flight >= 1
    assert "Re-run the same command to resume them" in stderr
    assert summary["error"]["resume"].startswith("flux-flex batch ")
    created = api.total_created
    again = start_batch(api, prompts_file, out)  # exactly the advice: the same command
    code, _summary, stderr = finish(again)
    assert code == 0, stderr
    assert api.total_created == len(prompts)  # nothing paid twice
    assert max(api.created.values()) == 1
    assert created >= in_flight
    assert_saved_once(out, prompts)


# --- timeouts and 502-after-create ----------------------------------------------------------------


def test_timed_out_tasks_are_resumed_by_id(api: KillableApi, tmp_path: Path) -> None:
    api.task_seconds = 60.0  # nothing finishes within --timeout
    prompts = [f"a slow heron {n}" for n in range(3)]
    prompts_file = tmp_path / "prompts.txt"
    write_prompts(prompts_file, prompts)
    out = tmp_path / "images"
    code, summary, stderr = finish(start_batch(api, prompts_file, out, "--timeout", "0.3"))
    assert code == 1, stderr
    assert api.total_created == 3
    failed = [item for item in summary["items"] if item["state"] != "generated"]
    assert len(failed) == 3
    for item in failed:
        assert item["id"]  # the paid task is named
    assert "flux-flex batch" in summary["error"]["resume"]
    api.finish_all()
    code, summary, stderr = finish(start_batch(api, prompts_file, out, "--timeout", "5"))
    assert code == 0, stderr
    assert api.total_created == 3  # resumed by id, not submitted again
    assert_saved_once(out, prompts)


def test_502_after_create_is_uncertain_and_never_resubmitted_silently(
    api: KillableApi, tmp_path: Path
) -> None:
    prompts = ["a plain crane", f"a crane behind a lying gateway {BAD_GATEWAY_MARKER}"]
    prompts_file = tmp_path / "prompts.txt"
    write_prompts(prompts_file, prompts)
    out = tmp_path / "images"
    code, _summary, stderr = finish(start_batch(api, prompts_file, out))
    assert code == 1, stderr
    assert api.total_created == 2
    code, summary, stderr = finish(start_batch(api, prompts_file, out))
    assert code == 1, stderr
    assert api.total_created == 2  # the re-run did not pay for it again
    uncertain = [item for item in summary["items"] if item["state"] == "uncertain"]
    assert [item["prompt"] for item in uncertain] == [prompts[1]]
    assert "--resubmit-uncertain" in summary["error"]["message"]
