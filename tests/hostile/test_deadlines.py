"""Deadlines hold in wall time whatever the server does: drip-fed headers and bodies, stalls,
endless 429s. Each bound is generous (T + MARGIN); the promise is T + 1 s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux_flex import (
    APITimeoutError,
    AsyncFluxFlex,
    DownloadError,
    FluxFlex,
    RateLimitError,
    RetryPolicy,
    WaitTimeoutError,
)
from flux_flex._deadline_network import installed

from tests.clients import Flavour
from tests.hostile import POLL, SUBMIT, Api, HostileServer, handlers, png
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE, KEY, MARGIN

PENDING = b'{"id": "task-1", "status": "Pending", "progress": 0.25}'
DRIPS = {
    "headers": handlers.drip_headers(200, PENDING, rate=2),
    "body": handlers.drip_body(200, PENDING, rate=2),
    "stall": handlers.stall(30),
}


def client(server: HostileServer, **options: Any) -> FluxFlex:
    settings: dict[str, Any] = {"poll_schedule": FAST_SCHEDULE, "retry": FAST_RETRY}
    return FluxFlex(api_key=KEY, base_url=server.url, **{**settings, **options})


def async_client(server: HostileServer, **options: Any) -> AsyncFluxFlex:
    settings: dict[str, Any] = {"poll_schedule": FAST_SCHEDULE, "retry": FAST_RETRY}
    return AsyncFluxFlex(api_key=KEY, base_url=server.url, **{**settings, **options})


def either(flavour: Flavour, server: HostileServer, **options: Any) -> FluxFlex:
    """`client` or `async_client`, as the `flavour` fixture (tests/conftest.py) says."""
    built = async_client(server, **options) if flavour.is_async else client(server, **options)
    return flavour.adopt(built)


@pytest.mark.parametrize("attack", list(DRIPS))
def test_a_slow_poll_cannot_stretch_a_wait(
    server: HostileServer, api: Api, attack: str, flavour: Flavour
) -> None:
    # Before: a poll fed one byte a second held wait(timeout=5) for 64 s (each read came
    # well within the 30 s read timeout).
    server.route("GET", POLL, DRIPS[attack])
    timeout = 1.0
    with either(flavour, server) as c:
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as caught:
            c.job("task-1").wait(timeout=timeout)
        elapsed = time.monotonic() - started
    assert timeout - 0.1 <= elapsed < timeout + MARGIN
    assert caught.value.task_id == "task-1"
    assert caught.value.last_status is None  # no poll was ever answered
    assert "no poll was answered" in str(caught.value)
    assert server.count("GET", POLL) >= 1


def test_the_wait_names_the_last_status_it_saw(server: HostileServer, api: Api) -> None:
    server.route("GET", POLL, handlers.json_body({"id": "task-1", "status": "Generating"}))
    with client(server) as c, pytest.raises(WaitTimeoutError) as caught:
        c.job("task-1").wait(timeout=0.3)
    assert caught.value.last_status == "Generating"
    assert "last status: Generating" in str(caught.value)


def test_the_client_timeout_bounds_a_whole_exchange(server: HostileServer, api: Api) -> None:
    # The submission's answer drips in one byte every 0.2 s: no single read is slow, the
    # exchange as a whole is. It is cut at the client's timeout, and not resent (billed).
    answer = b'{"id": "task-1", "polling_url": "http://127.0.0.1:9/v1/get_result?id=task-1"}'
    server.route("POST", SUBMIT, handlers.drip_headers(200, answer, rate=5))
    with client(server, timeout=1.0) as c:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            c.submit("a fox")
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + MARGIN
    assert caught.value.task_may_exist
    assert server.count("POST", SUBMIT) == 1


@pytest.mark.parametrize("retry_after", ["86400", "30"])
def test_a_retry_after_longer_than_the_time_left_fails_at_once(
    server: HostileServer, api: Api, retry_after: str
) -> None:
    # Before: Retry-After 86400 held generate(timeout=10) for 240 s (4 resends 60 s apart).
    # "30" is within retry_after_max but not within the deadline.
    server.route("POST", SUBMIT, handlers.too_many_requests(retry_after))
    with client(server, retry=RetryPolicy(max_retries=4, retry_after_max=60)) as c:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            c.generate("a fox", timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert caught.value.retry_after == float(retry_after)
    assert server.count("POST", SUBMIT) == 1
    assert server.created_tasks == []


def test_a_retry_after_beyond_retry_after_max_is_not_waited_for_even_without_a_deadline(
    server: HostileServer, api: Api
) -> None:
    # submit() alone has no deadline; sleeping retry_after_max (60 s) and resending early
    # would only earn another 429.
    server.route("POST", SUBMIT, handlers.too_many_requests("86400"))
    with client(server, retry=RetryPolicy(max_retries=4, retry_after_max=60)) as c:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            c.submit("a fox")
    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == 86400
    assert "86400" in str(caught.value)
    assert server.count("POST", SUBMIT) == 1


@pytest.mark.anyio
async def test_a_poll_retry_after_beyond_the_deadline_fails_at_once_with_the_task_id(
    server: HostileServer, api: Api
) -> None:
    server.route("GET", POLL, handlers.too_many_requests("30"))
    async with async_client(server, retry=RetryPolicy(retry_after_max=60)) as c:
        job = await c.submit("a fox")
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            await job.wait(timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert caught.value.retry_after == 30
    assert caught.value.task_id == job.id
    assert f"client.job('{job.id}').wait()" in str(caught.value)
    assert server.count("GET", POLL) == 1


def test_endless_429s_use_the_time_left_then_time_out(server: HostileServer, api: Api) -> None:
    # No Retry-After: backoffs of ~2 s would overrun a 1 s wait; they are shortened so the
    # time left is used for more polls instead of giving up at the first one.
    server.route("GET", POLL, handlers.too_many_requests(None))
    patient = RetryPolicy(max_retries=50, backoff_initial=2.0, backoff_max=2.0)
    timeout = 1.0
    with client(server, retry=patient) as c:
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as caught:
            c.job("task-1").wait(timeout=timeout)
        elapsed = time.monotonic() - started
    assert timeout - 0.2 <= elapsed < timeout + MARGIN
    assert isinstance(caught.value.__cause__, RateLimitError)
    assert server.count("GET", POLL) >= 3


def test_a_reset_poll_is_resent(server: HostileServer, api: Api) -> None:
    with client(server) as c:
        job = c.submit("a fox")
        server.route("GET", POLL, handlers.sequence(handlers.reset(), api.poll))
        assert c.wait(job, timeout=5).url
    assert server.count("GET", POLL) == 2


SLOW_PNG = handlers.drip_body(200, png(4, 4) + bytes(200), rate=20, content_type="image/png")


def test_generate_with_save_to_keeps_one_deadline(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    server.route("GET", "/samples/*", SLOW_PNG)
    timeout = 1.0
    with client(server) as c:
        started = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            c.generate("a fox", timeout=timeout, save_to=tmp_path / "fox.png")
        elapsed = time.monotonic() - started
    assert elapsed < timeout + MARGIN
    assert caught.value.task_id == "task-1"
    assert "deadline" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("into", ["file", "memory"])
def test_a_drip_fed_sample_is_cut_at_download_timeout(
    server: HostileServer, api: Api, tmp_path: Path, into: str, flavour: Flavour
) -> None:
    # Before: save() with client timeout 10 took 156 s. The download has its own bound,
    # resends included; read() as save().
    with either(flavour, server, timeout=10, download_timeout=1.0) as c:
        result = c.generate("a fox")
        server.route("GET", "/samples/*", SLOW_PNG)
        started = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            result.save(tmp_path / "fox.png") if into == "file" else result.read()
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + MARGIN
    assert "download_timeout (1 s)" in str(caught.value)
    assert caught.value.task_id == result.id
    assert list(tmp_path.iterdir()) == []


def test_a_slow_but_steady_download_within_its_bound_succeeds(
    server: HostileServer, api: Api, tmp_path: Path
) -> None:
    # The control: the same drip, a bound that fits it (about 0.5 s of bytes).
    server.route("GET", "/samples/*", handlers.drip_body(200, png(2, 2), rate=200))
    with client(server, download_timeout=10) as c:
        path = c.generate("a fox", save_to=tmp_path / "fox.png").path
    assert path is not None
    assert Path(path).read_bytes() == png(2, 2)


def test_our_clients_and_plain_httpx_clients_passed_in_get_the_deadline(
    server: HostileServer, api: Api
) -> None:
    # Pins the reach into httpx/httpcore internals: if an upgrade moves them, this fails.
    with client(server) as c:
        assert installed(c._http)
    with httpx.Client() as mine:
        c = client(server, http_client=mine)
        assert installed(mine)
        server.route("GET", POLL, DRIPS["headers"])
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError):
            c.job("task-1").wait(timeout=1.0)
        assert time.monotonic() - started < 1.0 + MARGIN
        # The wrapper does nothing outside flux-flex: the user's own slow request is theirs.
        server.route("GET", "/mine", handlers.drip_headers(200, b"{}", rate=200))
        assert mine.get(f"{server.url}/mine").json() == {}
