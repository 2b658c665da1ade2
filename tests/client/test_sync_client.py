"""The sync client against respx: exact requests, retries, errors, downloads, secrets."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from flux_flex import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    FluxFlex,
    ModerationError,
    ProtocolError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    WaitTimeoutError,
)

from .conftest import FAST_RETRY, FAST_SCHEDULE, JPEG, PNG

API = "https://api.bfl.ai"
EU_POLL = "https://api.eu.bfl.ai/v1/get_result"
SAMPLE = "https://delivery.example/abc/sample.png?sig=zzz"
KEY = "sk-test-SECRET-1234"


def ready(task_id: str = "t1", url: str = SAMPLE) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": task_id,
            "status": "Ready",
            "result": {"sample": url, "seed": 7, "prompt": "fox"},
        },
    )


def pending(task_id: str = "t1", progress: float | None = None) -> httpx.Response:
    return httpx.Response(200, json={"id": task_id, "status": "Pending", "progress": progress})


def accepted(task_id: str = "t1") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": task_id,
            "polling_url": f"{EU_POLL}?id={task_id}",
            "cost": 5.0,
            "input_mp": 0.0,
            "output_mp": 1.0,
        },
    )


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> Iterator[FluxFlex]:
    with FluxFlex(api_key=KEY, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the driver's sleeps instead of sleeping (no test depends on wall-clock time)."""
    recorded: list[float] = []
    monkeypatch.setattr("flux_flex._drivers.time.sleep", recorded.append)
    return recorded


def test_submit_sends_only_what_was_set(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(f"{API}/v1/flux-2-flex").mock(return_value=accepted())
    job = client.submit(
        "a red fox",
        width=1024,
        height=0,
        seed=42,
        steps=30,
        guidance=4.5,
        output_format="png",
        input_images=["https://x.example/cat.png", PNG],
    )
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "prompt": "a red fox",
        "width": 1024,
        "seed": 42,
        "steps": 30,
        "guidance": 4.5,
        "output_format": "png",
        "input_image": "https://x.example/cat.png",
        "input_image_2": base64.b64encode(PNG).decode(),
    }
    assert request.headers["x-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert (job.id, job.polling_url, job.cost, job.input_mp, job.output_mp) == (
        "t1",
        f"{EU_POLL}?id=t1",
        5.0,
        0.0,
        1.0,
    )


