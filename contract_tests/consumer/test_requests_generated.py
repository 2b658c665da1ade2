"""Item 1, generated client: every body the spec allows is sent exactly, where and as it should."""

from __future__ import annotations

import json
from typing import Any

import respx
from flux_flex_api import AuthenticatedClient
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import Flux2FlexInputs
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.harness import assert_contract_request
from contract_tests.consumer.strategies import (
    API_KEY,
    BASE_URL,
    RESULT_PATH,
    SUBMIT_PATH,
    spec_request_bodies,
)

ACCEPTED = {"id": "task-1", "polling_url": f"{BASE_URL}{RESULT_PATH}?id=task-1"}


def generated_client() -> AuthenticatedClient:
    """The generated client as a user sets it up: the key alone (it goes in ``x-key``)."""
    return AuthenticatedClient(base_url=BASE_URL, token=API_KEY)


def test_generated_client_sends_exactly_the_body() -> None:
    # One client and one mock for all examples: building an httpx client costs ~15 ms (TLS).
    with respx.mock(assert_all_called=True) as router, generated_client() as client:
        route = router.post(f"{BASE_URL}{SUBMIT_PATH}").respond(200, json=ACCEPTED)

        @settings(CONTRACT_SETTINGS, max_examples=200)
        @given(spec_request_bodies())
        def check(body: dict[str, Any]) -> None:
            count("request: generated client, body drawn from the spec")
            route.reset()
            response = generate_flux_2_flex.sync_detailed(
                client=client, body=Flux2FlexInputs.from_dict(body)
            )
            assert route.call_count == 1
            assert_contract_request(route.calls.last.request, body)
            assert response.status_code == 200

        check()


def test_generated_client_sends_no_default_for_a_prompt_only_body() -> None:
    # from_dict keeps unset fields UNSET: nothing the caller did not give goes on the wire.
    count("request: generated client, prompt only")
    with respx.mock() as router:
        route = router.post(f"{BASE_URL}{SUBMIT_PATH}").respond(200, json=ACCEPTED)
        with generated_client() as client:
            generate_flux_2_flex.sync_detailed(
                client=client, body=Flux2FlexInputs.from_dict({"prompt": "a fox"})
            )
    assert json.loads(route.calls.last.request.content) == {"prompt": "a fox"}


def test_generated_client_polls_with_the_id_in_the_query() -> None:
    with respx.mock() as router, generated_client() as client:
        route = router.get(f"{BASE_URL}{RESULT_PATH}")

        @settings(CONTRACT_SETTINGS, max_examples=60)
        @given(st.text(min_size=1, max_size=40))
        def check(task_id: str) -> None:
            count("request: generated client, poll id drawn")
            route.reset()
            route.respond(200, json={"id": task_id, "status": "Pending"})
            get_result.sync_detailed(client=client, id=task_id)
            request = route.calls.last.request
            assert request.method == "GET"
            assert request.url.path == RESULT_PATH
            assert request.url.params.get_list("id") == [task_id]
            assert request.headers["x-key"] == API_KEY
            assert request.content == b""

        check()
