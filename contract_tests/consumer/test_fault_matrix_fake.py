"""Item 4 over real sockets: `FakeBFL` injects each fault; the wrapper's answer and how many
requests reached the server are checked exactly. A billed POST is never sent twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from flux_flex import FluxFlex, RetryPolicy
from flux_flex.errors import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    ModerationError,
    ProtocolError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    WaitTimeoutError,
)
from flux_flex.testing import DEFAULT_MARKERS, DELIVERY_PATH, FakeBFL

from contract_tests.consumer.cases import count
from contract_tests.consumer.harness import wrapper

SUBMIT = "/v1/flux-2-flex"
POLL = "/v1/get_result"
SLOW = "[slow]"


def _task_seconds(body: dict[str, Any]) -> float:
    return 0.5 if SLOW in str(body.get("prompt", "")) else 0.05


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=_task_seconds, api_key="fake-key", deliver_webhooks=False) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBFL) -> Iterator[FakeBFL]:
    server.reset()
    yield server
    server.clear_faults()


def client_for(fake: FakeBFL, *, timeout: float = 5.0, retries: int = 3) -> FluxFlex:
    retry = RetryPolicy(max_retries=retries, backoff_initial=0.005, backoff_max=0.01)
    return wrapper(api_key=fake.api_key, base_url=fake.base_url, retry=retry, timeout=timeout)


def test_the_happy_path_sends_one_post_and_no_key_to_the_sample(
    fake: FakeBFL, tmp_path: Path
) -> None:
    count("fault (fake): control, happy path")
    with client_for(fake) as client:
        result = client.generate("a fox", width=64, height=80, save_to=tmp_path / "fox.png")
    assert fake.count("POST", SUBMIT) == 1
    assert result.path is not None
    from PIL import Image

    with Image.open(result.path) as image:
        assert image.size == (64, 80)
    assert fake.downloads
    assert not any(r.carried_key for r in fake.downloads)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_post_5xx_creates_a_task_but_is_not_resent(fake: FakeBFL, status: int) -> None:
    count("fault (fake): POST 5xx after the task was created")
    fake.fail_next("POST", SUBMIT, status=status, create_task=True)
    with client_for(fake) as client, pytest.raises(ServerError) as caught:
        client.submit("a fox")
    assert fake.count("POST", SUBMIT) == 1
    assert len(fake.tasks) == 1  # billed once, and only once
    assert caught.value.task_may_exist


def test_post_dropped_connection_is_not_resent(fake: FakeBFL) -> None:
    count("fault (fake): POST connection dropped")
    fake.drop_next("POST", SUBMIT, create_task=True)
    with client_for(fake) as client, pytest.raises(APIConnectionError) as caught:
        client.submit("a fox")
    assert fake.count("POST", SUBMIT) == 1
    assert caught.value.task_may_exist


def test_post_read_timeout_is_not_resent(fake: FakeBFL) -> None:
    count("fault (fake): POST read timeout")
    fake.stall_next("POST", SUBMIT, seconds=1.0)
    with client_for(fake, timeout=0.25) as client, pytest.raises(APITimeoutError) as caught:
        client.submit("a fox")
    assert fake.count("POST", SUBMIT) == 1
    assert caught.value.task_may_exist
    # The stalled request still reaches the API: exactly one billed task comes of it, which
    # is why the client may not resend. (Waiting for it also keeps it out of the next test.)
    deadline = time.monotonic() + 10
    while not fake.tasks and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake.tasks) == 1


@pytest.mark.parametrize("headers", [None, {"Retry-After": "0"}], ids=["no-header", "seconds"])
def test_post_429_is_resent_once_and_succeeds(
    fake: FakeBFL, headers: dict[str, str] | None
) -> None:
    count("fault (fake): POST 429 then success")
    fake.fail_next("POST", SUBMIT, status=429, headers=headers)
    with client_for(fake) as client:
        job = client.submit("a fox")
    assert fake.count("POST", SUBMIT) == 2
    assert list(fake.tasks) == [job.id]


def test_post_429_with_an_http_date_is_resent_once(fake: FakeBFL) -> None:
    count("fault (fake): POST 429 with an HTTP-date Retry-After")
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    fake.fail_next("POST", SUBMIT, status=429, headers={"Retry-After": when})
    with client_for(fake) as client:
        job = client.submit("a fox")
    assert fake.count("POST", SUBMIT) == 2
    assert list(fake.tasks) == [job.id]


def test_the_fakes_own_rate_limit_is_waited_out() -> None:
    # Not injected: the fake's in-flight limit answers 429 with Retry-After until a slot frees.
    count("fault (fake): POST 429 from the in-flight limit")
    with (
        FakeBFL(task_seconds=0.3, max_in_flight=1, retry_after=0.2) as fake,
        client_for(fake) as client,
    ):
        first = client.submit("one")
        second = client.submit("two")
        assert fake.rate_limited >= 1
        assert fake.count("POST", SUBMIT) == 2 + fake.rate_limited
        assert sorted(fake.tasks) == sorted([first.id, second.id])


@pytest.mark.parametrize("status", [500, 502, 503])
def test_get_5xx_then_success(fake: FakeBFL, status: int) -> None:
    count("fault (fake): GET 5xx then success")
    with client_for(fake) as client:
        job = client.submit("a fox")
        fake.fail_next("GET", POLL, status=status, times=2)
        result = job.wait(timeout=10)
    assert result.id == job.id
    assert fake.count("POST", SUBMIT) == 1
    assert fake.count("GET", POLL) >= 3


def test_get_timeout_then_success(fake: FakeBFL) -> None:
    count("fault (fake): GET timeout then success")
    with client_for(fake, timeout=0.25) as client:
        job = client.submit("a fox")
        fake.stall_next("GET", POLL, seconds=1.0)
        result = job.wait(timeout=10)
    assert result.id == job.id
    assert fake.count("POST", SUBMIT) == 1
    assert fake.count("GET", POLL) >= 2


@pytest.mark.parametrize("kind", ["invalid_json", "missing_id"])
def test_malformed_submission_answer_is_a_protocol_error(fake: FakeBFL, kind: Any) -> None:
    count("fault (fake): malformed submission answer")
    fake.malformed_next("POST", SUBMIT, kind=kind)
    with client_for(fake) as client, pytest.raises(ProtocolError):
        client.submit("a fox")
    assert fake.count("POST", SUBMIT) == 1


def test_malformed_poll_answer_is_a_protocol_error(fake: FakeBFL) -> None:
    count("fault (fake): malformed poll answer")
    with client_for(fake) as client:
        job = client.submit("a fox")
        fake.malformed_next("GET", POLL, kind="invalid_json")
        with pytest.raises(ProtocolError) as caught:
            job.wait(timeout=10)
    assert caught.value.task_id == job.id
    assert fake.count("POST", SUBMIT) == 1


@pytest.mark.parametrize(
    ("marker", "error"),
    [
        ("[moderate-request]", ModerationError),
        ("[moderate-content]", ModerationError),
        ("[fail]", TaskFailedError),
    ],
)
def test_final_statuses_raise_at_once(fake: FakeBFL, marker: str, error: type[Exception]) -> None:
    count("fault (fake): final status")
    with client_for(fake) as client:
        job = client.submit(f"a fox {marker}")
        with pytest.raises(error) as caught:
            job.wait(timeout=10)
        assert caught.value.task_id == job.id  # type: ignore[attr-defined]
        snapshot = client.get_result(job.id)
    assert snapshot.status == DEFAULT_MARKERS[marker]  # one poll reports, never raises
    assert fake.count("POST", SUBMIT) == 1


def test_task_not_found(fake: FakeBFL) -> None:
    count("fault (fake): Task not found")
    with client_for(fake) as client, pytest.raises(TaskNotFoundError) as caught:
        client.job("no-such-task").wait(timeout=10)
    assert caught.value.task_id == "no-such-task"
    assert fake.count("GET", POLL) == 1


def test_poll_deadline_carries_the_id_and_the_job_resumes(fake: FakeBFL) -> None:
    count("fault (fake): poll deadline then resume")
    with client_for(fake) as client:
        job = client.submit(f"a fox {SLOW}")
        with pytest.raises(WaitTimeoutError) as caught:
            job.wait(timeout=0.05)
        assert caught.value.task_id == job.id
        result = client.job(caught.value.task_id).wait(timeout=10)
    assert result.id == job.id
    assert fake.count("POST", SUBMIT) == 1


def test_expired_sample_is_a_download_error_and_leaves_no_file(
    fake: FakeBFL, tmp_path: Path
) -> None:
    count("fault (fake): sample URL 403")
    with client_for(fake) as client:
        result = client.submit("a fox").wait(timeout=10)
        fake.fail_next("GET", DELIVERY_PATH, status=403)
        with pytest.raises(DownloadError) as caught:
            result.save(tmp_path / "fox.png")
    assert caught.value.status_code == 403
    assert list(tmp_path.iterdir()) == []
    assert not any(r.carried_key for r in fake.downloads)


def test_download_cut_mid_stream_leaves_no_file(fake: FakeBFL, tmp_path: Path) -> None:
    count("fault (fake): download cut mid-stream, every attempt")
    with client_for(fake) as client:
        result = client.submit("a fox", width=256, height=256).wait(timeout=10)
        fake.cut_download_next(fraction=0.3, times=20)
        with pytest.raises(DownloadError):
            result.save(tmp_path / "fox.png")
    assert list(tmp_path.iterdir()) == [], "a partial file was left behind"
    assert fake.count("POST", SUBMIT) == 1


def test_download_cut_once_is_fetched_again_whole(fake: FakeBFL, tmp_path: Path) -> None:
    # A GET is safe to repeat: one cut costs a second download, and the file is whole.
    count("fault (fake): download cut mid-stream, once")
    with client_for(fake) as client:
        result = client.submit("a fox", width=256, height=256).wait(timeout=10)
        whole = result.read()
        fake.cut_download_next(fraction=0.3)
        path = Path(result.save(tmp_path / "fox"))
    assert path.read_bytes() == whole
    assert list(tmp_path.iterdir()) == [path]
