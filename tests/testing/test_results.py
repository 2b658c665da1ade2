"""Results: real images on a key-less delivery path, expiry, URLs, and pricing."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from flux_flex._core import pricing
from flux_flex.testing import FakeBFL, credits, megapixels
from PIL import Image

from .conftest import RESULT, SUBMIT, client_for, configure, poll_statuses, wait_final


def _sample(api: httpx.Client, **body: object) -> tuple[str, httpx.Response]:
    task_id = api.post(SUBMIT, json={"prompt": "fox", **body}).json()["id"]
    url = wait_final(api, task_id)["result"]["sample"]
    with httpx.Client() as anonymous:
        return url, anonymous.get(url)


@pytest.mark.parametrize(
    ("fmt", "pillow", "media"),
    [
        ("png", "PNG", "image/png"),
        ("jpeg", "JPEG", "image/jpeg"),
        ("webp", "WEBP", "image/webp"),
        (None, "JPEG", "image/jpeg"),
    ],
)
def test_sample_is_a_real_image_of_the_requested_size_and_format(
    fmt: str | None,
    pillow: str,
    media: str,
    fake: FakeBFL,
    api: httpx.Client,
) -> None:
    configure(fake, task_seconds=0.01)
    url, sample = _sample(api, width=200, height=136, output_format=fmt)
    image = Image.open(io.BytesIO(sample.content))
    assert (image.format, image.size) == (pillow, (200, 136))
    assert sample.headers["content-type"] == media
    assert url.endswith(f".{fmt or 'jpeg'}")


def test_absent_or_zero_size_gives_the_default_size(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.01, default_size=(96, 80))
    for body in ({}, {"width": 0, "height": 0}, {"width": None}):
        _, sample = _sample(api, **body)
        assert Image.open(io.BytesIO(sample.content)).size == (96, 80)


def test_image_is_deterministic_for_prompt_and_seed(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.01)
    first_url, first = _sample(api, seed=7, width=128, height=128, output_format="png")
    second_url, second = _sample(api, seed=7, width=128, height=128, output_format="png")
    _, other_seed = _sample(api, seed=8, width=128, height=128, output_format="png")
    assert first_url != second_url
    assert first.content == second.content
    assert other_seed.content != first.content


def test_sample_url_needs_no_key_and_the_record_says_whether_one_was_sent(
    fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=0.01)
    url, sample = _sample(api)
    assert sample.status_code == 200
    api.get(url)  # this client carries x-key: the record must show it
    downloads = fake.downloads
    assert [d.carried_key for d in downloads] == [False, True]
    assert next(iter(fake.tasks.values())).downloads == 2


def test_sample_url_expires_after_sample_ttl(fake: FakeBFL, api: httpx.Client) -> None:
    # A small image and a TTL of 1 s: rendering a megapixel can outlast a short TTL on a
    # loaded machine, and the fresh download must land inside it.
    configure(fake, task_seconds=0.01, sample_ttl=1.0)
    url, fresh = _sample(api, width=64, height=64)
    assert fresh.status_code == 200
    task = next(iter(fake.tasks.values()))
    time.sleep(max(0.0, task.sample_expires_at - time.monotonic()) + 0.01)
    assert httpx.get(url).status_code == 403
    assert task.sample_expires_at == pytest.approx(task.ready_at + 1.0)


def test_polling_and_delivery_urls_may_point_at_another_host_name() -> None:
    with (
        FakeBFL(
            task_seconds=0.01,
            polling_base_url="http://localhost:{port}",
            delivery_base_url="http://localhost:{port}/cdn",
        ) as fake,
        client_for(fake) as api,
    ):
        port = fake.base_url.rsplit(":", 1)[1]
        answer = api.post(SUBMIT, json={"prompt": "p"}).json()
        assert answer["polling_url"] == f"http://localhost:{port}/v1/get_result?id={answer['id']}"
        assert api.get(answer["polling_url"]).json()["id"] == answer["id"]
        sample = wait_final(api, answer["id"])["result"]["sample"]
        assert sample.startswith(f"http://localhost:{port}/cdn/delivery/")


def test_polling_url_is_absolute_and_points_back_at_the_fake(
    fake: FakeBFL, api: httpx.Client
) -> None:
    answer = api.post(SUBMIT, json={"prompt": "p"}).json()
    assert answer["polling_url"] == f"{fake.base_url}/v1/get_result?id={answer['id']}"


@pytest.mark.parametrize(
    ("width", "height", "output_mp", "cost"),
    [
        (1024, 1024, 1.05, 5.24),  # the vendor's own example
        (1024, 768, 0.79, 3.93),
        (1920, 1080, 2.07, 10.37),
        (2048, 2048, 4.19, 20.97),
        (64, 64, 0.0, 0.02),  # no floor: the vendor names none
    ],
)
def test_cost_and_megapixels_follow_the_vendors_pricing(
    width: int,
    height: int,
    output_mp: float,
    cost: float,
    fake: FakeBFL,
    api: httpx.Client,
) -> None:
    answer = api.post(SUBMIT, json={"prompt": "p", "width": width, "height": height}).json()
    assert (answer["output_mp"], answer["cost"], answer["input_mp"]) == (output_mp, cost, 0)
    assert fake.task(answer["id"]).cost == cost


def test_a_url_input_image_counts_as_the_assumed_megapixel(
    fake: FakeBFL, api: httpx.Client
) -> None:
    body = {"prompt": "edit", "width": 1024, "height": 1024, "input_image": "https://x/y.png"}
    answer = api.post(SUBMIT, json=body).json()
    # a URL input cannot be fetched offline: pricing.UNKNOWN_INPUT_MP (1 MP) is assumed
    assert pricing.UNKNOWN_INPUT_MP == 1.0
    assert (answer["input_mp"], answer["cost"]) == (1.0, 10.24)


def _b64_image(width: int, height: int, fmt: str) -> str:
    import base64

    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_base64_input_images_count_by_their_real_size(
    fmt: str, fake: FakeBFL, api: httpx.Client
) -> None:
    body = {
        "prompt": "edit",
        "width": 1024,
        "height": 1024,
        "input_image": _b64_image(2000, 1000, fmt),
        "input_image_3": "data:image/png;base64," + _b64_image(500, 400, "PNG"),
    }
    answer = api.post(SUBMIT, json=body).json()
    # 2.0 MP + 0.2 MP of inputs, 1.048576 MP out, 5 credits per MP
    assert (answer["input_mp"], answer["output_mp"], answer["cost"]) == (2.2, 1.05, 16.24)


def test_base64_input_image_sets_the_edit_size(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.01)
    _, sample = _sample(api, input_image=_b64_image(80, 72, "PNG"))
    assert Image.open(io.BytesIO(sample.content)).size == (80, 72)
    assert next(iter(fake.tasks.values())).input_mp == round(megapixels(80, 72), 2)


def test_the_ready_poll_carries_the_settled_cost(fake: FakeBFL, api: httpx.Client) -> None:
    configure(fake, task_seconds=0.05)
    submitted = api.post(SUBMIT, json={"prompt": "p", "width": 1024, "height": 1024}).json()
    answers = poll_statuses(api, submitted["id"])
    assert answers[-1]["status"] == "Ready"
    assert answers[-1]["cost"] == submitted["cost"] == 5.24
    assert all("cost" not in a for a in answers[:-1])  # running polls: the plain shape


@pytest.mark.parametrize(
    ("mode", "running", "ready"), [("always", True, True), ("never", False, False)]
)
def test_cost_on_poll_is_selectable(
    mode: str, running: bool, ready: bool, fake: FakeBFL, api: httpx.Client
) -> None:
    configure(fake, task_seconds=600.0, cost_on_poll=mode)
    slow = api.post(SUBMIT, json={"prompt": "p"}).json()
    assert ("cost" in api.get(RESULT, params={"id": slow["id"]}).json()) is running
    configure(fake, task_seconds=0.0)
    quick = api.post(SUBMIT, json={"prompt": "p"}).json()
    assert ("cost" in wait_final(api, quick["id"])) is ready
    assert "cost" not in api.get(RESULT, params={"id": "nope"}).json()


def test_credits_follow_the_core_pricing() -> None:
    assert megapixels(1024, 1024) == 1.048576
    assert credits(megapixels(1024, 1024)) == 5.24
    assert credits(0.01, [0.5, 0.6]) == 5.55  # linear, no rounding up
