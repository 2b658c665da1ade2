"""The account: GET /v1/credits, a balance submissions draw down, 402, and error shapes."""

from __future__ import annotations

import httpx
import pytest
from flux_flex.testing import DEFAULT_BALANCE, FakeBFL

from .conftest import CREDITS, RESULT, SUBMIT, configure

SQUARE = {"prompt": "p", "width": 1024, "height": 1024}  # 5.24 credits


def test_credits_answer_the_balance_and_need_the_key(fake: FakeBFL, api: httpx.Client) -> None:
    assert api.get(CREDITS).json() == {"credits": DEFAULT_BALANCE}
    assert DEFAULT_BALANCE >= 1000
    anonymous = httpx.get(fake.url(CREDITS))
    wrong = httpx.get(fake.url(CREDITS), headers={"x-key": "wrong"})
    assert (anonymous.status_code, wrong.status_code) == (401, 403)


def test_submissions_draw_the_balance_down_by_their_cost(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, balance=20.0)
    for _ in range(3):
        assert api.post(SUBMIT, json=SQUARE).json()["cost"] == 5.24
    assert api.get(CREDITS).json() == {"credits": 4.28}
    assert (fake.balance, fake.spent) == (4.28, 15.72)
    refused = api.post(SUBMIT, json=SQUARE)  # 5.24 > 4.28
    assert refused.status_code == 402
    assert "5.24" in refused.json()["detail"]
    assert "4.28" in refused.json()["detail"]
    assert len(fake.tasks) == 3  # no task for the refused one, and nothing charged
    assert api.get(CREDITS).json() == {"credits": 4.28}
    smaller = api.post(SUBMIT, json={"prompt": "p", "width": 1024, "height": 768})  # 3.93
    assert smaller.status_code == 200
    assert api.get(CREDITS).json() == {"credits": 0.35}


def test_a_cost_equal_to_the_balance_is_accepted(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, balance=5.24)
    assert api.post(SUBMIT, json=SQUARE).status_code == 200
    assert api.get(CREDITS).json() == {"credits": 0.0}


def test_reset_gives_the_credits_back(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, balance=10.0)
    api.post(SUBMIT, json=SQUARE)
    fake.reset()
    assert api.get(CREDITS).json() == {"credits": 10.0}


def test_the_guides_error_shape_is_selectable(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, error_shape="error", balance=1.0, task_seconds=600.0)
    payment = api.post(SUBMIT, json=SQUARE)
    assert payment.status_code == 402
    assert payment.json()["error"] == "insufficient_credits"
    assert payment.json()["details"] == {"required": 5.24, "available": 1.0}
    assert isinstance(payment.json()["message"], str)
    assert "detail" not in payment.json()

    missing = httpx.post(fake.url(SUBMIT), json=SQUARE)
    wrong = httpx.get(fake.url(RESULT), params={"id": "x"}, headers={"x-key": "nope"})
    assert (missing.status_code, missing.json()["error"]) == (401, "invalid_api_key")
    assert (wrong.status_code, wrong.json()["error"]) == (403, "invalid_api_key")

    configure(fake, balance=100.0, max_in_flight=1)
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 200
    limited = api.post(SUBMIT, json={"prompt": "p"})
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limit_exceeded")
    assert limited.json()["details"]["limit"] == 1

    unknown = api.get("/v1/nowhere")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    fake.fail_next("GET", RESULT, status=503)
    injected = api.get(RESULT, params={"id": "x"})
    assert (injected.status_code, injected.json()["error"]) == (503, "server_error")


def test_422_keeps_fastapis_shape_whatever_the_error_shape(
    fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, error_shape="error")
    refused = api.post(SUBMIT, json={"prompt": "p", "width": 1})
    assert refused.status_code == 422
    assert set(refused.json()) == {"detail"}
    assert refused.json()["detail"][0]["loc"] == ["body", "width"]


@pytest.mark.parametrize(
    ("status", "path"), [(401, SUBMIT), (402, SUBMIT), (404, "/nope"), (429, SUBMIT)]
)
def test_the_default_error_shape_is_fastapis_detail(
    status: int, path: str, fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, balance=1.0 if status == 402 else 1e6, max_in_flight=0 if status == 429 else 24)
    headers = {} if status == 401 else {"x-key": fake.api_key}
    answer = httpx.post(fake.url(path), json=SQUARE, headers=headers)
    if status == 404:
        answer = api.get(path)
    assert answer.status_code == status
    assert list(answer.json()) == ["detail"]
    assert isinstance(answer.json()["detail"], str)
