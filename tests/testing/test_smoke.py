"""The fixture from the plugin gives a running fake: submit, poll to Ready, download."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from flux_flex.testing import FakeBFL
from PIL import Image


@pytest.mark.fake_bfl(task_seconds=0.1)
def test_fixture_serves_a_full_flow(fake_bfl: FakeBFL) -> None:
    with httpx.Client(headers={"x-key": fake_bfl.api_key}) as api:
        submitted = api.post(
            fake_bfl.url("/v1/flux-2-flex"), json={"prompt": "fox", "width": 128, "height": 64}
        )
        assert submitted.status_code == 200
        polling_url = submitted.json()["polling_url"]
        for _ in range(200):
            state = api.get(polling_url).json()
            if state["status"] != "Pending":
                break
            time.sleep(0.02)
    assert state["status"] == "Ready"
    image = httpx.get(state["result"]["sample"])
    assert Image.open(io.BytesIO(image.content)).size == (128, 64)
    assert fake_bfl.config.task_seconds == 0.1
