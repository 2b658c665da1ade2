"""`status` and `wait` of a task, and Ctrl-C during a wait (the printed resume command works)."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from pathlib import Path

from flux_flex import FluxFlex
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import FLUX_FLEX, SLOW_MARKER, invoke, run_script


def submit(fake: FakeBFL, prompt: str) -> str:
    with FluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client:
        return client.submit(prompt, output_format="png").id


def test_status_of_a_pending_then_ready_task(
    fake: FakeBFL, quick_env: dict[str, str | None]
) -> None:
    task_id = submit(fake, f"a fox {SLOW_MARKER}")
    pending = invoke(["status", task_id, "--json"], quick_env)
    assert pending.exit_code == 0, pending.stderr
    payload = json.loads(pending.stdout)
    assert (payload["ok"], payload["id"], payload["status"]) == (True, task_id, "Pending")
    assert 0 <= payload["progress"] <= 1
    fake.task(task_id).ready_at = time.monotonic()  # finish it now
    ready = invoke(["status", task_id], quick_env)
    assert ready.exit_code == 0, ready.stderr
    assert ready.stdout.startswith(f"task {task_id}: Ready")
    assert "image" in ready.stdout
    assert f"flux-flex wait {task_id} -o" in ready.stderr


def test_status_of_failed_or_unknown_task_exits_1(
    fake: FakeBFL, quick_env: dict[str, str | None]
) -> None:
    failed = submit(fake, "a fox [moderate-request]")
    result = invoke(["status", failed], quick_env)
    assert result.exit_code == 1
    assert "Request Moderated" in result.stdout
    unknown = invoke(["status", "no-such-task", "--json"], quick_env)
    assert unknown.exit_code == 1
    assert json.loads(unknown.stdout)["status"] == "Task not found"


def test_wait_resumes_a_task_and_saves_it(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    task_id = submit(fake, "a quick fox")
    result = invoke(["wait", task_id, "-o", str(tmp_path / "r.png"), "--json"], quick_env)
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["id"], payload["status"]) == (task_id, "Ready")
    with Image.open(payload["path"]) as image:
        assert image.format == "PNG"


def test_wait_on_a_failed_task_exits_1(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    task_id = submit(fake, "a fox [fail]")
    result = invoke(["wait", task_id, "-o", str(tmp_path / "never.png")], quick_env)
    assert result.exit_code == 1
    assert task_id in result.stderr
    assert not (tmp_path / "never.png").exists()


def test_wait_timeout_names_the_resume_command(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    task_id = submit(fake, f"a fox {SLOW_MARKER}")
    out = str(tmp_path / "late.png")
    result = invoke(["wait", task_id, "-o", out, "--timeout", "0.2"], quick_env)
    assert result.exit_code == 1
    assert f"flux-flex wait {task_id} -o {out}" in result.stderr


def test_ctrl_c_prints_a_resume_command_that_works(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "slow fox.png"  # a space: the command must be quoted for the shell
    proc = subprocess.Popen(
        [FLUX_FLEX, "generate", f"a fox {SLOW_MARKER}", "-o", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the task exists, then press Ctrl-C
        if ": submitted" in line or "Pending" in line:
            break
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Resume with: " in stderr, stderr
    command = stderr.split("Resume with: ", 1)[1].strip().splitlines()[0]
    argv = shlex.split(command)
    assert argv[:2] == ["flux-flex", "wait"]
    assert argv[3:] == ["-o", str(out)]
    assert argv[2] in stderr.split("Resume with:")[0]  # the task id is named too
    resumed = run_script(argv[1:], env)  # run exactly what was printed
    assert resumed.returncode == 0, resumed.stderr
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_status_without_key_points_at_both_ways() -> None:
    result = invoke(["status", "some-id"], {"BFL_API_KEY": None})
    assert result.exit_code == 2
    assert "BFL_API_KEY" in result.stderr
    assert "--mock" not in result.stderr  # status has no --mock: do not suggest it
    assert "mock-server" in result.stderr
