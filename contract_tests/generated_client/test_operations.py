"""Every operation of the generated client, in each of its four call styles, against the fake
over real HTTP: with the key (200), without one (401), with a wrong one (403).

Only `flux_flex_api` is used, as a user of the generated client would write it: the key is
given as `AuthenticatedClient(token=...)` and nothing else (issue 15).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from flux_flex.testing import FakeBFL
from flux_flex_api import AuthenticatedClient, Client
from flux_flex_api.api.account import get_credits
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import (
    AsyncResponse,
    CreditsResponse,
    ErrorResponse,
    Flux2FlexInputs,
    ResultResponse,
    ResultWithCostResponse,
)
from flux_flex_api.types import Response

from .conftest import KEY

STYLES = ["sync", "sync_detailed", "asyncio", "asyncio_detailed"]

# operation -> (endpoint module, its path, keyword arguments given a task id, 200 models)
OPERATIONS: dict[str, tuple[ModuleType, str, Callable[[str], dict[str, Any]], tuple[type, ...]]] = {
    "generate_flux_2_flex": (
        generate_flux_2_flex,
        "/v1/flux-2-flex",
        lambda _: {"body": Flux2FlexInputs(prompt="a red fox", width=512, height=512)},
        (AsyncResponse,),
    ),
    "get_result": (
        get_result,
        "/v1/get_result",
        lambda task_id: {"id": task_id},
        (ResultResponse, ResultWithCostResponse),
    ),
    "get_credits": (get_credits, "/v1/credits", lambda _: {}, (CreditsResponse,)),
}

# How a user holds the key -> (the client, the status the fake must answer)
AUTH: dict[str, tuple[Callable[[str], Client | AuthenticatedClient], int]] = {
    "key": (lambda url: AuthenticatedClient(base_url=url, token=KEY), 200),
    "no client key": (lambda url: Client(base_url=url), 401),
    "empty key": (lambda url: AuthenticatedClient(base_url=url, token=""), 401),
    "wrong key": (lambda url: AuthenticatedClient(base_url=url, token="not-the-key"), 403),
}


def call(module: ModuleType, style: str, client: Any, kwargs: dict[str, Any]) -> Any:
    """``module.<style>(client=client, **kwargs)``, run the way that style is meant to be."""
    function = getattr(module, style)
    if style.startswith("asyncio"):

        async def run() -> Any:
            async with client:
                return await function(client=client, **kwargs)

        return asyncio.run(run())
    with client:
        return function(client=client, **kwargs)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("auth", list(AUTH))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_operation_answers_per_key(
    operation: str, auth: str, style: str, fake: FakeBFL, task_id: str
) -> None:
    module, path, arguments, models = OPERATIONS[operation]
    make_client, expected = AUTH[auth]
    before = fake.count("*", path)

    answer = call(module, style, make_client(fake.base_url), arguments(task_id))

    if style.endswith("_detailed"):
        assert isinstance(answer, Response)
        assert answer.status_code == expected, answer.content
        parsed = answer.parsed
    else:
        parsed = answer
    if expected == 200:
        assert isinstance(parsed, models)
    else:
        assert isinstance(parsed, ErrorResponse)
        assert isinstance(parsed.detail, str)
        assert parsed.detail
    # One request reached the fake, carrying the key exactly when the user gave one.
    assert fake.count("*", path) == before + 1
    (request,) = [r for r in fake.requests if r.path == path][-1:]
    assert request.status == expected
    assert request.carried_key is (auth != "no client key")


def test_a_task_is_submitted_polled_and_read_through_the_typed_models(fake: FakeBFL) -> None:
    client = AuthenticatedClient(base_url=fake.base_url, token=KEY)
    with client:
        task = generate_flux_2_flex.sync(
            client=client, body=Flux2FlexInputs.from_dict({"prompt": "a red fox"})
        )
        assert isinstance(task, AsyncResponse)
        assert task.polling_url.startswith(fake.base_url)
        assert isinstance(task.cost, int | float)  # a JSON number
        for _ in range(500):  # the task takes 50 ms; a generous bound, not a timing
            state = get_result.sync(client=client, id=task.id)
            assert isinstance(state, ResultResponse | ResultWithCostResponse)
            assert state.id == task.id
            if str(state.status) == "Ready":
                break
            time.sleep(0.01)
    assert str(state.status) == "Ready"
    assert state.status.is_known
    assert isinstance(state.result, dict)
    assert state.result["sample"].startswith(fake.base_url)


def test_the_balance_is_a_number(fake: FakeBFL) -> None:
    with AuthenticatedClient(base_url=fake.base_url, token=KEY) as client:
        balance = get_credits.sync(client=client)
    assert isinstance(balance, CreditsResponse)
    assert isinstance(balance.credits_, float | int)  # `credits` is a builtin: `_` added
