"""Both clients end to end against FakeBFL over real sockets on 127.0.0.1: the issue's
snippet, faults, generate_many. Each test runs for `FluxFlex` and for `AsyncFluxFlex`."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn")
from flux_flex import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    DownloadError,
    FluxFlex,
    ModerationError,
    ProtocolError,
    RequestValidationError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    WaitTimeoutError,
)
from flux_flex._core.pricing import DEFAULT_OUTPUT_SIZE
from flux_flex.testing import FakeBFL
from PIL import Image

from tests.clients import Flavour

from .conftest import FAST_RETRY, FAST_SCHEDULE

SUBMIT = "/v1/flux-2-flex"
POLL = "/v1/get_result"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=0.05, api_key="test-key") as server:
        yield server


@pytest.fixture
def client(fake: FakeBFL, flavour: Flavour) -> FluxFlex:
    fake.reset()
    return flavour.client(
        api_key=fake.api_key, base_url=fake.base_url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    )


def png_file(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def closed_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_issue_snippet_runs_as_written(
    fake: FakeBFL, flavour: Flavour, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.reset()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BFL_API_KEY", fake.api_key)
    monkeypatch.setenv("BFL_BASE_URL", fake.base_url)
    png_file(tmp_path / "cat.png")
    url = "https://images.example/cat.png"
    callback = []

    client = flavour.client()
    job = client.submit(
        "a red fox in snow",
        width=1024,
        height=768,
        seed=42,
        steps=30,
        guidance=4.5,
        output_format="png",
        input_images=["cat.png", url],
    )
    assert job.id
    assert job.polling_url.startswith(fake.base_url)
    assert job.cost is not None
    assert job.input_mp is not None
    assert job.output_mp is not None
    result = job.wait(timeout=300, on_progress=callback.append)
    assert (result.url, result.seed, result.prompt) == (
        result.raw["result"]["sample"],
        42,
        "a red fox in snow",
    )
    path = result.save("fox.png")
    assert path == "fox.png"
    assert Image.open(path).format == "PNG"
    result = client.generate("a red fox", save_to="fox.png")
    assert result.path == "fox.png"  # the extension chose the format
    assert Image.open(result.path).size == DEFAULT_OUTPUT_SIZE  # the size left to the model
    job = client.job(job.id)
    snapshot = client.get_result(job.id)
    assert (snapshot.id, snapshot.status, snapshot.progress) == (job.id, "Ready", 1.0)
    client.close()

    body = fake.requests[0].json
    assert body["input_image_2"] == url
    assert "input_image" in body
    assert "input_image_3" not in body
    assert "prompt_upsampling" not in body
    assert "safety_tolerance" not in body
    assert callback
    assert all(0 <= (s.progress or 0) <= 1 for s in callback)
    assert fake.downloads
    assert not any(r.carried_key for r in fake.downloads)
    assert sorted(os.listdir(tmp_path)) == ["cat.png", "fox.png"]  # save_to's .png asked PNG


def test_post_503_is_sent_once(fake: FakeBFL, client: FluxFlex) -> None:
    fake.fail_next("POST", SUBMIT, status=503)
    with pytest.raises(ServerError) as info:
        client.submit("fox")
    assert fake.count("POST", SUBMIT) == 1
    assert info.value.task_may_exist


def test_dropped_post_is_not_resent(fake: FakeBFL, client: FluxFlex) -> None:
    fake.drop_next("POST", SUBMIT, create_task=True)
    with pytest.raises(APIConnectionError) as info:
        client.submit("fox")
    assert fake.count("POST", SUBMIT) == 1
    assert info.value.task_may_exist
    assert len(fake.tasks) == 1


class RefuseFirstConnect(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends the first request to a closed port (a real 'connection refused'), then passes;
    for either client."""

    def __init__(self, closed_port: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.async_inner = httpx.AsyncHTTPTransport()
        self.closed_port = closed_port
        self.refused = 0

    def _aim(self, request: httpx.Request) -> None:
        if self.refused == 0:
            self.refused += 1
            request.url = request.url.copy_with(port=self.closed_port)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._aim(request)
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._aim(request)
        return await self.async_inner.handle_async_request(request)

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.async_inner.aclose()


def test_refused_post_is_resent_and_succeeds(fake: FakeBFL, flavour: Flavour) -> None:
    fake.reset()
    transport = RefuseFirstConnect(closed_port())
    c = flavour.client(
        api_key=fake.api_key,
        base_url=fake.base_url,
        retry=FAST_RETRY,
        poll_schedule=FAST_SCHEDULE,
        http_client=flavour.http_client(transport=transport),
    )
    assert c.generate("fox").url
    assert transport.refused == 1
    assert fake.count("POST", SUBMIT) == 1
    assert len(fake.tasks) == 1


def test_429_retry_after_is_honoured(fake: FakeBFL, client: FluxFlex) -> None:
    fake.fail_next("POST", SUBMIT, status=429, headers={"Retry-After": "0.5"})
    client.submit("fox")
    posts = [r for r in fake.requests if r.method == "POST"]
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.45  # not resent before Retry-After


@pytest.mark.parametrize(
    ("prompt", "cls"),
    [
        ("fox [fail]", TaskFailedError),
        ("fox [moderate-request]", ModerationError),
        ("fox [moderate-content]", ModerationError),
    ],
)
def test_terminal_status_raises_within_one_poll(
    fake: FakeBFL, client: FluxFlex, prompt: str, cls: type[Exception]
) -> None:
    job = client.submit(prompt)
    with pytest.raises(cls) as info:
        job.wait(timeout=10)
    task = fake.task(job.id)
    late_polls = [r for r in fake.requests if r.path == POLL and r.at >= task.ready_at]
    # The poll that saw the final status may be stamped a hair before ready_at (the fake
    # reads its clock twice): never more than that one poll after the task ended.
    assert len(late_polls) <= 1
    assert job.id in str(info.value)


def test_unknown_task_raises_at_once(fake: FakeBFL, client: FluxFlex) -> None:
    with pytest.raises(TaskNotFoundError):
        client.job("no-such-task").wait(timeout=10)
    assert fake.count("GET", POLL) == 1


def test_wait_timeout_then_resume(flavour: Flavour) -> None:
    with FakeBFL(task_seconds=0.3) as slow:
        c = flavour.client(
            api_key=slow.api_key, base_url=slow.base_url, poll_schedule=FAST_SCHEDULE
        )
        job = c.submit("slow fox")
        with pytest.raises(WaitTimeoutError) as info:
            job.wait(timeout=0.05)
        assert info.value.task_id == job.id
        assert c.job(info.value.task_id).wait(timeout=10).url
        c.close()


def test_regional_polling_url_and_webhook_shape(flavour: Flavour) -> None:
    with FakeBFL(task_seconds=0.05, polling_base_url="http://localhost:{port}") as fake:
        c = flavour.client(
            api_key=fake.api_key,
            base_url=fake.base_url,
            poll_schedule=FAST_SCHEDULE,
            trusted_hosts=["LocalHost"],  # another host than the base URL's: trusted by name
        )
        job = c.submit("fox")
        assert job.polling_url.startswith("http://localhost:")
        assert c.wait(job, timeout=10).url
        c.close()
    with FakeBFL(
        task_seconds=0.05, webhook_response_shape="webhook", deliver_webhooks=False
    ) as fake:
        c = flavour.client(
            api_key=fake.api_key, base_url=fake.base_url, poll_schedule=FAST_SCHEDULE
        )
        job = c.submit("fox", webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret-hook")
        assert job.webhook_url == "http://127.0.0.1:9/hook"
        assert job.polling_url == f"{fake.base_url}/v1/get_result?id={job.id}"
        assert c.wait(job, timeout=10).url
        c.close()


def test_malformed_answers_are_protocol_errors(fake: FakeBFL, client: FluxFlex) -> None:
    fake.malformed_next("POST", SUBMIT, kind="missing_id")
    with pytest.raises(ProtocolError) as info:
        client.submit("fox")
    assert isinstance(info.value.raw, dict)
    assert "id" not in info.value.raw
    job = client.submit("fox")
    fake.malformed_next("GET", POLL, kind="invalid_json")
    with pytest.raises(ProtocolError) as info:
        job.wait(timeout=10)
    assert isinstance(info.value.raw, str)


def test_server_422_lists_fields(fake: FakeBFL, client: FluxFlex) -> None:
    detail = [{"loc": ["body", "width"], "msg": "too wide", "type": "less_than_equal"}]
    fake.fail_next("POST", SUBMIT, status=422, body={"detail": detail})
    with pytest.raises(RequestValidationError) as info:
        client.submit("fox", width=4096)
    assert info.value.fields == ["width"]
    assert info.value.status_code == 422


def test_cut_download_is_retried_and_broken_one_leaves_nothing(
    fake: FakeBFL, client: FluxFlex, tmp_path: Path
) -> None:
    result = client.generate("fox", output_format="png")
    fake.cut_download_next(times=1)
    path = result.save(tmp_path / "one")
    assert path == str(tmp_path / "one.png")
    assert Image.open(path).size == DEFAULT_OUTPUT_SIZE
    fake.cut_download_next(times=FAST_RETRY.max_retries + 1)
    with pytest.raises(DownloadError):
        result.save(tmp_path / "two.png")
    assert sorted(os.listdir(tmp_path)) == ["one.png"]


def test_expired_sample_says_download_promptly(flavour: Flavour, tmp_path: Path) -> None:
    with FakeBFL(task_seconds=0.02, sample_ttl=0.0) as fake:
        c = flavour.client(
            api_key=fake.api_key, base_url=fake.base_url, poll_schedule=FAST_SCHEDULE
        )
        result = c.generate("fox")
        with pytest.raises(DownloadError, match="download promptly") as info:
            result.save(tmp_path / "late.png")
        assert info.value.status_code == 403
        assert os.listdir(tmp_path) == []
        c.close()


def test_wrong_key_is_authentication_error(fake: FakeBFL, flavour: Flavour) -> None:
    c = flavour.client(api_key="wrong-key-123", base_url=fake.base_url)
    with pytest.raises(AuthenticationError) as info:
        c.submit("fox")
    assert "wrong-key-123" not in str(info.value)


def test_stalled_poll_is_cut_at_the_wait_deadline(fake: FakeBFL, client: FluxFlex) -> None:
    job = client.submit("fox")
    fake.stall_next("GET", POLL, seconds=5)
    with pytest.raises(WaitTimeoutError) as info:
        job.wait(timeout=0.3)
    # The poll itself was cut by the deadline (it did not wait for the stalled answer).
    assert isinstance(info.value.__cause__, APITimeoutError)
    assert info.value.task_id == job.id


# --- generate_many: one outcome per request, in order; bounded concurrency ------------------


def test_generate_many_100_with_failures(fake: FakeBFL, client: FluxFlex, tmp_path: Path) -> None:
    requests: list[str | dict[str, Any]] = []
    for i in range(100):
        if i % 10 == 3:
            requests.append(f"fox {i} [fail]")
        elif i % 25 == 7:
            requests.append({"prompt": f"fox {i} [moderate-content]", "seed": i})
        elif i % 20 == 0:
            requests.append({"prompt": f"fox {i}", "save_to": tmp_path / f"img{i}.png"})
        else:
            requests.append({"prompt": f"fox {i}", "seed": i})
    seen: list[int] = []
    outcomes = client.generate_many(
        requests, concurrency=24, on_result=lambda index, outcome: seen.append(index)
    )

    assert len(outcomes) == 100
    assert sorted(seen) == list(range(100))
    for i, outcome in enumerate(outcomes):
        if i % 10 == 3:
            assert isinstance(outcome, TaskFailedError), (i, outcome)
        elif i % 25 == 7:
            assert isinstance(outcome, ModerationError), (i, outcome)
        else:
            assert not isinstance(outcome, BaseException), (i, outcome)
            assert outcome.prompt == f"fox {i}"  # in order
    saved = [o.path for o in outcomes if not isinstance(o, BaseException) and o.path]
    assert len(saved) == 5
    assert all(Path(p).stat().st_size > 0 for p in saved)

    # Never more than 24 in flight: the fake refused nothing, and the task intervals agree.
    assert fake.rate_limited == 0
    events = sorted(
        [(t.created_at, 1) for t in fake.tasks.values()]
        + [(t.ready_at, -1) for t in fake.tasks.values()]
    )
    peak = running = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert len(fake.tasks) == 100
    assert 1 < peak <= 24
    # One pool of connections, reused (not one per request).
    assert fake.connections < 50  # ~400 requests over a pool of 32: reused, not one each


def test_generate_many_one_failure_never_cancels_others(fake: FakeBFL, client: FluxFlex) -> None:
    fake.fail_next("POST", SUBMIT, status=500)  # not resent: that item fails alone
    outcomes = client.generate_many(["a", "b", "c", "d [fail]"], concurrency=1)
    assert isinstance(outcomes[0], ServerError)
    assert [o.prompt for o in outcomes[1:3] if not isinstance(o, BaseException)] == ["b", "c"]
    assert type(outcomes[3]).__name__ == "TaskFailedError"
    # (an invalid request refuses the whole batch before anything is sent: tests/batch/)


def test_429s_are_retried_not_surfaced(flavour: Flavour) -> None:
    with FakeBFL(task_seconds=0.1, max_in_flight=2, retry_after=0.05) as small:
        client = flavour.client(
            api_key=small.api_key,
            base_url=small.base_url,
            poll_schedule=FAST_SCHEDULE,
            max_retries=20,
        )
        outcomes = client.generate_many([f"p{i}" for i in range(6)], concurrency=6)
        client.close()
        assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
        assert small.rate_limited > 0
