"""Item 4 over respx: each fault, the exact number of requests sent, and the typed error.

No scenario may send a paid POST twice, except a connect error (the request never left)
and a 429 (the task was refused). Each cell runs for `FluxFlex` and for `AsyncFluxFlex`
(which has its own driver: its I/O and its streaming to disk), written once over the
`flavour` fixture of `tests.clients`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from flux_flex import FluxFlex, RetryPolicy
from flux_flex.errors import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    ProtocolError,
    RateLimitError,
    ServerError,
    TaskNotFoundError,
    WaitTimeoutError,
)

from contract_tests.consumer.cases import count
from contract_tests.consumer.harness import (
    PNG_1X1,
    RESULT_URL,
    SUBMIT_URL,
    accepted,
    async_wrapper,
    ready,
    wrapper,
)
from contract_tests.consumer.strategies import DELIVERY_HOST
from tests.clients import FLAVOURS, Flavour, TwoWayStream, skip_certificate_loading

SAMPLE_URL = f"{DELIVERY_HOST}/samples/task-1.png"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture(autouse=True)
def _no_certificate_loading(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    skip_certificate_loading(monkeypatch, tmp_path_factory.mktemp("empty"))


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    chosen = Flavour(request.param)
    try:
        yield chosen
    finally:
        chosen.close()


def build(flavour: Flavour, retry: RetryPolicy | None = None) -> FluxFlex:
    """The harness's client of the flavour (`wrapper` or `async_wrapper`)."""
    options = {} if retry is None else {"retry": retry}
    return flavour.adopt(async_wrapper(**options) if flavour.is_async else wrapper(**options))


@pytest.fixture
def client(flavour: Flavour) -> FluxFlex:
    return build(flavour)


def _posts(router: respx.MockRouter) -> int:
    return sum(1 for call in router.calls if call.request.method == "POST")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_post_5xx_is_sent_once_and_may_have_billed(
    router: respx.MockRouter, client: FluxFlex, status: int
) -> None:
    count("fault: POST 5xx")
    router.post(SUBMIT_URL).respond(status, json={"detail": "upstream hiccup"})
    with pytest.raises(ServerError) as caught:
        client.submit("p")
    assert _posts(router) == 1
    assert caught.value.status_code == status
    assert caught.value.task_may_exist


def test_post_connect_error_is_resent_and_succeeds(
    router: respx.MockRouter, client: FluxFlex
) -> None:
    count("fault: POST connect error, then success")
    route = router.post(SUBMIT_URL)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=accepted())]
    with client:
        job = client.submit("p")
    assert route.call_count == 2
    assert job.id == "task-1"


def test_post_connect_error_every_time_gives_up_after_the_budget(
    router: respx.MockRouter, flavour: Flavour
) -> None:
    count("fault: POST connect error, always")
    route = router.post(SUBMIT_URL).mock(side_effect=httpx.ConnectError("refused"))
    retry = RetryPolicy(max_retries=2, backoff_initial=0.001, backoff_max=0.002)
    client = build(flavour, retry)
    with pytest.raises(APIConnectionError) as caught:
        client.submit("p")
    assert route.call_count == 3
    assert not caught.value.task_may_exist
    assert not isinstance(caught.value, APITimeoutError)


@pytest.mark.parametrize(
    "fault",
    [httpx.ReadTimeout("slow"), httpx.WriteTimeout("slow"), httpx.ReadError("reset")],
    ids=["read-timeout", "write-timeout", "read-error"],
)
def test_post_lost_answer_is_not_resent(
    router: respx.MockRouter, client: FluxFlex, fault: Exception
) -> None:
    count("fault: POST answer lost (timeout / broken link)")
    route = router.post(SUBMIT_URL).mock(side_effect=fault)
    with pytest.raises(APIConnectionError) as caught:
        client.submit("p")
    assert route.call_count == 1
    assert caught.value.task_may_exist
    if isinstance(fault, httpx.TimeoutException):
        assert isinstance(caught.value, APITimeoutError)


def _sent_at(route: respx.Route, n: int) -> tuple[float, float]:
    """(monotonic, wall-clock) time at which answer ``n`` of ``route`` was produced."""
    extensions = route.calls[n].response.extensions
    return extensions["at"], extensions["wall"]


def _stamped(*responses: httpx.Response) -> Any:
    """A side effect answering ``responses`` in turn, stamping when each was sent."""
    queue = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        response = queue.pop(0)
        response.extensions["at"] = time.monotonic()
        response.extensions["wall"] = time.time()
        return response

    return answer


