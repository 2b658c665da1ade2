"""Item 2, generated client: every answer the spec allows parses into the model it names."""

from __future__ import annotations

from typing import Any

import pytest
import respx
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import (
    AsyncResponse,
    AsyncWebhookResponse,
    ErrorResponse,
    Flux2FlexInputs,
    HTTPValidationError,
    ResultResponse,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.strategies import (
    BASE_URL,
    RESULT_PATH,
    SUBMIT_PATH,
    error_body_schema,
    error_statuses,
    responses,
    result_responses,
    statuses,
)
from contract_tests.consumer.test_requests_generated import generated_client

MODELS: dict[str, type[Any]] = {
    "ErrorResponse": ErrorResponse,
    "HTTPValidationError": HTTPValidationError,
}


@pytest.mark.parametrize("schema", ["AsyncResponse", "AsyncWebhookResponse"])
def test_both_200_shapes_of_a_submission_parse(schema: str) -> None:
    with respx.mock() as router, generated_client() as client:
        route = router.post(f"{BASE_URL}{SUBMIT_PATH}")

        @settings(CONTRACT_SETTINGS, max_examples=60)
        @given(responses(schema))
        def check(answer: dict[str, Any]) -> None:
            count(f"response: generated client, 200 {schema}")
            route.respond(200, json=answer)
            parsed = generate_flux_2_flex.sync_detailed(
                client=client, body=Flux2FlexInputs.from_dict({"prompt": "p"})
            ).parsed
            # anyOf is tried in order: an answer that fits AsyncResponse is one.
            if "polling_url" in answer and isinstance(answer.get("polling_url"), str):
                assert isinstance(parsed, AsyncResponse)
            else:
                assert isinstance(parsed, AsyncWebhookResponse)
            assert parsed.id == answer["id"]
            assert parsed.to_dict() == answer

        check()


@pytest.mark.parametrize("status", statuses())
def test_every_status_of_a_poll_parses(status: str) -> None:
    with respx.mock() as router, generated_client() as client:
        route = router.get(f"{BASE_URL}{RESULT_PATH}")

        @settings(CONTRACT_SETTINGS, max_examples=25)
        @given(result_responses(status))
        def check(answer: dict[str, Any]) -> None:
            count("response: generated client, ResultResponse per status")
            route.respond(200, json=answer)
            parsed = get_result.sync_detailed(client=client, id=answer["id"]).parsed
            assert isinstance(parsed, ResultResponse)
            assert parsed.status.value == status
            assert parsed.to_dict() == answer

        check()


@pytest.mark.parametrize(
    ("operation", "status"),
    [(op, code) for op in ("generate_flux_2_flex", "get_result") for code in error_statuses(op)],
)
def test_every_error_answer_parses(operation: str, status: int) -> None:
    schema = error_body_schema(operation, status)
    with respx.mock() as router, generated_client() as client:
        if operation == "get_result":
            route = router.get(f"{BASE_URL}{RESULT_PATH}")
        else:
            route = router.post(f"{BASE_URL}{SUBMIT_PATH}")

        @settings(CONTRACT_SETTINGS, max_examples=8)
        @given(responses(schema))
        def check(answer: dict[str, Any]) -> None:
            count("response: generated client, error answers")
            route.respond(status, json=answer)
            response: Any
            if operation == "get_result":
                response = get_result.sync_detailed(client=client, id="t")
            else:
                response = generate_flux_2_flex.sync_detailed(
                    client=client, body=Flux2FlexInputs.from_dict({"prompt": "p"})
                )
            assert response.status_code == status
            assert isinstance(response.parsed, MODELS[schema])
            assert response.parsed.to_dict() == answer

        check()


def test_an_unknown_status_is_refused_by_the_generated_model() -> None:
    # Why the wrapper must catch it: the model raises ValueError on a status the spec lacks.
    count("response: generated client, unknown status")
    with pytest.raises(ValueError, match="Exploded"):
        ResultResponse.from_dict({"id": "t", "status": "Exploded"})


@settings(CONTRACT_SETTINGS, max_examples=40)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=5)))
def test_unknown_keys_survive_in_additional_properties(extra: dict[str, Any]) -> None:
    count("response: generated client, unknown keys")
    known = {"id", "status", "result", "progress", "details", "preview"}
    extra = {k: v for k, v in extra.items() if k not in known}
    answer = {"id": "t", "status": "Pending", **extra}
    parsed = ResultResponse.from_dict(answer)
    assert parsed.additional_properties == extra
