"""The journaled flows without I/O (`flux_flex._core.journaled`): every journal call is a
`Local` action the driver carries out, the errors of local work come back into the flow,
and a call stopped by its driver ends its run without blocking."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from flux_flex import JournalError, TaskUncertainError
from flux_flex._core.actions import Action, Answer, Local
from flux_flex._core.deadline import Deadline
from flux_flex._core.journal import Claim, Decision, JournalEntry, State
from flux_flex._core.journaled import GenerateSteps, JournaledCall, generate_flow, local
from flux_flex._core.status import Acknowledged, Finished
from flux_flex._requests import prepare_request


class Port:
    """A journal that answers from a script and notes every call, and in which thread."""

    where = "memory"

    def __init__(self, claim: Claim) -> None:
        self.calls: list[str] = []
        self._claim = claim

    def open_run(self) -> str:
        self.calls.append("open_run")
        return "run-1"

    def claim(self, call: JournaledCall, owner: str, *, retry_failed: bool) -> Claim:
        self.calls.append(f"claim {call.name}")
        return self._claim

    def start(self, name: str, attempt: int, owner: str) -> bool:
        self.calls.append(f"start {name}")
        return True

    def wait_for_change(self, name: str, since: JournalEntry, timeout: float) -> bool:
        raise AssertionError("nothing is held here")

    def record(self, name: str, attempt: int, event: Any, owner: str) -> bool:
        self.calls.append(f"record {name} {type(event).__name__}")
        return True

    def saved_elsewhere(self, name: str, owner: str, timeout: float) -> JournalEntry | None:
        self.calls.append("saved_elsewhere")
        return None

    def end_run(self, owner: str, unsent: tuple[str, int] | None) -> None:
        self.calls.append(f"end_run {unsent}")

    def abandon(self, owner: str, unsent: tuple[str, int] | None) -> None:
        self.calls.append(f"abandon {unsent}")


def submit() -> Generator[Action, Answer, Acknowledged]:
    yield from ()
    return Acknowledged("t1", "https://api.bfl.ai/v1/get_result?id=t1", 5.0, 0, 1, None, {})


def wait(task_id: str, polling_url: str | None, submitted_at: float | None) -> Any:
    yield from ()
    return Finished(task_id, "https://delivery.example/s.png", 7, "a fox", {})


def steps() -> GenerateSteps:
    def never(*args: Any) -> Any:
        raise AssertionError("no download without save_to")

    return GenerateSteps(
        submit=submit, wait=wait, download=never, save=never, has_image=never, clock=lambda: 0.0
    )


def call(key: str | None) -> JournaledCall:
    request = prepare_request("a fox")
    return JournaledCall.of(request, key=key, token="tok", method="generate", save_to=None)


def drive(flow: Generator[Action, Answer, Any], port: Port) -> tuple[Any, list[Action]]:
    """Run ``flow`` as a driver would: each `Local` called here, nothing else expected."""
    seen: list[Action] = []
    answer: Answer = None
    try:
        while True:
            action = flow.send(answer)
            seen.append(action)
            assert isinstance(action, Local), action
            answer = action.function()
    except StopIteration as stop:
        return stop.value, seen


def test_every_journal_call_is_a_local_action_and_a_call_without_a_key_takes_its_task_name() -> (
    None
):
    port = Port(Claim(Decision.SUBMIT, None, 1, fingerprint="call:tok"))
    outcome, actions = drive(generate_flow(call(None), port, steps(), Deadline(0, 10)), port)
    assert outcome.finished.id == "t1"
    assert outcome.path is None
    assert port.calls == [
        "open_run",
        "claim call:tok",
        "start call:tok",
        "record call:tok Accepted",
        "record task:t1 Saved",  # renamed by its answer
        "end_run None",
    ]
    assert len(actions) == len(port.calls)


def test_local_work_raises_in_the_flow_not_in_the_driver() -> None:
    def broken() -> None:
        raise JournalError("the database is gone", path="x")

    def flow() -> Generator[Action, Answer, str]:
        try:
            yield from local(broken)
        except JournalError as exc:
            return f"caught: {exc}"
        return "not raised"

    port = Port(Claim(Decision.SKIP, None, 1))
    assert drive(flow(), port)[0] == "caught: the database is gone"


def test_a_refusal_ends_the_run_through_the_driver() -> None:
    entry = JournalEntry(
        fingerprint="key:k", state=State.SUBMITTING, prompt="a fox", params={}, save_to=None,
        task_id=None, polling_url=None, path=None, url=None, cost=None, submit_cost=None,
        seed=None, error="HTTP 502", error_type="ServerError", retryable=None, attempt=1,
        owner=None, created_at=0.0, updated_at=0.0,
    )  # fmt: skip
    port = Port(Claim(Decision.UNCERTAIN, entry, 1, fingerprint="key:k"))
    with pytest.raises(TaskUncertainError, match="resubmit_uncertain=True"):
        drive(generate_flow(call("k"), port, steps(), Deadline(0, 10)), port)
    assert port.calls == ["open_run", "claim key:k", "end_run None"]


def test_a_call_stopped_before_its_post_gives_the_claim_back_without_blocking() -> None:
    port = Port(Claim(Decision.SUBMIT, None, 1, fingerprint="key:k"))
    flow = generate_flow(call("k"), port, steps(), Deadline(0, 10))
    opened = flow.send(None)
    assert isinstance(opened, Local)
    claimed = flow.send(opened.function())
    assert isinstance(claimed, Local)
    start = flow.send(claimed.function())  # the claim is made; its POST is not sent yet
    assert isinstance(start, Local)
    flow.close()  # the driver stops here (cancelled): the flow may ask for nothing more
    assert port.calls == ["open_run", "claim key:k", "abandon ('key:k', 1)"]