def test_post_429_without_retry_after_backs_off_and_resends(
    router: respx.MockRouter, client: FluxFlex
) -> None:
    count("fault: POST 429 without Retry-After")
    route = router.post(SUBMIT_URL)
    route.side_effect = [
        httpx.Response(429, json={"detail": "too many"}),
        httpx.Response(200, json=accepted()),
    ]
    with client:
        job = client.submit("p")
    assert route.call_count == 2
    assert job.id == "task-1"


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_post_429_honours_retry_after(
    router: respx.MockRouter, client: FluxFlex, form: str
) -> None:
    # A lower bound only: the resend must not come before the server said (no upper bound).
    count("fault: POST 429 with Retry-After")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    header = "1" if form == "seconds" else format_datetime(when, usegmt=True)
    route = router.post(SUBMIT_URL)
    route.side_effect = _stamped(
        httpx.Response(429, json={"detail": "too many"}, headers={"Retry-After": header}),
        httpx.Response(200, json=accepted()),
    )
    with client:
        job = client.submit("p")
    assert route.call_count == 2
    assert job.id == "task-1"
    (first, _), (second, second_wall) = _sent_at(route, 0), _sent_at(route, 1)
    if form == "seconds":
        assert second - first >= 0.95  # 1 s after the 429, not before
    else:
        assert second_wall >= when.timestamp() - 0.05  # not before the date the server gave


def test_post_429_every_time_raises_rate_limit_with_retry_after(
    router: respx.MockRouter, flavour: Flavour
) -> None:
    count("fault: POST 429, always")
    route = router.post(SUBMIT_URL).respond(
        429, json={"detail": "too many"}, headers={"Retry-After": "0"}
    )
    retry = RetryPolicy(max_retries=2, backoff_initial=0.001, backoff_max=0.002)
    client = build(flavour, retry)
    with pytest.raises(RateLimitError) as caught:
        client.submit("p")
    assert route.call_count == 3
    assert caught.value.retry_after == 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_get_5xx_then_success_is_retried(
    router: respx.MockRouter, client: FluxFlex, status: int
) -> None:
    count("fault: GET 5xx, then success")
    router.post(SUBMIT_URL).respond(200, json=accepted())
    poll = router.get(RESULT_URL)
    poll.side_effect = [
        httpx.Response(status, json={"detail": "hiccup"}),
        httpx.Response(200, json=ready()),
    ]
    with client:
        result = client.submit("p").wait(timeout=5)
    assert _posts(router) == 1
    assert poll.call_count == 2
    assert result.url == SAMPLE_URL


@pytest.mark.parametrize(
    "fault",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("cut")],
    ids=["timeout", "connect", "broken"],
)
def test_get_timeout_then_success_is_retried(
    router: respx.MockRouter, client: FluxFlex, fault: Exception
) -> None:
    count("fault: GET timeout/connection error, then success")
    router.post(SUBMIT_URL).respond(200, json=accepted())
    poll = router.get(RESULT_URL)
    poll.side_effect = [fault, httpx.Response(200, json=ready())]
    with client:
        result = client.submit("p").wait(timeout=5)
    assert _posts(router) == 1
    assert poll.call_count == 2
    assert result.id == "task-1"


@pytest.mark.parametrize("where", ["POST", "GET"])
def test_malformed_json_is_a_protocol_error(
    router: respx.MockRouter, client: FluxFlex, where: str
) -> None:
    count("fault: malformed JSON")
    garbage = b'{"id": "task-1", "polling_url": '
    if where == "POST":
        router.post(SUBMIT_URL).respond(200, content=garbage)
    else:
        router.post(SUBMIT_URL).respond(200, json=accepted())
        router.get(RESULT_URL).respond(200, content=garbage)
    with pytest.raises(ProtocolError) as caught:
        client.submit("p").wait(timeout=5)
    assert _posts(router) == 1
    assert "malformed" in str(caught.value).lower() or "json" in str(caught.value).lower()


def test_a_200_without_id_is_a_protocol_error_sent_once(
    router: respx.MockRouter, client: FluxFlex
) -> None:
    count("fault: 200 missing id")
    router.post(SUBMIT_URL).respond(200, json={"polling_url": f"{RESULT_URL}?id=x", "cost": 5})
    with pytest.raises(ProtocolError) as caught:
        client.submit("p")
    assert _posts(router) == 1
    assert caught.value.raw == {"polling_url": f"{RESULT_URL}?id=x", "cost": 5}


