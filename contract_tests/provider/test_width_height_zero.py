"""An explicit width/height of 0: both readings of the open question, and both clients.

The vendor's document says `minimum: 64` with `default: 0`. A FastAPI server checks a value
that is sent against the bound, so an explicit 0 may get 422; or the API may take 0 as "the
model chooses", as the endpoint page's default suggests (docs/api-facts.md#width-and-height-0).
Nobody here can tell which, so neither client sends 0: an unset width/height is left out of
the body. The fake serves both readings (`strict_dimensions`), and every client call below
runs against each: a request without a size must succeed under both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from flux_flex import AsyncFluxFlex, FluxFlex
from flux_flex.testing import FakeBFL
from flux_flex_api import AuthenticatedClient
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.models import AsyncResponse, Flux2FlexInputs, HTTPValidationError

SUBMIT = "/v1/flux-2-flex"
READINGS = {"lenient": False, "strict": True}


@pytest.fixture(scope="module", params=list(READINGS))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeBFL]:
    """The fake under one reading: ``strict`` refuses an explicit 0 as FastAPI would."""
    with FakeBFL(
        task_seconds=0.01, deliver_webhooks=False, strict_dimensions=READINGS[request.param]
    ) as server:
        yield server


def last_body(fake: FakeBFL) -> dict[str, Any]:
    body: dict[str, Any] = [r for r in fake.requests if r.path == SUBMIT][-1].json
    return body


def assert_no_size_sent(body: dict[str, Any]) -> None:
    assert "width" not in body
    assert "height" not in body


# -- the wrapper ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [{}, {"width": 0, "height": 0}, {"width": None}])
def test_the_wrapper_leaves_an_unset_or_0_size_out_and_is_accepted(
    fake: FakeBFL, size: dict[str, Any]
) -> None:
    with FluxFlex(api_key=fake.api_key, base_url=fake.base_url, max_retries=0) as client:
        result = client.generate("a fox, the model's size", **size)
    assert result.url  # Ready: generate raises on anything else
    assert fake.task(result.id).width > 0
    assert_no_size_sent(last_body(fake))


def test_the_async_wrapper_leaves_a_0_size_out_and_is_accepted(fake: FakeBFL) -> None:
    async def submit() -> str:
        async with AsyncFluxFlex(
            api_key=fake.api_key, base_url=fake.base_url, max_retries=0
        ) as client:
            return (await client.submit("an owl, the model's size", width=0)).id

    task_id = asyncio.run(submit())
    assert fake.task(task_id).width > 0
    assert_no_size_sent(last_body(fake))


def test_the_wrapper_sends_a_size_that_is_given(fake: FakeBFL) -> None:
    # Guards the tests above: the body they read is the submission's.
    with FluxFlex(api_key=fake.api_key, base_url=fake.base_url, max_retries=0) as client:
        client.submit("a sized fox", width=512, height=384)
    assert {k: last_body(fake)[k] for k in ("width", "height")} == {"width": 512, "height": 384}


# -- the generated client ----------------------------------------------------------------------
def test_the_generated_model_leaves_an_unset_size_out_of_its_dict() -> None:
    body = Flux2FlexInputs(prompt="a fox").to_dict()
    assert_no_size_sent(body)
    assert Flux2FlexInputs(prompt="a fox", width=512).to_dict()["width"] == 512


@pytest.mark.parametrize("style", ["sync_detailed", "asyncio_detailed"])
def test_the_generated_client_leaves_an_unset_size_out_and_is_accepted(
    fake: FakeBFL, style: str
) -> None:
    client = AuthenticatedClient(base_url=fake.base_url, token=fake.api_key)
    body = Flux2FlexInputs(prompt="a heron, the model's size")
    if style == "sync_detailed":
        with client:
            answer = generate_flux_2_flex.sync_detailed(client=client, body=body)
    else:

        async def call() -> Any:
            async with client:
                return await generate_flux_2_flex.asyncio_detailed(client=client, body=body)

        answer = asyncio.run(call())
    assert answer.status_code == 200, answer.content
    assert isinstance(answer.parsed, AsyncResponse)
    assert_no_size_sent(last_body(fake))


def test_an_explicit_0_through_the_generated_client_is_what_the_reading_decides(
    fake: FakeBFL,
) -> None:
    # What a user who passes width=0 to the generated client gets: it is sent as given, so
    # under the strict reading the answer is the 422 FastAPI gives for `minimum: 64`.
    with AuthenticatedClient(base_url=fake.base_url, token=fake.api_key) as client:
        answer = generate_flux_2_flex.sync_detailed(
            client=client, body=Flux2FlexInputs(prompt="a lynx", width=0)
        )
    assert last_body(fake)["width"] == 0
    if fake.config.strict_dimensions:
        assert answer.status_code == 422
        assert isinstance(answer.parsed, HTTPValidationError)
        (error,) = answer.parsed.to_dict()["detail"]
        assert (error["loc"], error["type"]) == (["body", "width"], "greater_than_equal")
    else:
        assert answer.status_code == 200
        assert isinstance(answer.parsed, AsyncResponse)
