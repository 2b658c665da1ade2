"""The fake in-process, as a plain ASGI app behind httpx.ASGITransport (no socket)."""

from __future__ import annotations

import io

import httpx
import pytest
from flux_flex._core.pricing import DEFAULT_OUTPUT_SIZE
from flux_flex.testing import FakeBFL
from PIL import Image


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_asgi_app_serves_the_whole_flow_and_shares_the_record() -> None:
    fake = FakeBFL(task_seconds=0.0)
    transport = httpx.ASGITransport(app=fake.asgi_app())
    async with httpx.AsyncClient(
        transport=transport, base_url="http://fake.test", headers={"x-key": fake.api_key}
    ) as api:
        answer = (await api.post("/v1/flux-2-flex", json={"prompt": "p", "width": 64})).json()
        assert answer["polling_url"].startswith("http://fake.test/v1/get_result?id=")
        state = (await api.get(answer["polling_url"])).json()
        assert state["status"] == "Ready"
        sample = await api.get(state["result"]["sample"])
        assert Image.open(io.BytesIO(sample.content)).size == (64, DEFAULT_OUTPUT_SIZE[1])
    assert fake.count("*", "*") == 3
    assert list(fake.tasks) == [answer["id"]]
