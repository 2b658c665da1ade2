"""Status interpretation: submission acks, poll answers, webhook payloads."""

from __future__ import annotations

from typing import Any

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
    interpret_webhook,
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