def test_full_path_polls_regional_url_and_downloads_without_key(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    mock.post(f"{API}/v1/flux-2-flex").mock(return_value=accepted())
    poll = mock.get(EU_POLL, params={"id": "t1"}).mock(side_effect=[pending(progress=0.5), ready()])
    sample = mock.get(SAMPLE).mock(return_value=httpx.Response(200, content=JPEG))
    seen: list[Any] = []
    result = client.generate("fox", save_to=tmp_path / "fox.png", on_progress=seen.append)
    assert poll.call_count == 2
    assert all(c.request.headers["x-key"] == KEY for c in poll.calls)
    assert "x-key" not in sample.calls.last.request.headers
    assert (result.url, result.seed, result.prompt) == (SAMPLE, 7, "fox")
    assert result.path == str(tmp_path / "fox.jpg")  # the real format wins
    assert Path(result.path).read_bytes() == JPEG
    assert os.listdir(tmp_path) == ["fox.jpg"]
    assert [(s.status, s.progress) for s in seen] == [("Pending", 0.5), ("Ready", None)]


def test_no_key_on_download_even_if_users_client_sets_it(
    mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(SAMPLE).mock(return_value=httpx.Response(200, content=PNG))
    mock.get(EU_POLL).mock(return_value=ready())
    with FluxFlex(api_key=KEY, http_client=httpx.Client(headers={"x-key": KEY})) as c:
        result = c.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
        assert result.save(tmp_path) == str(tmp_path / "t1.png")
    assert "x-key" not in mock.calls.last.request.headers


def test_post_503_is_sent_once(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(f"{API}/v1/flux-2-flex").mock(
        return_value=httpx.Response(503, json={"detail": "busy"})
    )
    with pytest.raises(ServerError) as info:
        client.submit("fox")
    assert route.call_count == 1
    assert info.value.task_may_exist
    assert info.value.status_code == 503
    assert "not resent" in str(info.value)


def test_post_read_timeout_is_not_resent(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(f"{API}/v1/flux-2-flex").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError) as info:
        client.submit("fox")
    assert route.call_count == 1
    assert info.value.task_may_exist


def test_post_connect_error_is_resent(
    mock: respx.MockRouter, client: FluxFlex, sleeps: list[float]
) -> None:
    route = mock.post(f"{API}/v1/flux-2-flex").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ConnectError("refused"), accepted()]
    )
    assert client.submit("fox").id == "t1"
    assert route.call_count == 3
    assert len(sleeps) == 2


def test_connect_errors_beyond_budget_surface(
    mock: respx.MockRouter, client: FluxFlex, sleeps: list[float]
) -> None:
    route = mock.post(f"{API}/v1/flux-2-flex").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        client.submit("fox")
    assert route.call_count == FAST_RETRY.max_retries + 1
    assert not info.value.task_may_exist


def test_429_retry_after_is_honoured(
    mock: respx.MockRouter, client: FluxFlex, sleeps: list[float]
) -> None:
    route = mock.post(f"{API}/v1/flux-2-flex").mock(
        side_effect=[
            httpx.Response(429, json={"detail": "busy"}, headers={"Retry-After": "1"}),
            accepted(),
        ]
    )
    assert client.submit("fox").id == "t1"
    assert route.call_count == 2
    assert sleeps == [1.0]


def test_429_beyond_budget_is_rate_limit_error(
    mock: respx.MockRouter, client: FluxFlex, sleeps: list[float]
) -> None:
    mock.post(f"{API}/v1/flux-2-flex").mock(
        return_value=httpx.Response(429, json={"detail": "busy"}, headers={"Retry-After": "2"})
    )
    with pytest.raises(RateLimitError) as info:
        client.submit("fox")
    assert info.value.retry_after == 2.0


def test_get_is_retried_on_5xx_and_broken_links(
    mock: respx.MockRouter, client: FluxFlex, sleeps: list[float]
) -> None:
    route = mock.get(EU_POLL).mock(
        side_effect=[
            httpx.Response(502),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("x"),
            ready(),
        ]
    )
    assert client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5).url == SAMPLE
    assert route.call_count == 4


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("Request Moderated", ModerationError),
        ("Content Moderated", ModerationError),
        ("Error", TaskFailedError),
        ("Task not found", TaskNotFoundError),
    ],
)
def test_terminal_status_raises_within_one_poll(
    mock: respx.MockRouter, client: FluxFlex, status: str, cls: type[Exception]
) -> None:
    route = mock.get(f"{API}/v1/get_result").mock(
        return_value=httpx.Response(200, json={"id": "t1", "status": status})
    )
    with pytest.raises(cls) as info:
        client.job("t1").wait(timeout=30)
    assert route.call_count == 1
    assert route.calls.last.request.url.params["id"] == "t1"
    assert "t1" in str(info.value)


