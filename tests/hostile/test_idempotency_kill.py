"""Issue 20, "Done when" 3: a job-queue style worker (a real process) calls
``generate(idempotency_key=k)`` and is killed (SIGKILL) after its POST — before the answer
naming the task, or while it waits for the task. The queue runs the job again in another
process with the same key: no second task is created. The re-run resumes the task when the
first process lived to record its id, and otherwise raises `TaskUncertainError` with the key
and the call that decides it. On a SQLite journal and on PostgreSQL.

The server is `KillableApi` (the standard library; not our fake): it holds the first
request reaching a kill point until the test has killed the worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import KillableApi
from tests.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]

# What a job queue's worker does with one job (Celery, RQ, arq, a Kubernetes Job): the job's
# id is the key, so running the job again never pays twice.
WORKER = """
import json, sys
from flux_flex import FluxFlex, PollSchedule, TaskUncertainError

job = json.loads(sys.argv[1])
fast = PollSchedule(initial=0.02, backoff=1.5, max_interval=0.1, min_interval=0.01)
with FluxFlex(journal=job["journal"], poll_schedule=fast) as client:
    try:
        result = client.generate(
            job["prompt"], save_to=job["save_to"], idempotency_key=job["id"], timeout=60
        )
    except TaskUncertainError as exc:
        print(json.dumps({"outcome": "uncertain", "key": exc.idempotency_key, "error": str(exc)}))
        sys.exit(3)
print(json.dumps({"outcome": "done", "id": result.id, "path": result.path}))
"""


@pytest.fixture
def api() -> Iterator[KillableApi]:
    with KillableApi(task_seconds=0.05) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "tasks.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_schema()


def start_worker(api: KillableApi, job: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "BFL_BASE_URL": api.url, "BFL_API_KEY": api.key}
    env.pop("FLUX_FLEX_JOURNAL", None)
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(job)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def killed_at(api: KillableApi, kind: str, job: dict[str, Any]) -> None:
    """Run the worker and kill it (SIGKILL) while the server holds its first ``kind``."""
    gate = api.hold(kind, 1)
    worker = start_worker(api, job)
    try:
        gate.wait_reached(timeout=60)
    finally:
        worker.kill()
        _, stderr = worker.communicate(timeout=30)
        gate.drop()
    assert worker.returncode == -9, stderr


def run_again(api: KillableApi, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    worker = start_worker(api, job)
    stdout, stderr = worker.communicate(timeout=90)
    assert stdout.strip(), stderr
    return worker.returncode, json.loads(stdout.splitlines()[-1])


def test_killed_between_the_post_and_its_answer(
    api: KillableApi, journal: str, tmp_path: Path
) -> None:
    job = {"id": "job-7", "prompt": "a fox", "save_to": str(tmp_path / "fox.png")}
    job["journal"] = journal
    killed_at(api, "submit-created", job)
    assert api.total_created == 1  # created and billed; the answer never reached the worker

    code, said = run_again(api, job)
    assert (code, said["outcome"], said["key"]) == (3, "uncertain", "job-7")
    assert "client.generate(..., idempotency_key='job-7', resubmit_uncertain=True)" in said["error"]
    assert api.total_created == 1  # no second task
    assert not (tmp_path / "fox.png").exists()


def test_killed_while_waiting_for_its_task(api: KillableApi, journal: str, tmp_path: Path) -> None:
    job = {"id": "job-8", "prompt": "a fox", "save_to": str(tmp_path / "fox.png")}
    job["journal"] = journal
    killed_at(api, "poll", job)
    (task_id,) = api.tasks

    code, said = run_again(api, job)
    assert (code, said["outcome"], said["id"]) == (0, "done", task_id)  # resumed
    assert api.total_created == 1
    assert Path(said["path"]).read_bytes() == api.sample
