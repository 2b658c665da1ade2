"""Webhook deliveries: payload, both authenticity headers, retries, drops, duplicates."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest
from flux_flex.testing import FakeBFL

from .conftest import SUBMIT, Catcher, client_for, configure, wait_final


def _submit(fake: FakeBFL, **body: object) -> dict[str, object]:
    with client_for(fake) as api:
        answer = api.post(SUBMIT, json={"prompt": "fox", **body})
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result


ISO_8601_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def test_ready_delivery_is_signed_with_hmac_by_default(catcher: Catcher, fake: FakeBFL) -> None:
    configure(fake, task_seconds=0.05)
    task_id = _submit(fake, webhook_url=catcher.url, webhook_secret="s3cret", seed=5)["id"]
    fake.wait_for_deliveries(1)
    ((headers, body),) = catcher.received
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-bfl-signature"] == f"sha256={expected}"
    assert "x-webhook-secret" not in headers  # the echo is not a documented scheme
    payload = json.loads(body)
    assert payload["id"] == task_id
    assert payload["status"] == "Ready"
    assert payload["result"]["seed"] == 5
    assert payload["result"]["sample"].startswith(fake.base_url)
    assert ISO_8601_UTC.fullmatch(payload["timestamp"]), payload["timestamp"]
    delivery = fake.deliveries[0]
    assert (delivery.task_id, delivery.attempt, delivery.status_code) == (task_id, 1, 200)
    # delivered once the task is final, not before
    assert delivery.at >= fake.task(str(task_id)).ready_at


@pytest.mark.parametrize(
    ("scheme", "signed", "echoed"),
    [("hmac", True, False), ("secret", False, True), ("both", True, True)],
)
def test_the_authenticity_scheme_is_selectable(
    scheme: str, signed: bool, echoed: bool, catcher: Catcher, fake: FakeBFL
) -> None:
    configure(fake, task_seconds=0.01, webhook_auth=scheme)
    _submit(fake, webhook_url=catcher.url, webhook_secret="s3cret")
    fake.wait_for_deliveries(1)
    headers, _body = catcher.received[0]
    assert ("x-bfl-signature" in headers) is signed
    assert (headers.get("x-webhook-secret") == "s3cret") is echoed
    if echoed:
        assert fake.deliveries[0].headers["x-webhook-secret"] == "***"


def test_no_secret_no_authenticity_headers(catcher: Catcher, fake: FakeBFL) -> None:
    configure(fake, task_seconds=0.01)
    _submit(fake, webhook_url=catcher.url)
    fake.wait_for_deliveries(1)
    headers, _ = catcher.received[0]
    assert "x-bfl-signature" not in headers
    assert "x-webhook-secret" not in headers


@pytest.mark.parametrize(
    ("prompt", "status", "code"),
    [
        ("[fail]", "Error", "generation_failed"),
        ("[moderate-content]", "Content Moderated", "content_policy_violation"),
        ("[moderate-request]", "Request Moderated", "content_policy_violation"),
    ],
)
def test_failure_payload_carries_an_error_code_and_a_message(
    prompt: str, status: str, code: str, catcher: Catcher, fake: FakeBFL
) -> None:
    configure(fake, task_seconds=0.01)
    _submit(fake, prompt=prompt, webhook_url=catcher.url)
    fake.wait_for_deliveries(1)
    payload = json.loads(catcher.received[0][1])
    assert (payload["status"], payload["error"]) == (status, code)
    assert prompt in payload["message"]
    assert ISO_8601_UTC.fullmatch(payload["timestamp"])
    assert "result" not in payload


def test_a_task_that_never_finishes_is_never_delivered(catcher: Catcher, fake: FakeBFL) -> None:
    configure(fake, task_seconds=0.0, script=["Pending", "Stuck"])
    _submit(fake, webhook_url=catcher.url)
    with pytest.raises(TimeoutError):
        fake.wait_for_deliveries(1, timeout=0.2)


def test_failed_deliveries_are_retried_on_the_scaled_schedule(
    catcher: Catcher, fake: FakeBFL
) -> None:
    catcher.statuses = [500, 503]
    configure(fake, task_seconds=0.01, webhook_retry_scale=0.02)
    _submit(fake, webhook_url=catcher.url)
    fake.wait_for_deliveries(3)
    attempts = fake.deliveries
    assert [(d.attempt, d.status_code) for d in attempts] == [(1, 500), (2, 503), (3, 200)]
    # 1 s and 5 s scaled by 0.02: at least 0.02 s, then 0.1 s between attempts
    assert attempts[1].at - attempts[0].at >= 0.02
    assert attempts[2].at - attempts[1].at >= 0.1


def test_deliveries_are_dropped_after_the_third_retry(catcher: Catcher, fake: FakeBFL) -> None:
    catcher.statuses = [500] * 10
    configure(fake, task_seconds=0.01, webhook_retry_scale=0.002)
    _submit(fake, webhook_url=catcher.url)
    fake.wait_for_deliveries(4)
    # a fifth attempt would come at the latest 30 s × 0.002 = 0.06 s later
    time.sleep(0.2)
    assert [d.attempt for d in fake.deliveries] == [1, 2, 3, 4]
    assert len(catcher.received) == 4
    assert not any(d.ok for d in fake.deliveries)


def test_connection_errors_are_recorded_and_retried(fake: FakeBFL) -> None:
    configure(fake, task_seconds=0.01, webhook_retry_scale=0.001)
    _submit(fake, webhook_url="http://127.0.0.1:9/nobody-listens")
    fake.wait_for_deliveries(4)
    assert all(d.status_code is None and d.error for d in fake.deliveries)


def test_duplicate_webhooks_repeat_a_delivery_that_was_acknowledged(
    catcher: Catcher, fake: FakeBFL
) -> None:
    configure(fake, task_seconds=0.01, duplicate_webhooks=1)
    _submit(fake, webhook_url=catcher.url, webhook_secret="k")
    fake.wait_for_deliveries(2)
    assert [d.duplicate for d in fake.deliveries] == [False, True]
    assert catcher.received[0][1] == catcher.received[1][1]


def test_only_loopback_urls_are_delivered_to(fake: FakeBFL) -> None:
    configure(fake, task_seconds=0.01)
    task_id = _submit(fake, webhook_url="https://example.com/hook")["id"]
    assert fake.undeliverable == [task_id]
    assert fake.deliveries == []


def test_deliver_webhooks_false_switches_deliveries_off(catcher: Catcher) -> None:
    with FakeBFL(task_seconds=0.01, deliver_webhooks=False) as fake:
        _submit(fake, webhook_url=catcher.url)
        with client_for(fake) as api:
            wait_final(api, next(iter(fake.tasks)))
    assert fake.deliveries == []
    assert catcher.received == []


@pytest.mark.parametrize("shape", ["async", "webhook"])
def test_webhook_submission_answer_shapes(catcher: Catcher, shape: str) -> None:
    with FakeBFL(webhook_response_shape=shape, deliver_webhooks=False) as fake:  # type: ignore[arg-type]
        answer = _submit(fake, webhook_url=catcher.url)
    if shape == "async":
        assert "polling_url" in answer
    else:
        assert "polling_url" not in answer
        assert answer["webhook_url"] == catcher.url
        assert answer["status"] == "Pending"


def test_pending_deliveries_are_cancelled_on_exit(catcher: Catcher) -> None:
    with FakeBFL(task_seconds=60.0) as fake:
        _submit(fake, webhook_url=catcher.url)
    assert fake.deliveries == []


def test_wait_for_deliveries_times_out_saying_how_many_came(fake: FakeBFL) -> None:
    with pytest.raises(TimeoutError, match="0 of 1 webhook deliveries"):
        fake.wait_for_deliveries(1, timeout=0.05)
