"""Item 1, wrapper: keyword arguments drawn from the spec reach the wire exactly, nothing more."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.harness import (
    SUBMIT_URL,
    accepted,
    assert_contract_request,
    async_wrapper,
    wrapper,
)
from contract_tests.consumer.strategies import (
    API_KEY,
    IMAGE_FIELDS,
    body_to_submit_kwargs,
    expected_wrapper_body,
    http_urls,
    wrapper_request_bodies,
)


def test_wrapper_sends_exactly_the_body_it_was_given() -> None:
    with respx.mock() as router, httpx.Client() as http, wrapper(http) as client:
        route = router.post(SUBMIT_URL).respond(200, json=accepted())

        @settings(CONTRACT_SETTINGS, max_examples=200)
        @given(wrapper_request_bodies())
        def check(body: dict[str, Any]) -> None:
            count("request: wrapper, body drawn from the spec")
            route.reset()
            job = client.submit(**body_to_submit_kwargs(body))
            assert route.call_count == 1
            assert_contract_request(route.calls.last.request, expected_wrapper_body(body))
            assert job.id == "task-1"

        check()


@pytest.mark.anyio
async def test_async_wrapper_sends_exactly_the_body_it_was_given() -> None:
    # hypothesis cannot drive a coroutine directly: draw the bodies first, then send them.
    bodies: list[dict[str, Any]] = []

    @settings(CONTRACT_SETTINGS, max_examples=80)
    @given(wrapper_request_bodies())
    def draw(body: dict[str, Any]) -> None:
        bodies.append(body)

    draw()
    async with httpx.AsyncClient() as http, async_wrapper(http) as client:
        with respx.mock() as router:
            route = router.post(SUBMIT_URL).respond(200, json=accepted())
            for body in bodies:
                count("request: async wrapper, body drawn from the spec")
                route.reset()
                job = await client.submit(**body_to_submit_kwargs(body))
                assert route.call_count == 1
                assert_contract_request(route.calls.last.request, expected_wrapper_body(body))
                assert job.id == "task-1"


@pytest.mark.parametrize(
    ("kwargs", "sent"),
    [
        ({}, {}),
        ({"seed": 0}, {"seed": 0}),
        ({"width": 0, "height": 0}, {}),  # documented: 0 and absent mean the same
        ({"width": 64, "height": 0}, {"width": 64}),
        ({"output_format": "jpeg"}, {"output_format": "jpeg"}),
        ({"prompt_upsampling": False}, {"prompt_upsampling": False}),
        ({"safety_tolerance": 0}, {"safety_tolerance": 0}),
        ({"guidance": 5.0, "steps": 50}, {"guidance": 5.0, "steps": 50}),
    ],
    ids=repr,
)
def test_only_what_the_user_set_is_sent(kwargs: dict[str, Any], sent: dict[str, Any]) -> None:
    # Defaults (guidance 5, steps 50, jpeg, upsampling...) are the API's business; a value
    # the user set is sent even when it equals the default (or is falsy).
    count("request: wrapper, defaults not sent")
    with respx.mock() as router, wrapper() as client:
        route = router.post(SUBMIT_URL).respond(200, json=accepted())
        client.submit("a fox", **kwargs)
    assert json.loads(route.calls.last.request.content) == {"prompt": "a fox", **sent}


def test_eight_images_reach_the_request_as_eight_fields() -> None:
    count("request: wrapper, eight images")
    urls = [f"https://img.example/{n}.png" for n in range(8)]
    with respx.mock() as router, wrapper() as client:
        route = router.post(SUBMIT_URL).respond(200, json=accepted())
        client.submit("a fox", input_images=urls)
    sent = json.loads(route.calls.last.request.content)
    assert [sent.get(name) for name in IMAGE_FIELDS] == urls


def test_image_bytes_are_sent_as_base64() -> None:
    import base64

    count("request: wrapper, image bytes")
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    with respx.mock() as router, wrapper() as client:
        route = router.post(SUBMIT_URL).respond(200, json=accepted())
        client.submit("a fox", input_images=[data])
    sent = json.loads(route.calls.last.request.content)["input_image"]
    assert base64.b64decode(sent.split(",", 1)[-1]) == data


@settings(CONTRACT_SETTINGS, max_examples=40)
@given(http_urls(("https",)))
def test_the_key_goes_to_the_api_host_only(sample: str) -> None:
    # The sample URL is on a delivery host: it must never see x-key.
    count("request: wrapper, no x-key to the delivery host")
    with respx.mock() as router, wrapper() as client:
        router.post(SUBMIT_URL).respond(200, json=accepted())
        router.get(url__startswith=f"{SUBMIT_URL.rsplit('/v1', 1)[0]}/v1/get_result").respond(
            200, json={"id": "task-1", "status": "Ready", "result": {"sample": sample}}
        )
        download = router.get(sample).respond(200, content=b"\xff\xd8\xff\xe0jpeg-bytes")
        result = client.submit("p").wait(timeout=5)
        assert result.read() == b"\xff\xd8\xff\xe0jpeg-bytes"
    request = download.calls.last.request
    assert "x-key" not in request.headers
    assert API_KEY not in str(request.headers)
