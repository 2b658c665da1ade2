"""Task lifecycle: Pending with rising progress, then the final status at ready_at."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from flux_flex.testing import FakeBFL

from .conftest import RESULT, SUBMIT, configure, wait_final


def test_pending_progress_rises_while_the_task_runs(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=1000.0)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    first = api.get(RESULT, params={"id": task_id}).json()
    time.sleep(0.02)
    second = api.get(RESULT, params={"id": task_id}).json()
    assert (first["status"], second["status"]) == ("Pending", "Pending")
    assert 0.0 < first["progress"] < second["progress"] < 1.0
    assert first["result"] is None
    task = fake.task(task_id)
    assert (task.polls, task.body, task.status) == (2, {"prompt": "fox"}, "Pending")


def test_ready_once_created_plus_duration_has_passed(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.1)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    final = wait_final(api, task_id)
    seen_ready_at = time.monotonic()
    task = fake.task(task_id)
    assert final["status"] == "Ready"
    assert final["progress"] == 1.0
    assert task.ready_at == pytest.approx(task.created_at + 0.1)
    assert seen_ready_at >= task.ready_at


def test_progress_is_the_elapsed_fraction_of_the_duration(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=1000.0)
    task_id = api.post(SUBMIT, json={"prompt": "slow"}).json()["id"]
    task = fake.task(task_id)
    now = time.monotonic()
    progress = api.get(RESULT, params={"id": task_id}).json()["progress"]
    after = time.monotonic()
    assert (now - task.created_at) / 1000 <= progress <= (after - task.created_at) / 1000 + 1e-4
    assert task.progress_at(task.created_at + 250.0) == pytest.approx(0.25)
    assert task.status_at(task.created_at + 999.9) == "Pending"
    assert task.status_at(task.created_at + 1000.0) == "Ready"


def test_task_seconds_may_be_a_function_of_the_body(fake: FakeBFL, api: httpx.Client) -> None:
    def seconds(body: dict[str, Any]) -> float:
        return 0.01 if body["prompt"] == "quick" else 500.0

    configure(fake, task_seconds=seconds)
    quick = api.post(SUBMIT, json={"prompt": "quick"}).json()["id"]
    slow = api.post(SUBMIT, json={"prompt": "slow"}).json()["id"]
    assert fake.task(quick).duration == pytest.approx(0.01)
    assert fake.task(slow).duration == pytest.approx(500.0)
    assert wait_final(api, quick)["status"] == "Ready"
    assert api.get(RESULT, params={"id": slow}).json()["status"] == "Pending"


@pytest.mark.parametrize(
    ("prompt", "status"),
    [
        ("a [moderate-content] fox", "Content Moderated"),
        ("[fail] a fox", "Error"),
        ("a fox [moderate-request]", "Request Moderated"),
    ],
)
def test_prompt_markers_end_in_their_status(
    prompt: str, status: str, fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=0.05)
    task_id = api.post(SUBMIT, json={"prompt": prompt}).json()["id"]
    final = wait_final(api, task_id)
    assert final["status"] == status
    assert final["result"] is None
    assert isinstance(final["details"], dict)


def test_request_moderation_is_final_at_once(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=1000.0)
    task_id = api.post(SUBMIT, json={"prompt": "[moderate-request]"}).json()["id"]
    assert api.get(RESULT, params={"id": task_id}).json()["status"] == "Request Moderated"
    assert fake.task(task_id).duration == 0


def test_markers_are_configurable(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.01, markers={"NOPE": "Error"})
    custom = api.post(SUBMIT, json={"prompt": "NOPE"}).json()["id"]
    default = api.post(SUBMIT, json={"prompt": "[fail]"}).json()["id"]
    assert wait_final(api, custom)["status"] == "Error"
    assert wait_final(api, default)["status"] == "Ready"


def test_unknown_id_answers_task_not_found(fake: FakeBFL, api: httpx.Client) -> None:
    answer = api.get(RESULT, params={"id": "no-such-task"})
    assert answer.status_code == 200
    assert answer.json()["status"] == "Task not found"
    assert answer.json()["id"] == "no-such-task"