def test_malformed_json_is_protocol_error_with_raw(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    mock.post(f"{API}/v1/flux-2-flex").mock(return_value=httpx.Response(200, content=b"{oops"))
    with pytest.raises(ProtocolError) as info:
        client.submit("fox")
    assert info.value.raw == "{oops"


def test_wait_deadline_raises_with_task_id(mock: respx.MockRouter, tmp_path: Path) -> None:
    mock.get(f"{API}/v1/get_result").mock(return_value=pending())
    with (
        FluxFlex(api_key=KEY, poll_schedule=FAST_SCHEDULE) as c,
        pytest.raises(WaitTimeoutError) as info,
    ):
        c.wait("t1", timeout=0.1)
    assert info.value.task_id == "t1"
    assert "client.job('t1')" in str(info.value)


def test_get_result_is_one_poll_and_returns_final_statuses(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    route = mock.get(f"{API}/v1/get_result").mock(
        return_value=httpx.Response(200, json={"id": "t1", "status": "Error", "progress": 80})
    )
    snapshot = client.get_result("t1")
    assert (snapshot.status, snapshot.progress, route.call_count) == ("Error", 0.8, 1)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_expired_sample_is_download_error(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path, status: int
) -> None:
    mock.get(EU_POLL).mock(return_value=ready())
    mock.get(SAMPLE).mock(return_value=httpx.Response(status))
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    with pytest.raises(DownloadError) as info:
        result.save(tmp_path / "x.png")
    assert info.value.status_code == status
    assert "download promptly" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_broken_transfer_leaves_no_partial_file(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path, sleeps: list[float]
) -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield PNG[:10]
            raise httpx.ReadError("link lost")

    mock.get(EU_POLL).mock(return_value=ready())
    route = mock.get(SAMPLE).mock(side_effect=lambda request: httpx.Response(200, stream=Broken()))
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    with pytest.raises(DownloadError):
        result.save(tmp_path / "x.png")
    assert route.call_count == FAST_RETRY.max_retries + 1
    assert os.listdir(tmp_path) == []


def test_auth_error(mock: respx.MockRouter, client: FluxFlex) -> None:
    mock.post(f"{API}/v1/flux-2-flex").mock(
        return_value=httpx.Response(401, json={"detail": "bad key"})
    )
    with pytest.raises(AuthenticationError, match="BFL_API_KEY"):
        client.submit("fox")


def test_secrets_never_in_repr_str_or_logs(
    mock: respx.MockRouter, client: FluxFlex, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "whsec-VERY-SECRET"
    mock.post(f"{API}/v1/flux-2-flex").mock(
        return_value=httpx.Response(
            422,
            json={
                "detail": [
                    {"loc": ["body", "webhook_secret"], "msg": f"bad {secret} {KEY}", "type": "x"}
                ]
            },
        )
    )
    caplog.set_level(logging.DEBUG, logger="flux_flex")
    with pytest.raises(RequestValidationError) as info:
        client.submit("fox", webhook_url="https://me.example/h", webhook_secret=secret)
    assert any(r.name == "flux_flex" for r in caplog.records)
    for text in (repr(client), str(client), str(info.value), repr(info.value), caplog.text):
        assert KEY not in text
        assert secret not in text


def test_users_http_client_is_used_and_left_open(mock: respx.MockRouter) -> None:
    hooked: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: hooked.append(r.method)]})
    mock.post(f"{API}/v1/flux-2-flex").mock(return_value=accepted())
    with FluxFlex(api_key=KEY, http_client=http) as c:
        c.submit("fox")
    assert hooked == ["POST"]
    assert not http.is_closed
    http.close()


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        FluxFlex()
    assert "BFL_API_KEY" in str(info.value)
    assert "api_key=" in str(info.value)
    monkeypatch.setenv("BFL_API_KEY", KEY)
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9/")
    assert FluxFlex().base_url == "http://127.0.0.1:9"
    assert FluxFlex(region="eu").base_url == "https://api.eu.bfl.ai"
    assert FluxFlex(region="us").base_url == "https://api.us.bfl.ai"
    with pytest.raises(ConfigurationError, match="region"):
        FluxFlex(region="mars")
    with pytest.raises(ConfigurationError):
        FluxFlex(timeout=0)


class OneDelivery:
    """A CompletionSource that has (or gets) one payload."""

    def __init__(self, payload: Mapping[str, Any] | None = None) -> None:
        self.payload = payload
        self.arrived = threading.Event()
        if payload is not None:
            self.arrived.set()

    def deliver(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload
        self.arrived.set()

    def delivered(self, task_id: str) -> Mapping[str, Any] | None:
        return self.payload if self.payload and self.payload["id"] == task_id else None

    def wait_delivered(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        self.arrived.wait(timeout)
        return self.delivered(task_id)

    async def wait_delivered_async(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        import anyio

        with anyio.move_on_after(timeout):
            while not self.arrived.is_set():  # noqa: ASYNC110 - a threading.Event, set from any thread
                await anyio.sleep(0.005)
        return self.delivered(task_id)


def test_webhook_delivery_means_zero_polls(mock: respx.MockRouter, client: FluxFlex) -> None:
    poll = mock.get(EU_POLL).mock(return_value=pending())
    source = OneDelivery({"id": "t1", "status": "Ready", "result": {"sample": SAMPLE, "seed": 3}})
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5, webhook=source)
    assert (result.url, result.seed, poll.call_count) == (SAMPLE, 3, 0)


def test_webhook_error_payload_raises(mock: respx.MockRouter, client: FluxFlex) -> None:
    source = OneDelivery({"id": "t1", "status": "Error", "error": "GPU fell over"})
    with pytest.raises(TaskFailedError, match="GPU fell over"):
        client.wait("t1", timeout=5, webhook=source)


def test_lost_webhook_falls_back_to_polling(mock: respx.MockRouter, client: FluxFlex) -> None:
    poll = mock.get(f"{API}/v1/get_result").mock(side_effect=[pending(), ready()])
    result = client.wait("t1", timeout=5, webhook=OneDelivery(), webhook_grace=0.02)
    assert result.url == SAMPLE
    assert poll.call_count == 2


def test_late_webhook_ends_the_wait_between_polls(mock: respx.MockRouter, client: FluxFlex) -> None:
    source = OneDelivery()

    def answer(request: httpx.Request) -> httpx.Response:
        source.deliver({"id": "t1", "status": "Ready", "result": {"sample": SAMPLE}})
        return pending()

    poll = mock.get(f"{API}/v1/get_result").mock(side_effect=answer)
    result = client.wait("t1", timeout=5, webhook=source, webhook_grace=0.01)
    assert result.url == SAMPLE
    assert poll.call_count == 1
