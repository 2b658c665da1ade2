"""The journal's pure rules with the states and decisions of issue 20: every state × event
(claimed and ready included), every planning case (HELD, CONFLICT), owner liveness, the
in-flight count, and the names (parameters plus name or occurrence, keys, task ids)."""

from __future__ import annotations

import itertools

import pytest
from flux_flex._core import journal as rules
from flux_flex._core.journal import Decision, Run, Seen, State

S = State
X = "invalid"
EVENTS: dict[str, rules.Event] = {
    "Take": rules.Take(),
    "Begin": rules.Begin(),
    "Accepted": rules.Accepted("t1", "https://api.bfl.ai/v1/get_result?id=t1", 5.0),
    "Refused": rules.Refused("HTTP 422", "RequestValidationError"),
    "Lost": rules.Lost("HTTP 502", "ServerError"),
    "Abandoned": rules.Abandoned(),
    "Ready": rules.Ready("https://cdn/x", 7, 5.24),
    "Ended": rules.Ended("moderated", "ModerationError"),
    "Stopped": rules.Stopped("timed out", "WaitTimeoutError"),
    "Saved": rules.Saved("/out/a.png", "https://cdn/x", 7, 5.24),
}
# Every state (None: no entry) × every event: the state after it, or X (refused).
TABLE: dict[State | None, dict[str, State | str | None]] = {
    None: {"Take": S.CLAIMED, "Begin": S.SUBMITTING},
    S.CLAIMED: {
        "Take": S.CLAIMED,  # a dead owner's claim, taken by another run
        "Begin": S.SUBMITTING,
        "Abandoned": None,  # given back before the POST: nothing left
    },
    S.SUBMITTING: {
        "Take": S.CLAIMED,  # resubmitting an uncertain one (asked for)
        "Begin": S.SUBMITTING,
        "Accepted": S.SUBMITTED,
        "Refused": S.FAILED,
        "Lost": S.SUBMITTING,  # stays uncertain
        "Abandoned": None,
    },
    S.SUBMITTED: {
        "Ready": S.READY,
        "Ended": S.FAILED,
        "Stopped": S.SUBMITTED,
        "Saved": S.SAVED,  # polled and saved in one go
    },
    S.READY: {"Ended": S.FAILED, "Stopped": S.READY, "Saved": S.SAVED},
    S.SAVED: {"Ended": S.FAILED, "Stopped": S.SAVED, "Saved": S.SAVED},
    S.FAILED: {"Take": S.CLAIMED, "Begin": S.SUBMITTING},  # a retry (asked for)
}
NEW_ATTEMPT = {
    (None, "Take"),
    (None, "Begin"),
    (S.CLAIMED, "Take"),
    (S.SUBMITTING, "Take"),
    (S.SUBMITTING, "Begin"),
    (S.FAILED, "Take"),
    (S.FAILED, "Begin"),
}
RELEASING = {"Lost", "Stopped"}


def test_the_table_covers_every_state_and_event() -> None:
    assert set(TABLE) == {None, *State}
    assert {type(event) for event in EVENTS.values()} == set(rules._FROM)


@pytest.mark.parametrize(
    ("state", "name"), list(itertools.product([None, *State], list(EVENTS))), ids=str
)
def test_every_state_and_event(state: State | None, name: str) -> None:
    expected = TABLE[state].get(name, X)
    if expected == X:
        with pytest.raises(rules.InvalidTransition):
            rules.apply(state, EVENTS[name])
        return
    change = rules.apply(state, EVENTS[name])
    assert change.state == expected
    assert change.next_attempt == ((state, name) in NEW_ATTEMPT)
    assert change.release == (name in RELEASING)


def test_what_the_new_events_write() -> None:
    ready = rules.apply(S.SUBMITTED, EVENTS["Ready"]).values
    assert (ready["url"], ready["seed"], ready["cost"], ready["error"]) == (
        "https://cdn/x",
        7,
        5.24,
        None,
    )
    taken = rules.apply(S.FAILED, rules.Take()).values
    assert (taken["error"], taken["task_id"]) == (None, None)


# -- plan ----------------------------------------------------------------------------------------


