"""A user's own tests often stub the API with `httpx.MockTransport` (respx does the same):
httpx reads such a response's body when it is built, so it has no raw stream left. The
client takes that body as it is, on both clients, for answers and for the image."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
from flux_flex import PollSchedule
from flux_flex.testing._images import render_sample

from tests.clients import Flavour

BASE = "https://api.test"
IMAGE = render_sample("a fox", 1, 8, 8, "png")


def handler(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(200, json={"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"})
    if request.url.path == "/v1/get_result":
        answer = {"id": "t1", "status": "Ready", "result": {"sample": f"{BASE}/img.png"}}
        # A stub that compresses its answer: httpx decoded it when the response was built.
        body = gzip.compress(json.dumps(answer).encode())
        return httpx.Response(200, content=body, headers={"content-encoding": "gzip"})
    return httpx.Response(200, content=IMAGE, headers={"content-type": "image/png"})


def test_a_mock_transport_answer_and_image_are_read(flavour: Flavour, tmp_path: Path) -> None:
    http = flavour.http_client(transport=httpx.MockTransport(handler))  # serves both clients
    client = flavour.client(
        api_key="k", base_url=BASE, http_client=http, poll_schedule=PollSchedule(initial=0.01)
    )
    result = client.generate("a fox", save_to=tmp_path / "fox.png")
    assert result.id == "t1"
    assert Path(result.path or "").read_bytes() == IMAGE
