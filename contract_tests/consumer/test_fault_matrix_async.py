"""Item 4, async client: the same faults, the same request counts, the same typed errors.

`AsyncFluxFlex` has its own driver (I/O and streaming to disk), so the faults whose handling
lives there are replayed against it over respx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx
from flux_flex.errors import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
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
)
from contract_tests.consumer.strategies import DELIVERY_HOST

SAMPLE_URL = f"{DELIVERY_HOST}/samples/task-1.png"
pytestmark = pytest.mark.anyio


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_post_5xx_is_sent_once(router: respx.MockRouter, status: int) -> None:
    count("fault (async): POST 5xx")
    route = router.post(SUBMIT_URL).respond(status, json={"detail": "hiccup"})
    async with async_wrapper() as client:
        with pytest.raises(ServerError) as caught:
            await client.submit("p")
    assert route.call_count == 1
    assert caught.value.task_may_exist


async def test_post_connect_error_is_resent(router: respx.MockRouter) -> None:
    count("fault (async): POST connect error, then success")
    route = router.post(SUBMIT_URL)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=accepted())]
    async with async_wrapper() as client:
        job = await client.submit("p")
    assert route.call_count == 2
    assert job.id == "task-1"


async def test_post_read_timeout_is_not_resent(router: respx.MockRouter) -> None:
    count("fault (async): POST read timeout")
    route = router.post(SUBMIT_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    async with async_wrapper() as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.submit("p")
    assert route.call_count == 1
    assert isinstance(caught.value, APIConnectionError)
    assert caught.value.task_may_exist


async def test_get_5xx_then_success(router: respx.MockRouter) -> None:
    count("fault (async): GET 5xx then success")
    poll = router.get(RESULT_URL)
    poll.side_effect = [httpx.Response(502), httpx.Response(200, json=ready())]
    async with async_wrapper() as client:
        result = await client.job("task-1").wait(timeout=5)
    assert poll.call_count == 2
    assert result.url == SAMPLE_URL


async def test_unknown_status_runs_on_and_not_found_ends_at_once(
    router: respx.MockRouter,
) -> None:
    count("fault (async): unknown status / Task not found")
    poll = router.get(RESULT_URL)
    poll.side_effect = [
        httpx.Response(200, json={"id": "task-1", "status": "Melted"}),
        httpx.Response(200, json=ready()),
    ]
    async with async_wrapper() as client:
        result = await client.job("task-1").wait(timeout=5)
        assert result.url == SAMPLE_URL
        assert poll.call_count == 2
        poll.side_effect = None
        poll.respond(200, json={"id": "task-1", "status": "Task not found"})
        with pytest.raises(TaskNotFoundError):
            await client.job("task-1").wait(timeout=5)
    assert poll.call_count == 3


async def test_poll_deadline_then_resume(router: respx.MockRouter) -> None:
    count("fault (async): poll deadline then resume")
    poll = router.get(RESULT_URL).respond(200, json={"id": "task-1", "status": "Pending"})
    async with async_wrapper() as client:
        with pytest.raises(WaitTimeoutError) as caught:
            await client.job("task-1").wait(timeout=0.05)
        assert caught.value.task_id == "task-1"
        poll.respond(200, json=ready())
        result = await client.job(caught.value.task_id).wait(timeout=5)
    assert result.id == "task-1"


def _left_in(directory: Path) -> list[str]:
    # A tiny directory listing after the client is done: no event loop work to block.
    return [p.name for p in directory.iterdir()]


class _CutStream(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield PNG_1X1[:20]
        raise httpx.ReadError("connection reset mid-body")


async def test_download_cut_mid_stream_leaves_no_file(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    count("fault (async): download cut mid-stream")
    router.get(RESULT_URL).respond(200, json=ready())
    sample = router.get(SAMPLE_URL).mock(
        side_effect=lambda request: httpx.Response(200, stream=_CutStream())
    )
    async with async_wrapper() as client:
        result = await client.job("task-1").wait(timeout=5)
        with pytest.raises(DownloadError):
            await result.save(tmp_path / "fox.png")
    assert sample.call_count >= 1
    assert "x-key" not in sample.calls.last.request.headers
    assert _left_in(tmp_path) == []


async def test_expired_sample_is_a_download_error(router: respx.MockRouter, tmp_path: Path) -> None:
    count("fault (async): sample URL expired")
    router.get(RESULT_URL).respond(200, json=ready())
    sample = router.get(SAMPLE_URL).respond(403)
    async with async_wrapper() as client:
        result = await client.job("task-1").wait(timeout=5)
        with pytest.raises(DownloadError) as caught:
            await result.save(tmp_path / "fox.png")
    assert sample.call_count == 1
    assert caught.value.status_code == 403
    assert _left_in(tmp_path) == []