def test_an_unknown_status_means_still_running(router: respx.MockRouter, client: FluxFlex) -> None:
    # A status this client does not know (the vendor added two in 2026) is data, not an
    # error: the task is still running, and the wait goes on until a final status.
    count("fault: unknown status")
    router.post(SUBMIT_URL).respond(200, json=accepted())
    poll = router.get(RESULT_URL)
    poll.side_effect = [
        httpx.Response(200, json={"id": "task-1", "status": "Melted"}),
        httpx.Response(200, json={"id": "task-1", "status": "Melted", "progress": 0.5}),
        httpx.Response(200, json=ready()),
    ]
    seen: list[str] = []
    with client:
        result = client.submit("p").wait(timeout=5, on_progress=lambda s: seen.append(s.status))
    assert poll.call_count == 3
    assert seen == ["Melted", "Melted", "Ready"]
    assert result.url == SAMPLE_URL


def test_a_wait_on_an_unknown_status_times_out_naming_it(
    router: respx.MockRouter, client: FluxFlex
) -> None:
    count("fault: unknown status until the deadline")
    router.get(RESULT_URL).respond(200, json={"id": "task-1", "status": "Melted"})
    with pytest.raises(WaitTimeoutError) as caught:
        client.job("task-1").wait(timeout=0.2)
    assert caught.value.last_status == "Melted"
    assert "Melted" in str(caught.value)
    assert caught.value.task_id == "task-1"


def test_task_not_found_is_raised_at_once(router: respx.MockRouter, client: FluxFlex) -> None:
    count("fault: Task not found")
    poll = router.get(RESULT_URL).respond(200, json={"id": "gone", "status": "Task not found"})
    with pytest.raises(TaskNotFoundError) as caught:
        client.job("gone").wait(timeout=5)
    assert poll.call_count == 1
    assert caught.value.task_id == "gone"


def test_the_poll_deadline_carries_the_id_and_the_job_resumes(
    router: respx.MockRouter, client: FluxFlex
) -> None:
    count("fault: poll deadline, then resume")
    router.post(SUBMIT_URL).respond(200, json=accepted())
    poll = router.get(RESULT_URL).respond(200, json={"id": "task-1", "status": "Pending"})
    with client:
        job = client.submit("p")
        with pytest.raises(WaitTimeoutError) as caught:
            job.wait(timeout=0.05)
        assert caught.value.task_id == "task-1"
        assert "task-1" in str(caught.value)
        polled = poll.call_count
        assert polled >= 1
        poll.respond(200, json=ready())
        result = client.job(caught.value.task_id).wait(timeout=5)
    assert result.url == SAMPLE_URL
    assert _posts(router) == 1


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_sample_url_is_a_download_error(
    router: respx.MockRouter, client: FluxFlex, tmp_path: Path, status: int
) -> None:
    count("fault: sample URL expired")
    router.get(RESULT_URL).respond(200, json=ready())
    sample = router.get(SAMPLE_URL).respond(status, content=b"<Error>AccessDenied</Error>")
    with client:
        result = client.job("task-1").wait(timeout=5)
        with pytest.raises(DownloadError) as caught:
            result.save(tmp_path / "fox.png")
    assert sample.call_count == 1
    assert caught.value.status_code == status
    assert caught.value.task_id == "task-1"
    assert list(tmp_path.iterdir()) == []
    assert "x-key" not in sample.calls.last.request.headers


def test_a_download_cut_mid_stream_leaves_no_file(
    router: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    count("fault: download cut mid-stream")
    router.get(RESULT_URL).respond(200, json=ready())
    sample = router.get(SAMPLE_URL).mock(
        side_effect=lambda request: httpx.Response(
            200,
            headers={"content-length": str(len(PNG_1X1) * 10)},
            stream=TwoWayStream(PNG_1X1[:20], error=httpx.ReadError("connection reset mid-body")),
        )
    )
    target = tmp_path / "fox.png"
    with client:
        result = client.job("task-1").wait(timeout=5)
        with pytest.raises(DownloadError):
            result.save(target)
    assert sample.call_count >= 1
    assert "x-key" not in sample.calls.last.request.headers
    assert list(tmp_path.iterdir()) == [], "a partial file was left behind"


def test_a_complete_download_is_written_atomically(
    router: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    # The control for the two tests above: the same route, not cut, writes the file.
    count("fault: control download")
    router.get(RESULT_URL).respond(200, json=ready())
    router.get(SAMPLE_URL).respond(200, content=PNG_1X1)
    with client:
        path = client.job("task-1").wait(timeout=5).save(tmp_path / "fox.png")
    assert Path(path).read_bytes() == PNG_1X1
    assert [p.name for p in tmp_path.iterdir()] == [Path(path).name]