def expected(seen: Seen | None, resubmit: bool, retry: bool) -> Decision:
    if seen is None:
        return Decision.SUBMIT
    if not seen.same_parameters:
        return Decision.CONFLICT
    live_states = (S.CLAIMED, S.SUBMITTING, S.SUBMITTED, S.READY)
    if seen.owner_live and seen.state in live_states:
        return Decision.HELD
    return {
        S.CLAIMED: Decision.SUBMIT,
        S.SUBMITTING: Decision.SUBMIT if resubmit else Decision.UNCERTAIN,
        S.SUBMITTED: Decision.RESUME,
        S.READY: Decision.RESUME,
        S.SAVED: Decision.SKIP if seen.file_ok else Decision.REDOWNLOAD,
        S.FAILED: Decision.SUBMIT if retry else Decision.FAILED,
    }[seen.state]


SEEN = [None] + [
    Seen(state, file_ok=file_ok, owner_live=live, same_parameters=same)
    for state, file_ok, live, same in itertools.product(State, *([[True, False]] * 3))
]


@pytest.mark.parametrize("seen", SEEN, ids=repr)
@pytest.mark.parametrize(("resubmit", "retry"), list(itertools.product([False, True], repeat=2)))
def test_plan_every_case(seen: Seen | None, resubmit: bool, retry: bool) -> None:
    decision = rules.plan(seen, resubmit_uncertain=resubmit, retry_failed=retry)
    assert decision is expected(seen, resubmit, retry)


def test_a_created_task_is_never_planned_for_submission() -> None:
    for seen, resubmit, retry in itertools.product(SEEN, [False, True], [False, True]):
        if seen is not None and seen.state in (S.SUBMITTED, S.READY, S.SAVED):
            assert rules.plan(seen, resubmit_uncertain=resubmit, retry_failed=retry) not in (
                Decision.SUBMIT,
                Decision.UNCERTAIN,
            )


# -- owners --------------------------------------------------------------------------------------

RUN = Run("h|1|x", "here", 1234, lease_until=100.0)


@pytest.mark.parametrize(
    ("run", "now", "pid_alive", "live"),
    [
        (None, 50.0, True, False),  # no run recorded (it ended)
        (RUN, 50.0, True, True),  # lease running, process there
        (RUN, 100.0, True, False),  # lease over: dead, whatever its process does
        (RUN, 50.0, False, False),  # this host, its process gone: dead at once
        (Run("h|1|x", "elsewhere", 1234, 100.0), 50.0, False, True),  # another host: the lease
        (Run("h|1|x", "elsewhere", 1234, 100.0), 150.0, True, False),
    ],
)
def test_owner_liveness(run: Run | None, now: float, pid_alive: bool, live: bool) -> None:
    asked: list[int] = []

    def pid_exists(pid: int) -> bool:
        asked.append(pid)
        return pid_alive

    assert rules.owner_live(run, now=now, host="here", pid_exists=pid_exists) is live
    if run is not None and run.host != "here":
        assert asked == []  # another machine's pids mean nothing here


def test_in_flight_counts_live_submissions_and_accepted_tasks() -> None:
    dead = Run("d", "here", 99, lease_until=100.0)
    owners = [(RUN, 3), (dead, 2), (None, 4)]
    count = rules.count_in_flight(
        owners, 5, now=50.0, host="here", pid_exists=lambda pid: pid == 1234
    )
    assert count == 3 + 5


# -- names ---------------------------------------------------------------------------------------

BODY = {"prompt": "a fox", "seed": 7, "width": 1024, "input_image": "QUJD" * 100}


def test_names_ignore_the_folder_and_the_secret_but_not_the_parameters() -> None:
    first = rules.fingerprint(BODY, "a.png")
    assert first == rules.fingerprint(dict(reversed(list(BODY.items()))), "a.png")
    assert len(first) == 64
    assert rules.fingerprint({**BODY, "webhook_secret": "s3cr3t-one"}, "a.png") == first
    for other in (
        rules.fingerprint({**BODY, "seed": 8}, "a.png"),
        rules.fingerprint({**BODY, "input_image": "QUJE" * 100}, "a.png"),
        rules.fingerprint(BODY, "b.png"),
        rules.fingerprint(BODY, None),
        rules.fingerprint(BODY, "a.png", 1),
    ):
        assert other != first
    assert first != rules.fingerprint_v1(BODY, "/out/a.png")  # schema 1 named differently


def test_the_parameters_digest() -> None:
    digest = rules.parameters_digest(BODY)
    assert digest == rules.parameters_digest({**BODY, "webhook_secret": "another"})
    assert digest != rules.parameters_digest({**BODY, "seed": 8})
    assert "QUJD" not in digest


def test_keys_and_task_ids_name_their_entries() -> None:
    assert rules.key_name("order-123") == "key:order-123"
    assert rules.task_name("t-1") == "task:t-1"
    with pytest.raises(ValueError, match="idempotency key"):
        rules.key_name("")
