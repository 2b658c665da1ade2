"""Status interpretation: submission acks, poll answers, webhook payloads."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from flux_flex import (
    ModerationError,
    ProtocolError,
    TaskFailedError,
    TaskNotFoundError,
)
from flux_flex._core.status import (
    interpret_poll,
    interpret_submit,
    interpret_submit_body,
    interpret_webhook,
    salvage_task_id,
    task_error,
)

BASE = "https://api.bfl.ai"


def test_submit_async_response_keeps_regional_polling_url() -> None:
    ack = interpret_submit(
        {
            "id": "a",
            "polling_url": "https://api.eu.bfl.ai/v1/get_result?id=a",
            "cost": 5,
            "input_mp": None,
            "output_mp": 1.05,
        },
        base_url=BASE,
    )
    assert (ack.id, ack.polling_url) == ("a", "https://api.eu.bfl.ai/v1/get_result?id=a")
    assert (ack.cost, ack.input_mp, ack.output_mp) == (5.0, None, 1.05)


def test_submit_webhook_response_polls_the_default_url() -> None:
    ack = interpret_submit(
        {"id": "b", "status": "Pending", "webhook_url": "https://me.example/hook"}, base_url=BASE
    )
    assert ack.polling_url == "https://api.bfl.ai/v1/get_result?id=b"
    assert ack.webhook_url == "https://me.example/hook"


@pytest.mark.parametrize(
    "payload",
    [[], "ok", {"polling_url": "x"}, {"id": "", "polling_url": "x"}, {"id": 3, "polling_url": "x"}],
)
def test_submit_without_id_is_a_protocol_error(payload: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        interpret_submit(payload, base_url=BASE)
    assert info.value.raw == payload


def test_poll_pending_with_progress() -> None:
    polled = interpret_poll({"id": "a", "status": "Pending", "progress": 40}, expected_id="a")
    assert (polled.status, polled.progress, polled.finished) == ("Pending", 40.0, None)


def test_poll_ready() -> None:
    polled = interpret_poll(
        {
            "id": "a",
            "status": "Ready",
            "result": {"sample": "https://d/x.png", "seed": 1, "prompt": "p", "start_time": 1},
        }
    )
    assert polled.finished is not None
    assert (polled.finished.url, polled.finished.seed, polled.finished.prompt) == (
        "https://d/x.png",
        1,
        "p",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "Pending"},
        {"id": "a"},
        {"id": "a", "status": 3},
        {"id": "a", "status": None},
        {"id": "a", "status": "Ready", "result": None},
        {"id": "a", "status": "Ready", "result": {"seed": 1}},
        ["not", "an", "object"],
    ],
)
def test_poll_breaking_the_spec_is_a_protocol_error_with_raw(payload: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        interpret_poll(payload, expected_id="a")
    assert info.value.raw == payload


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("Request Moderated", ModerationError),
        ("Content Moderated", ModerationError),
        ("Error", TaskFailedError),
        ("Task not found", TaskNotFoundError),
    ],
)
def test_final_statuses_map_to_task_errors(status: str, cls: type[Exception]) -> None:
    error = task_error("t1", status, {"id": "t1", "status": status})
    assert type(error) is cls
    assert error is not None
    assert error.task_id == "t1"
    assert error.status == status
    assert "t1" in str(error)


def test_pending_and_ready_are_not_errors() -> None:
    assert task_error("t", "Pending", {}) is None
    assert task_error("t", "Ready", {}) is None


def test_webhook_payloads() -> None:
    ok = interpret_webhook(
        {"id": "w", "status": "Ready", "result": {"sample": "https://d/w.png"}}, task_id="w"
    )
    assert ok.url == "https://d/w.png"
    with pytest.raises(TaskFailedError, match="boom"):
        interpret_webhook({"id": "w", "status": "Error", "error": "boom"}, task_id="w")
    with pytest.raises(ModerationError):
        interpret_webhook({"id": "w", "status": "Content Moderated"}, task_id="w")
    with pytest.raises(ProtocolError):
        interpret_webhook({"id": "w"}, task_id="w")


@pytest.mark.parametrize("status", ["Pending", "Reasoning", "Generating", "Queued", "", "ready"])
def test_a_webhook_whose_status_is_not_final_is_not_done_yet(status: str) -> None:
    assert interpret_webhook({"id": "w", "status": status}, task_id="w") is None


def test_default_polling_url_percent_encodes_the_id() -> None:
    from flux_flex._core.status import default_polling_url

    assert default_polling_url("https://h/", "a b/c") == "https://h/v1/get_result?id=a%20b%2Fc"


# --- the typed status, open to new values ------------------------------------------------


def test_the_status_literal_is_the_specs_enum() -> None:
    from flux_flex import KNOWN_STATUSES, Status
    from flux_flex.spec import load_spec
    from flux_flex_api.models.status_response import StatusResponse

    spec_enum = load_spec()["components"]["schemas"]["StatusResponse"]["enum"]
    assert set(get_args(Status)) == set(KNOWN_STATUSES) == set(spec_enum)
    assert {member.value for member in StatusResponse} == set(spec_enum)


def test_final_statuses_are_the_five_that_end_a_wait() -> None:
    from flux_flex import FINAL_STATUSES, is_final

    assert {
        "Ready",
        "Error",
        "Request Moderated",
        "Content Moderated",
        "Task not found",
    } == FINAL_STATUSES
    assert [s for s in ("Pending", "Reasoning", "Generating", "Queued", "") if is_final(s)] == []


@pytest.mark.parametrize("status", ["Reasoning", "Generating", "Queued", "Upscaling", "ready", ""])
def test_a_status_that_is_not_final_is_data_not_an_error(status: str) -> None:
    polled = interpret_poll(
        {"id": "a", "status": status, "progress": 0.5, "eta": {"s": 3}, "new_key": [1]},
        expected_id="a",
    )
    assert (polled.status, polled.progress, polled.finished) == (status, 0.5, None)
    assert polled.raw["new_key"] == [1]
    assert task_error("a", status, polled.raw) is None


def test_the_settled_cost_is_read_from_the_ready_answer() -> None:
    answer = {"id": "a", "status": "Ready", "cost": 5.24, "result": {"sample": "https://d/x"}}
    polled = interpret_poll(answer, expected_id="a")
    assert polled.cost == 5.24
    assert polled.finished is not None
    assert polled.finished.cost == 5.24
    plain = interpret_poll({**answer, "cost": None}, expected_id="a")
    assert plain.finished is not None
    assert plain.finished.cost is None
    without = {k: v for k, v in answer.items() if k != "cost"}
    assert interpret_poll(without).finished.cost is None  # type: ignore[union-attr]
    delivered = interpret_webhook(without, task_id="a")
    assert delivered is not None
    assert delivered.cost is None


def test_task_failure_details_are_written_as_json_not_a_python_repr() -> None:
    error = task_error("t", "Error", {"error": "gpu", "details": {"node": "n1", "ok": False}})
    assert error is not None
    assert '{"node": "n1", "ok": false}' in str(error)
    assert "'node'" not in str(error)


# --- the task id, salvaged from whatever part of an answer carried it ---------------------


@pytest.mark.parametrize(
    ("text", "task_id"),
    [
        ('{"id": "abc-123", "polling_u', "abc-123"),
        ('  {\n "cost": 5.2, "id" : "abc-123" ,', "abc-123"),
        ('{"webhook_url": "https://h/x", "id": "a\\"b"}', 'a"b'),
        ('{"id": "abc-1', None),  # the id itself is cut: never a guess
        ('{"polling_url": "https://h/x?id=zzz", "id', None),
        ('{"nested": {"id": "inner"}, "x', None),
        ('{"id": 7}', None),
        ('["id", "abc"]', None),
        ("<html>502</html>", None),
        ("", None),
    ],
)
def test_salvage_task_id(text: str, task_id: str | None) -> None:
    assert salvage_task_id(text) == task_id
    assert salvage_task_id(text.encode()) == task_id


def test_a_cut_off_acknowledgement_names_the_task_and_how_to_resume() -> None:
    with pytest.raises(ProtocolError) as caught:
        interpret_submit_body(b'{"id": "abc-123", "polling_u', base_url=BASE)
    assert caught.value.task_id == "abc-123"
    assert caught.value.task_may_exist
    assert "client.job('abc-123')" in str(caught.value)
    assert caught.value.raw == '{"id": "abc-123", "polling_u'


@pytest.mark.parametrize(
    ("body", "task_id"),
    [
        (b"<html>oops</html>", None),
        (b'{"id": "abc-123"}', "abc-123"),  # JSON, but no polling_url nor webhook_url
        (b'{"id": "abc-123", "polling_url": ""}', "abc-123"),
        (b'{"polling_url": "https://h/x"}', None),
        (b"[1, 2]", None),
    ],
)
def test_every_broken_acknowledgement_says_a_task_may_exist(
    body: bytes, task_id: str | None
) -> None:
    with pytest.raises(ProtocolError) as caught:
        interpret_submit_body(body, base_url=BASE)
    assert caught.value.task_may_exist
    assert caught.value.task_id == task_id
    if task_id is not None:
        assert f"client.job({task_id!r})" in str(caught.value)
    else:
        assert "check your recent tasks" in str(caught.value)


def test_a_good_acknowledgement_body_is_read() -> None:
    ack = interpret_submit_body(b'{"id": "a", "polling_url": "/v1/get_result?id=a"}', base_url=BASE)
    assert (ack.id, ack.polling_url) == ("a", "https://api.bfl.ai/v1/get_result?id=a")


def test_errors_built_here_mask_the_secrets() -> None:
    key = "sk-test-key-123456"
    with pytest.raises(ProtocolError) as caught:
        interpret_submit_body(f'{{"id": "t", "echo": "{key}'.encode(), base_url=BASE, secrets=[key])
    assert key not in f"{caught.value} {caught.value.raw}"
    error = task_error(
        "t", "Error", {"error": f"bad {key}", "details": {"k": [key]}}, secrets=[key]
    )
    assert error is not None
    assert key not in f"{error} {error.payload}"


@pytest.mark.parametrize(
    "status", ["Pending", "Reasoning", "Generating", "Queued", "Ready", "Error"]
)
def test_a_webhook_event_is_final_exactly_when_its_status_is(status: str) -> None:
    from flux_flex import is_final
    from flux_flex.webhooks.event import parse_event

    result = {"sample": "https://d/x.png"} if status == "Ready" else None
    event = parse_event({"id": "w", "status": status, "result": result})
    assert event.is_final == is_final(status)


@pytest.mark.parametrize("polling_url", ["http://[", "https://[::1/x", "http://]bad"])
def test_an_ack_whose_polling_url_is_not_a_url_still_names_the_paid_task(polling_url: str) -> None:
    # urljoin raises ValueError on an unbalanced bracket: that must never escape as a raw
    # ValueError (the task is billed, its id must reach the user).
    with pytest.raises(ProtocolError) as caught:
        interpret_submit({"id": "abc-123", "polling_url": polling_url}, base_url=BASE)
    assert caught.value.task_id == "abc-123"
    assert caught.value.task_may_exist
    assert "client.job('abc-123')" in str(caught.value)
