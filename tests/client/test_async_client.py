"""The async driver against respx: the paths where it differs from the sync one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx
from flux_flex import AsyncFluxFlex, DownloadError, ServerError, TaskFailedError

from .conftest import FAST_RETRY, FAST_SCHEDULE, PNG, WEBP
from .test_sync_client import API, EU_POLL, KEY, SAMPLE, OneDelivery, accepted, pending, ready

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[AsyncFluxFlex]:
    async with AsyncFluxFlex(api_key=KEY, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY) as c:
        yield c


@respx.mock
async def test_async_submit_wait_save(client: AsyncFluxFlex, tmp_path: Path) -> None:
    post = respx.post(f"{API}/v1/flux-2-flex").mock(return_value=accepted())
    respx.get(EU_POLL).mock(side_effect=[pending(progress=50), ready()])
    sample = respx.get(SAMPLE).mock(return_value=httpx.Response(200, content=WEBP))
    job = await client.submit("fox", seed=1, input_images=[PNG])
    assert set(json.loads(post.calls.last.request.content)) == {"prompt", "seed", "input_image"}
    result = await job.wait(timeout=5)
    assert await result.save(tmp_path / "fox.png") == str(tmp_path / "fox.webp")
    assert "x-key" not in sample.calls.last.request.headers
    assert await result.read() == WEBP


@respx.mock
async def test_async_post_503_sent_once_and_connect_error_resent(client: AsyncFluxFlex) -> None:
    route = respx.post(f"{API}/v1/flux-2-flex").mock(return_value=httpx.Response(503))
    with pytest.raises(ServerError):
        await client.submit("fox")
    assert route.call_count == 1
    route.mock(side_effect=[httpx.ConnectError("refused"), accepted()])
    assert (await client.submit("fox")).id == "t1"
    assert route.call_count == 3


@respx.mock
async def test_async_429_is_retried(client: AsyncFluxFlex) -> None:
    route = respx.post(f"{API}/v1/flux-2-flex").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "0.01"}), accepted()]
    )
    assert (await client.submit("fox")).id == "t1"
    assert route.call_count == 2


@respx.mock
async def test_async_download_expired(client: AsyncFluxFlex, tmp_path: Path) -> None:
    respx.get(EU_POLL).mock(return_value=ready())
    respx.get(SAMPLE).mock(return_value=httpx.Response(410))
    result = await client.job("t1", polling_url=f"{EU_POLL}?id=t1").wait(timeout=5)
    with pytest.raises(DownloadError, match="download promptly"):
        await result.save(tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240


@respx.mock
async def test_async_webhook_zero_polls_and_error_payload(client: AsyncFluxFlex) -> None:
    poll = respx.get(f"{API}/v1/get_result").mock(return_value=pending())
    source = OneDelivery({"id": "t1", "status": "Ready", "result": {"sample": SAMPLE}})
    assert (await client.wait("t1", timeout=5, webhook=source)).url == SAMPLE
    failed = OneDelivery({"id": "t2", "status": "Error", "message": "no GPU"})
    with pytest.raises(TaskFailedError, match="no GPU"):
        await client.wait("t2", timeout=5, webhook=failed)
    assert poll.call_count == 0


async def test_async_repr_hides_key() -> None:
    async with AsyncFluxFlex(api_key=KEY) as c:
        assert KEY not in repr(c)
        assert "***" in repr(c)
