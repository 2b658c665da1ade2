"""The request record (secrets masked), connection count, count(), reset(), the fixture."""

from __future__ import annotations

import threading

import httpx
import pytest
from flux_flex.testing import FakeBFL

from .conftest import RESULT, SUBMIT, client_for


def test_requests_are_recorded_with_secrets_masked(fake: FakeBFL, api: httpx.Client) -> None:
    body = {"prompt": "p", "webhook_url": "https://example.com/h", "webhook_secret": "hush"}
    api.post(SUBMIT, json=body, headers={"X-Webhook-Secret": "hush2"})
    api.get(RESULT, params={"id": "abc"})
    post, get = fake.requests
    assert (post.method, post.path, post.status) == ("POST", SUBMIT, 200)
    assert post.headers["x-key"] == "***"
    assert post.headers["x-webhook-secret"] == "***"
    assert post.json == {**body, "webhook_secret": "***"}
    assert fake.api_key not in repr(fake.requests)
    assert "hush" not in repr(fake.requests[0].headers) + repr(fake.requests[0].json)
    assert (get.method, get.path, get.query) == ("GET", RESULT, {"id": "abc"})
    assert get.carried_key


def test_connections_count_tcp_connections_not_requests(fake: FakeBFL) -> None:
    with client_for(fake) as api:  # keep-alive: one connection for three requests
        for _ in range(3):
            api.get(RESULT, params={"id": "x"})
    assert fake.connections == 1
    for _ in range(2):
        httpx.get(fake.url(RESULT), params={"id": "x"})  # a new connection each
    assert fake.connections == 3


def test_count_and_reset(fake: FakeBFL, api: httpx.Client) -> None:
    api.post(SUBMIT, json={"prompt": "p"})
    api.get(RESULT, params={"id": "x"})
    api.get(RESULT, params={"id": "y"})
    assert fake.count("GET", RESULT) == 2
    assert fake.count("POST", SUBMIT) == 1
    assert fake.count("*", "/v1/*") == 3
    fake.fail_next("GET", RESULT)
    fake.reset()
    assert (fake.requests, fake.tasks, fake.connections) == ([], {}, 0)
    assert api.get(RESULT, params={"id": "x"}).status_code == 200  # the fault went too


def test_recording_is_thread_safe(fake: FakeBFL) -> None:

    def hammer() -> None:
        with client_for(fake) as api:
            for _ in range(10):
                api.get(RESULT, params={"id": "x"})

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.count("GET", RESULT) == 40


def test_base_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeBFL().base_url


@pytest.mark.fake_bfl(task_seconds=0.123, max_in_flight=3)
def test_the_pytest_fixture_passes_marker_options(fake_bfl: FakeBFL) -> None:
    assert fake_bfl.config.task_seconds == 0.123
    assert fake_bfl.config.max_in_flight == 3
    assert httpx.get(fake_bfl.url(RESULT), params={"id": "x"}).status_code == 401
