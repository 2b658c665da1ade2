"""Task lifecycle: Pending -> Reasoning -> Generating -> final, scripts, progress, markers.

Timing is checked on the task's own timeline (``status_at``/``progress_at`` at chosen
instants), and over HTTP only as an order of statuses seen: never as a wall-clock bound.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from flux_flex.testing import DEFAULT_LIFECYCLE, FakeBFL

from .conftest import RESULT, SUBMIT, configure, poll_statuses, wait_final


def _seen(answers: list[dict[str, Any]]) -> list[str]:
    """The statuses of successive polls, repeats collapsed."""
    seen: list[str] = []
    for answer in answers:
        if not seen or seen[-1] != answer["status"]:
            seen.append(answer["status"])
    return seen


def _is_in_order(seen: list[str], full: list[str]) -> bool:
    """Whether ``seen`` is ``full`` with some statuses possibly skipped (a slow poller)."""
    rest = iter(full)
    return all(status in rest for status in seen)


def test_the_default_lifecycle_is_pending_reasoning_generating_ready(
    fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=0.3)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    task = fake.task(task_id)
    assert task.statuses == ["Pending", "Reasoning", "Generating", "Ready"]
    start = task.created_at
    # task_seconds shared equally by the three running statuses
    assert [round(end - start, 6) for _, end in task.phases] == [0.1, 0.2, 0.3]
    assert task.status_at(start + 0.05) == "Pending"
    assert task.status_at(start + 0.15) == "Reasoning"
    assert task.status_at(start + 0.25) == "Generating"
    assert task.status_at(start + 0.3) == "Ready"
    assert task.ready_at == pytest.approx(start + 0.3)
    answers = poll_statuses(api, task_id)
    assert answers[-1]["status"] == "Ready"
    assert _is_in_order(_seen(answers), task.statuses)
    assert DEFAULT_LIFECYCLE == ("Pending", "Reasoning", "Generating")


@pytest.mark.parametrize(
    ("upsampling", "needs", "statuses"),
    [
        (False, True, ["Pending", "Generating", "Ready"]),
        (True, True, ["Pending", "Reasoning", "Generating", "Ready"]),
        (None, True, ["Pending", "Reasoning", "Generating", "Ready"]),  # default: true
        (False, False, ["Pending", "Reasoning", "Generating", "Ready"]),
    ],
)
def test_reasoning_only_with_prompt_upsampling(
    upsampling: bool | None, needs: bool, statuses: list[str], fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=10.0, reasoning_needs_upsampling=needs)
    body: dict[str, Any] = {"prompt": "fox"}
    if upsampling is not None:
        body["prompt_upsampling"] = upsampling
    task = fake.task(api.post(SUBMIT, json=body).json()["id"])
    assert task.statuses == statuses
    assert task.duration == pytest.approx(10.0)


def test_each_phase_may_have_its_own_duration(fake: FakeBFL, api: httpx.Client) -> None:
    # Pending has seconds; Reasoning and Generating share what is left of task_seconds.
    configure(fake, task_seconds=2.0, lifecycle=[("Pending", 0.5), "Reasoning", "Generating"])
    task = fake.task(api.post(SUBMIT, json={"prompt": "fox"}).json()["id"])
    assert [round(end - task.created_at, 6) for _, end in task.phases] == [0.5, 1.25, 2.0]
    assert task.status_at(task.created_at + 0.6) == "Reasoning"
    # timed phases longer than task_seconds: they win, untimed ones get nothing
    configure(fake, task_seconds=1.0, lifecycle=[("Pending", 0.75), ("Reasoning", 0.5), "X"])
    task = fake.task(api.post(SUBMIT, json={"prompt": "fox"}).json()["id"])
    assert [round(end - task.created_at, 6) for _, end in task.phases] == [0.75, 1.25, 1.25]


def test_a_script_serves_any_statuses_unknown_ones_included(
    fake: FakeBFL, api: httpx.Client
) -> None:
    script = ["Pending", "Reasoning", "Generating", "Upscaling", "Ready"]
    configure(fake, task_seconds=0.2, script=script)
    task_id = api.post(SUBMIT, json={"prompt": "fox", "width": 64, "height": 64}).json()["id"]
    task = fake.task(task_id)
    assert task.statuses == script
    assert task.status_at(task.created_at + 0.17) == "Upscaling"
    answers = poll_statuses(api, task_id)
    assert _is_in_order(_seen(answers), script)
    final = answers[-1]
    assert final["status"] == "Ready"
    assert httpx.get(final["result"]["sample"]).status_code == 200


def test_an_unknown_status_is_served_over_http_while_it_lasts(
    fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, script=[("Pending", 0.0), ("Upscaling", 600.0), "Ready"])
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    answer = api.get(RESULT, params={"id": task_id}).json()
    assert answer["status"] == "Upscaling"
    assert 0.0 <= answer["progress"] < 1.0
    assert answer["result"] is None
    assert fake.task(task_id).in_flight_at(time.monotonic())


def test_a_script_per_task_from_a_function_or_a_marker(fake: FakeBFL, api: httpx.Client) -> None:
    def script(body: dict[str, Any]) -> list[str] | None:
        return ["Queued", "Error"] if "odd" in body["prompt"] else None

    configure(
        fake,
        task_seconds=0.01,
        script=script,
        markers={"[upscale]": [("Generating", 0.0), "Upscaling", "Ready"]},
    )
    odd = fake.task(api.post(SUBMIT, json={"prompt": "odd"}).json()["id"])
    plain = fake.task(api.post(SUBMIT, json={"prompt": "even"}).json()["id"])
    marked = fake.task(api.post(SUBMIT, json={"prompt": "odd [upscale]"}).json()["id"])
    assert odd.statuses == ["Queued", "Error"]
    assert plain.statuses == ["Pending", "Reasoning", "Generating", "Ready"]
    assert marked.statuses == ["Generating", "Upscaling", "Ready"]  # the marker wins
    assert wait_final(api, odd.id)["status"] == "Error"


def test_a_script_ending_in_a_running_status_never_finishes(
    fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=0.0, script=["Pending", "Stuck"], max_in_flight=1)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    task = fake.task(task_id)
    assert not task.final
    assert task.status_at(task.created_at + 10**6) == "Stuck"
    assert api.get(RESULT, params={"id": task_id}).json()["status"] == "Stuck"
    refused = api.post(SUBMIT, json={"prompt": "fox"})  # it holds its in-flight slot
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "3600"


@pytest.mark.parametrize(
    "bad",
    [[], "Ready", [("Ready", -1)], [("Ready",)], [42], [("Pending", float("nan")), "Ready"]],
)
def test_a_malformed_script_is_refused_when_the_fake_is_made(bad: Any) -> None:
    with pytest.raises(ValueError, match="script"):
        FakeBFL(script=bad)


def test_progress_rises_while_the_task_runs(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=1000.0)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    first = api.get(RESULT, params={"id": task_id}).json()
    time.sleep(0.02)
    second = api.get(RESULT, params={"id": task_id}).json()
    assert (first["status"], second["status"]) == ("Pending", "Pending")
    assert 0.0 < first["progress"] < second["progress"] < 1.0
    assert first["result"] is None
    task = fake.task(task_id)
    assert (task.polls, task.body) == (2, {"prompt": "fox"})
    # the elapsed fraction of the whole running time, across phases
    assert task.progress_at(task.created_at + 250.0) == pytest.approx(0.25)
    assert task.progress_at(task.created_at + 500.0) == pytest.approx(0.5)
    assert task.progress_at(task.created_at + 1000.0) == 1.0


@pytest.mark.parametrize(("mode", "present"), [("null", True), ("omit", False)])
def test_progress_may_be_null_or_absent(
    mode: str, present: bool, fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=0.05, progress=mode)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    answers = poll_statuses(api, task_id)
    assert answers[-1]["status"] == "Ready"
    assert all(("progress" in a) is present for a in answers)
    assert all(a.get("progress") is None for a in answers)


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
    assert final["progress"] is None
    assert isinstance(final["details"], dict)
    assert "cost" not in final  # only a Ready poll carries the settled cost


def test_request_moderation_is_final_at_once(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=1000.0)
    task_id = api.post(SUBMIT, json={"prompt": "[moderate-request]"}).json()["id"]
    assert api.get(RESULT, params={"id": task_id}).json()["status"] == "Request Moderated"
    assert fake.task(task_id).duration == 0
    assert fake.task(task_id).statuses == ["Request Moderated"]


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


def test_moving_ready_at_finishes_a_task_at_once(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=600.0)
    task_id = api.post(SUBMIT, json={"prompt": "fox"}).json()["id"]
    fake.task(task_id).ready_at = time.monotonic()
    answer = api.get(RESULT, params={"id": task_id}).json()
    assert (answer["status"], answer["progress"]) == ("Ready", 1.0)
