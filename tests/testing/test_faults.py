"""Fault injection: statuses, dropped connections, stalls, malformed bodies, cut downloads."""

from __future__ import annotations

import json

import httpx
import pytest
from flux_flex.testing import DELIVERY_PATH, FakeBFL

from .conftest import RESULT, SUBMIT, configure, wait_final


def test_fail_next_answers_the_status_times_then_recovers(fake: FakeBFL, api: httpx.Client) -> None:
    fake.fail_next("POST", SUBMIT, status=503, times=2, headers={"Retry-After": "1"})
    first = api.post(SUBMIT, json={"prompt": "p"})
    second = api.post(SUBMIT, json={"prompt": "p"})
    third = api.post(SUBMIT, json={"prompt": "p"})
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["retry-after"] == "1"
    assert first.json() == {"detail": "Injected fault: 503."}
    assert len(fake.tasks) == 1
    assert [r.fault for r in fake.requests] == ["status", "status", None]


def test_faults_match_method_and_path_without_query_and_apply_in_order(
    fake: FakeBFL, api: httpx.Client
) -> None:
    fake.fail_next("GET", RESULT, status=502)
    fake.fail_next("GET", RESULT, status=500, body={"error": "x", "message": "y"})
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 200  # other path
    first = api.get(RESULT, params={"id": "a"})
    second = api.get(RESULT, params={"id": "b"})
    assert (first.status_code, second.status_code) == (502, 500)
    assert second.json() == {"error": "x", "message": "y"}
    assert api.get(RESULT, params={"id": "c"}).status_code == 200


def test_injected_429_counts_and_carries_headers(fake: FakeBFL, api: httpx.Client) -> None:
    fake.fail_next("POST", SUBMIT, status=429, headers={"Retry-After": "0"})
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 429
    assert fake.rate_limited == 1


@pytest.mark.parametrize("create_task", [False, True])
def test_status_fault_may_or_may_not_have_created_the_task(
    create_task: bool, fake: FakeBFL, api: httpx.Client
) -> None:
    fake.fail_next("POST", SUBMIT, status=500, create_task=create_task)
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 500
    assert len(fake.tasks) == int(create_task)


@pytest.mark.parametrize("create_task", [False, True])
def test_drop_closes_the_connection_without_an_answer(
    create_task: bool, fake: FakeBFL, api: httpx.Client
) -> None:
    fake.drop_next("POST", SUBMIT, create_task=create_task)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(SUBMIT, json={"prompt": "p"})
    assert len(fake.tasks) == int(create_task)
    assert fake.requests[-1].status is None
    # the next request, on a fresh connection, is served
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 200


def test_stall_delays_the_answer_past_a_client_timeout(fake: FakeBFL, api: httpx.Client) -> None:
    fake.stall_next("GET", RESULT, seconds=5.0)
    with pytest.raises(httpx.ReadTimeout):
        api.get(RESULT, params={"id": "x"}, timeout=0.2)
    assert api.get(RESULT, params={"id": "x"}).status_code == 200


def test_stall_then_answer_normally(fake: FakeBFL, api: httpx.Client) -> None:
    fake.stall_next("POST", SUBMIT, seconds=0.05)
    assert api.post(SUBMIT, json={"prompt": "p"}).status_code == 200
    assert fake.requests[0].fault == "stall"


def test_malformed_invalid_json(fake: FakeBFL, api: httpx.Client) -> None:
    fake.malformed_next("POST", SUBMIT)
    answer = api.post(SUBMIT, json={"prompt": "p"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        answer.json()
    assert len(fake.tasks) == 1  # the task exists, its answer broke


def test_malformed_missing_id(fake: FakeBFL, api: httpx.Client) -> None:
    fake.malformed_next("POST", SUBMIT, kind="missing_id")
    answer = api.post(SUBMIT, json={"prompt": "p"})
    assert answer.status_code == 200
    assert "id" not in answer.json()
    assert "polling_url" in answer.json()


def test_cut_download_sends_part_of_the_image_then_closes(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.01)
    task_id = api.post(SUBMIT, json={"prompt": "p", "width": 256, "height": 256}).json()["id"]
    url = wait_final(api, task_id)["result"]["sample"]
    fake.cut_download_next(fraction=0.3)
    with httpx.Client() as anonymous:
        with pytest.raises(httpx.RemoteProtocolError):
            anonymous.get(url)
        whole = anonymous.get(url)
    assert whole.status_code == 200
    assert int(whole.headers["content-length"]) == len(whole.content)


def test_fail_next_on_the_delivery_path_glob(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.01)
    task_id = api.post(SUBMIT, json={"prompt": "p"}).json()["id"]
    url = wait_final(api, task_id)["result"]["sample"]
    fake.fail_next("GET", DELIVERY_PATH, status=404)
    assert httpx.get(url).status_code == 404
    assert httpx.get(url).status_code == 200


def test_times_must_be_positive() -> None:
    with pytest.raises(ValueError, match="times"):
        FakeBFL().fail_next("GET", RESULT, times=0)


def test_drop_ignores_forwarded_for_headers(fake: FakeBFL, api: httpx.Client) -> None:
    fake.drop_next("GET", RESULT)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(RESULT, params={"id": "x"}, headers={"x-forwarded-for": "10.1.2.3"})
    assert fake.requests[-1].client is not None
    assert fake.requests[-1].client[0] == "127.0.0.1"
