"""The endpoint page, replayed against the fake with plain HTTP: its flow, its example body,
and every bound it states (accepted at the edge, refused just past it)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import RESULT, SUBMIT, poll_until_final

# The body of the page's curl example, verbatim (its placeholders included).
PAGE_EXAMPLE_BODY: dict[str, Any] = {
    "prompt": "ein fantastisches bild",
    "prompt_upsampling": True,
    "input_image": "<string>",
    "input_image_2": "<string>",
    "input_image_3": "<string>",
    "input_image_4": "<string>",
    "input_image_5": "<string>",
    "input_image_6": "<string>",
    "input_image_7": "<string>",
    "input_image_8": "<string>",
    "input_image_blob_path": "<string>",
    "seed": 42,
    "width": 65,
    "height": 65,
    "guidance": 5,
    "steps": 50,
    "safety_tolerance": 2,
    "output_format": "jpeg",
    "webhook_url": "<string>",
    "webhook_secret": "<string>",
}


def test_flow_submit_poll_download_gives_an_image_of_the_requested_size(
    api: httpx.Client, provider_fake: FakeBFL
) -> None:
    body = {"prompt": "ein fantastisches bild", "seed": 42, "width": 320, "height": 192}
    body |= {"guidance": 5, "steps": 50, "safety_tolerance": 2, "output_format": "png"}
    submitted = api.post(SUBMIT, json=body)
    assert submitted.status_code == 200, submitted.text
    answer = submitted.json()
    assert set(answer) >= {"id", "polling_url", "cost", "input_mp", "output_mp"}
    assert answer["polling_url"].startswith(provider_fake.base_url + RESULT)

    final = poll_until_final(api, answer["polling_url"])
    assert final["status"] == "Ready"
    assert final["result"]["prompt"] == body["prompt"]
    assert final["result"]["seed"] == 42

    # The sample URL is fetched without the key, as the real delivery host requires.
    with httpx.Client() as anonymous:
        sample = anonymous.get(final["result"]["sample"])
    assert sample.status_code == 200
    assert sample.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(sample.content))
    assert image.format == "PNG"
    assert image.size == (320, 192)


def test_page_example_body_is_refused_on_webhook_url_only(api: httpx.Client) -> None:
    refused = api.post(SUBMIT, json=PAGE_EXAMPLE_BODY)
    assert refused.status_code == 422
    errors = refused.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "webhook_url"]]
    assert {"msg", "type"} <= set(errors[0])


def test_page_example_body_with_a_real_webhook_url_is_accepted(api: httpx.Client) -> None:
    body = PAGE_EXAMPLE_BODY | {"webhook_url": "http://127.0.0.1:9/hook"}
    accepted = api.post(SUBMIT, json=body)
    assert accepted.status_code == 200, accepted.text


# (field, value at the bound, value just past it), from the page's "Required range" lines.
# safety_tolerance: the page's prose says 0..6, its stated range (and the spec) 0..5.
BOUNDS: list[tuple[str, Any, Any]] = [
    ("width", 64, 63),
    ("height", 64, 63),
    ("guidance", 1.5, 1.49),
    ("guidance", 10, 10.01),
    ("steps", 1, 0),
    ("steps", 50, 51),
    ("safety_tolerance", 0, -1),
    ("safety_tolerance", 5, 6),
]

_URL_HEAD = "http://127.0.0.1:9/"


def _url_of_length(length: int) -> str:
    return _URL_HEAD + "a" * (length - len(_URL_HEAD))


@pytest.mark.parametrize(
    ("field", "edge", "past"), BOUNDS, ids=[f"{f}={e}|{p}" for f, e, p in BOUNDS]
)
def test_bound_is_accepted_at_its_edge_and_refused_just_past_it(
    api: httpx.Client, field: str, edge: Any, past: Any
) -> None:
    at_edge = api.post(SUBMIT, json={"prompt": "bounds", field: edge})
    assert at_edge.status_code == 200, at_edge.text
    past_edge = api.post(SUBMIT, json={"prompt": "bounds", field: past})
    assert past_edge.status_code == 422, past_edge.text
    assert [e["loc"] for e in past_edge.json()["detail"]] == [["body", field]]


def test_webhook_url_length_bounds_1_to_2083(api: httpx.Client) -> None:
    longest = _url_of_length(2083)
    assert len(longest) == 2083
    assert api.post(SUBMIT, json={"prompt": "p", "webhook_url": longest}).status_code == 200
    assert api.post(SUBMIT, json={"prompt": "p", "webhook_url": "a:"}).status_code == 200
    for too_long_or_empty in (_url_of_length(2084), ""):
        refused = api.post(SUBMIT, json={"prompt": "p", "webhook_url": too_long_or_empty})
        assert refused.status_code == 422, len(too_long_or_empty)
        assert refused.json()["detail"][0]["loc"] == ["body", "webhook_url"]


@pytest.mark.parametrize("field", ["width", "height"])
def test_zero_width_or_height_lets_the_model_choose(api: httpx.Client, field: str) -> None:
    # The lenient reading, the fake's default (docs/api-facts.md#width-and-height-0); the
    # strict one is in test_width_height_zero.py.
    assert api.post(SUBMIT, json={"prompt": "p", field: 0}).status_code == 200
    refused = api.post(SUBMIT, json={"prompt": "p", field: -1})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", field]


# The page lists jpeg and png; the vendor's 2026 document adds webp (a documented deviation).
@pytest.mark.parametrize(
    ("value", "accepted"), [("jpeg", True), ("png", True), ("webp", True), ("gif", False)]
)
def test_output_format_is_jpeg_png_or_webp(api: httpx.Client, value: str, accepted: bool) -> None:
    answer = api.post(SUBMIT, json={"prompt": "p", "output_format": value})
    assert answer.status_code == (200 if accepted else 422)


def test_prompt_is_required(api: httpx.Client) -> None:
    refused = api.post(SUBMIT, json={"seed": 1})
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}
    ]
