"""Both clients against respx: exact requests, retries, errors, downloads, secrets.

Each test runs for `FluxFlex` and for `AsyncFluxFlex` (the `client` and `flavour` fixtures).
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
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
    RetryPolicy,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    WaitTimeoutError,
)

from tests.clients import Flavour, TwoWayStream

from .answers import (
    EU_POLL,
    KEY,
    POLL,
    SAMPLE,
    SUBMIT,
    OneDelivery,
    accepted,
    pending,
    ready,
    stamped,
)
from .conftest import FAST_RETRY, FAST_SCHEDULE, JPEG, PNG, WEBP


def test_submit_sends_only_what_was_set(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(SUBMIT).mock(return_value=accepted())
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
    mock.post(SUBMIT).mock(return_value=accepted())
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


def test_submit_wait_save_and_read(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    post = mock.post(SUBMIT).mock(return_value=accepted())
    mock.get(EU_POLL).mock(side_effect=[pending(progress=50), ready()])
    sample = mock.get(SAMPLE).mock(return_value=httpx.Response(200, content=WEBP))
    job = client.submit("fox", seed=1, input_images=[PNG])
    assert set(json.loads(post.calls.last.request.content)) == {"prompt", "seed", "input_image"}
    seen: list[Any] = []
    result = job.wait(timeout=5, on_progress=seen.append)
    assert [s.progress for s in seen] == [0.5, None]  # 50 is a percentage
    assert result.save(tmp_path / "fox.png") == str(tmp_path / "fox.webp")
    assert "x-key" not in sample.calls.last.request.headers
    assert result.read() == WEBP


def test_no_key_on_download_even_if_users_client_sets_it(
    mock: respx.MockRouter, flavour: Flavour, tmp_path: Path
) -> None:
    mock.get(SAMPLE).mock(return_value=httpx.Response(200, content=PNG))
    mock.get(EU_POLL).mock(return_value=ready())
    with flavour.client(api_key=KEY, http_client=flavour.http_client(headers={"x-key": KEY})) as c:
        result = c.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
        assert result.save(tmp_path) == str(tmp_path / "t1.png")
    assert "x-key" not in mock.calls.last.request.headers


def test_post_503_is_sent_once(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(SUBMIT).mock(return_value=httpx.Response(503, json={"detail": "busy"}))
    with pytest.raises(ServerError) as info:
        client.submit("fox")
    assert route.call_count == 1
    assert info.value.task_may_exist
    assert info.value.status_code == 503
    assert "not resent" in str(info.value)


def test_post_read_timeout_is_not_resent(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(SUBMIT).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError) as info:
        client.submit("fox")
    assert route.call_count == 1
    assert info.value.task_may_exist


def test_post_connect_error_is_resent_after_a_backoff(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    at: list[float] = []
    refused = httpx.ConnectError("refused")
    mock.post(SUBMIT).mock(side_effect=stamped(refused, refused, accepted(), at=at))
    paced = client.with_options(retry=RetryPolicy(max_retries=3, backoff_initial=0.1))
    assert paced.submit("fox").id == "t1"
    # Each resend waits its jittered backoff first: at least half of 0.1 s, then of 0.2 s.
    gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
    assert len(gaps) == 2
    assert min(gaps) >= 0.05


def test_connect_errors_beyond_budget_surface(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(SUBMIT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as info:
        client.submit("fox")
    assert route.call_count == FAST_RETRY.max_retries + 1
    assert not info.value.task_may_exist


def test_429_retry_after_is_honoured(mock: respx.MockRouter, client: FluxFlex) -> None:
    # Retry-After 0.25 s against a backoff of at most 0.02 s: a resend sooner ignored it.
    at: list[float] = []
    busy = httpx.Response(429, json={"detail": "busy"}, headers={"Retry-After": "0.25"})
    mock.post(SUBMIT).mock(side_effect=stamped(busy, accepted(), at=at))
    assert client.submit("fox").id == "t1"
    assert len(at) == 2
    assert at[1] - at[0] >= 0.24


def test_429_beyond_budget_is_rate_limit_error(mock: respx.MockRouter, client: FluxFlex) -> None:
    route = mock.post(SUBMIT).mock(
        return_value=httpx.Response(429, json={"detail": "busy"}, headers={"Retry-After": "0.05"})
    )
    with pytest.raises(RateLimitError) as info:
        client.submit("fox")
    assert route.call_count == FAST_RETRY.max_retries + 1
    assert info.value.retry_after == 0.05


def test_get_is_retried_on_5xx_and_broken_links(mock: respx.MockRouter, client: FluxFlex) -> None:
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
    route = mock.get(POLL).mock(
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
    mock.post(SUBMIT).mock(return_value=httpx.Response(200, content=b"{oops"))
    with pytest.raises(ProtocolError) as info:
        client.submit("fox")
    assert info.value.raw == "{oops"


def test_wait_deadline_raises_with_task_id(mock: respx.MockRouter, flavour: Flavour) -> None:
    mock.get(POLL).mock(return_value=pending())
    c = flavour.client(api_key=KEY, poll_schedule=FAST_SCHEDULE)
    with pytest.raises(WaitTimeoutError) as info:
        c.wait("t1", timeout=0.1)
    assert info.value.task_id == "t1"
    assert "client.job('t1')" in str(info.value)


def test_get_result_is_one_poll_and_returns_final_statuses(
    mock: respx.MockRouter, client: FluxFlex
) -> None:
    route = mock.get(POLL).mock(
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
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    mock.get(EU_POLL).mock(return_value=ready())
    route = mock.get(SAMPLE).mock(
        side_effect=lambda request: httpx.Response(
            200, stream=TwoWayStream(PNG[:10], error=httpx.ReadError("link lost"))
        )
    )
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    with pytest.raises(DownloadError):
        result.save(tmp_path / "x.png")
    assert route.call_count == FAST_RETRY.max_retries + 1
    assert os.listdir(tmp_path) == []


def test_auth_error(mock: respx.MockRouter, client: FluxFlex) -> None:
    mock.post(SUBMIT).mock(return_value=httpx.Response(401, json={"detail": "bad key"}))
    with pytest.raises(AuthenticationError, match="BFL_API_KEY"):
        client.submit("fox")


def test_secrets_never_in_repr_str_or_logs(
    mock: respx.MockRouter, client: FluxFlex, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "whsec-VERY-SECRET"
    mock.post(SUBMIT).mock(
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
    assert "***" in repr(client)
    for text in (repr(client), str(client), str(info.value), repr(info.value), caplog.text):
        assert KEY not in text
        assert secret not in text


def test_users_http_client_is_used_and_left_open(mock: respx.MockRouter, flavour: Flavour) -> None:
    hooked: list[str] = []
    http = flavour.http_client(event_hooks={"request": [lambda r: hooked.append(r.method)]})
    mock.post(SUBMIT).mock(return_value=accepted())
    with flavour.client(api_key=KEY, http_client=http) as c:
        c.submit("fox")
    assert hooked == ["POST"]
    assert not http.is_closed


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch, flavour: Flavour) -> None:
    with pytest.raises(ConfigurationError) as info:
        flavour.client()
    assert "BFL_API_KEY" in str(info.value)
    assert "api_key=" in str(info.value)
    monkeypatch.setenv("BFL_API_KEY", KEY)
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9/")
    assert flavour.client().base_url == "http://127.0.0.1:9"
    assert flavour.client(region="eu").base_url == "https://api.eu.bfl.ai"
    assert flavour.client(region="us").base_url == "https://api.us.bfl.ai"
    with pytest.raises(ConfigurationError, match="region"):
        flavour.client(region="mars")
    with pytest.raises(ConfigurationError):
        flavour.client(timeout=0)


def test_webhook_delivery_means_zero_polls(mock: respx.MockRouter, client: FluxFlex) -> None:
    poll = mock.get(EU_POLL).mock(return_value=pending())
    source = OneDelivery({"id": "t1", "status": "Ready", "result": {"sample": SAMPLE, "seed": 3}})
    result = client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5, webhook=source)
    assert (result.url, result.seed, poll.call_count) == (SAMPLE, 3, 0)


@pytest.mark.parametrize("field", ["error", "message"])
def test_webhook_error_payload_raises(mock: respx.MockRouter, client: FluxFlex, field: str) -> None:
    poll = mock.get(POLL).mock(return_value=pending())
    source = OneDelivery({"id": "t1", "status": "Error", field: "GPU fell over"})
    with pytest.raises(TaskFailedError, match="GPU fell over"):
        client.wait("t1", timeout=5, webhook=source)
    assert poll.call_count == 0


def test_lost_webhook_falls_back_to_polling(mock: respx.MockRouter, client: FluxFlex) -> None:
    poll = mock.get(POLL).mock(side_effect=[pending(), ready()])
    result = client.wait("t1", timeout=5, webhook=OneDelivery(), webhook_grace=0.02)
    assert result.url == SAMPLE
    assert poll.call_count == 2


def test_late_webhook_ends_the_wait_between_polls(mock: respx.MockRouter, client: FluxFlex) -> None:
    source = OneDelivery()

    def answer(request: httpx.Request) -> httpx.Response:
        source.deliver({"id": "t1", "status": "Ready", "result": {"sample": SAMPLE}})
        return pending()

    poll = mock.get(POLL).mock(side_effect=answer)
    result = client.wait("t1", timeout=5, webhook=source, webhook_grace=0.01)
    assert result.url == SAMPLE
    assert poll.call_count == 1
