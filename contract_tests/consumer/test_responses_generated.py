"""Item 2, generated client: every answer the spec allows parses into the model it names, and
an answer with a value the spec does not list (a new status, a new format, extra keys) parses
too, the value kept as it came."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import httpx
import pytest
import respx
from flux_flex_api import models
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import (
    AsyncResponse,
    AsyncWebhookResponse,
    ErrorResponse,
    Flux2FlexInputs,
    HTTPValidationError,
    OutputFormat,
    ResultResponse,
    ResultWithCostResponse,
    StatusResponse,
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


# -- unknown values are data (issue 11 §2): nothing the vendor adds makes a reader raise -------
def _open_enums() -> list[type[StrEnum]]:
    """Every enum class of the generated package."""
    return sorted(
        (
            obj
            for name in dir(models)
            if isinstance(obj := getattr(models, name), type) and issubclass(obj, StrEnum)
        ),
        key=lambda cls: cls.__name__,
    )


def test_the_generated_package_has_the_enums_of_the_spec() -> None:
    # Guards the parametrization below: a new enum in the spec is a new case there.
    assert [cls.__name__ for cls in _open_enums()] == ["OutputFormat", "StatusResponse"]


@pytest.mark.parametrize("enum", _open_enums(), ids=lambda cls: cls.__name__)
def test_every_generated_enum_keeps_an_unknown_value_as_it_came(enum: type[StrEnum]) -> None:
    count("response: generated client, unknown enum values")
    for value in ("Upscaling", "avif", "", "ready", "Ready ", "ÜBER", "a\nb"):
        member = enum(value)
        assert isinstance(member, enum)
        assert (str(member), member.value, member.name) == (value, value, "UNKNOWN")
        assert member == value  # still a str, equal to what came
        assert hash(member) == hash(value)
        assert member.is_known is False  # type: ignore[attr-defined]
    for known in enum:
        assert enum(known.value) is known
        assert known.is_known is True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="42"):
        enum(42)  # not a string: not a value of this enum, whatever the vendor adds


@pytest.mark.parametrize("shape", [ResultResponse, ResultWithCostResponse])
def test_a_result_model_keeps_an_unknown_status(shape: type[Any]) -> None:
    count("response: generated client, unknown status")
    answer = {"id": "t", "status": "Upscaling", "cost": 5.24, "queue": {"position": 3}}
    if shape is ResultResponse:
        del answer["cost"]
    parsed = shape.from_dict(answer)
    assert isinstance(parsed.status, StatusResponse)
    assert str(parsed.status) == "Upscaling"
    assert parsed.status.is_known is False
    assert parsed.additional_properties == {"queue": {"position": 3}}
    assert parsed.to_dict() == answer


@settings(CONTRACT_SETTINGS, max_examples=100)
@given(st.text(max_size=30))
def test_any_status_string_parses_and_known_ones_are_members(value: str) -> None:
    count("response: generated client, status drawn from all strings")
    parsed = ResultResponse.from_dict({"id": "t", "status": value})
    assert str(parsed.status) == value
    known = value in set(statuses())
    assert parsed.status.is_known is known
    if known:
        assert parsed.status is StatusResponse(value)


def test_get_result_reads_both_shapes_with_unknown_status_and_extra_keys() -> None:
    plain = {"id": "t", "status": "Upscaling", "progress": 0.4, "eta_s": 3}
    settled = {**plain, "status": "Ready", "cost": 5.24, "result": {"sample": "https://d/x"}}
    with respx.mock() as router, generated_client() as client:
        route = router.get(f"{BASE_URL}{RESULT_PATH}")
        count("response: generated client, get_result with unknown status and extra keys")
        route.respond(200, json=plain)
        first = get_result.sync_detailed(client=client, id="t").parsed
        assert isinstance(first, ResultResponse)
        assert (str(first.status), first.status.is_known) == ("Upscaling", False)
        assert first.progress == 0.4
        assert first.additional_properties == {"eta_s": 3}

        count("response: generated client, get_result with the settled cost")
        route.respond(200, json=settled)
        second = get_result.sync_detailed(client=client, id="t").parsed
        assert isinstance(second, ResultWithCostResponse)
        assert second.status is StatusResponse.READY
        assert second.cost == 5.24
        assert second.additional_properties == {"eta_s": 3}
        assert second.to_dict() == settled


def test_get_result_parses_an_unknown_status_from_an_httpx_response() -> None:
    # The endpoint module's own parser, as `sync_detailed` and `asyncio_detailed` use it.
    count("response: generated client, endpoint parser, unknown status")
    response = httpx.Response(200, json={"id": "t", "status": "Queued", "cost": 1.05})
    built = get_result._build_response(client=generated_client(), response=response)
    assert isinstance(built.parsed, ResultWithCostResponse)
    assert str(built.parsed.status) == "Queued"
    assert built.parsed.status.is_known is False


def test_a_request_model_keeps_an_unknown_output_format() -> None:
    count("request model: generated client, unknown output format")
    inputs = Flux2FlexInputs.from_dict({"prompt": "p", "output_format": "avif"})
    assert isinstance(inputs.output_format, OutputFormat)
    assert str(inputs.output_format) == "avif"
    assert inputs.output_format.is_known is False
    assert inputs.to_dict() == {"prompt": "p", "output_format": "avif"}
    assert Flux2FlexInputs.from_dict({"prompt": "p", "output_format": "webp"}).output_format is (
        OutputFormat.WEBP
    )


@settings(CONTRACT_SETTINGS, max_examples=40)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=5)))
def test_unknown_keys_survive_in_additional_properties(extra: dict[str, Any]) -> None:
    count("response: generated client, unknown keys")
    known = {"id", "status", "result", "progress", "details", "preview"}
    extra = {k: v for k, v in extra.items() if k not in known}
    answer = {"id": "t", "status": "Pending", **extra}
    parsed = ResultResponse.from_dict(answer)
    assert parsed.additional_properties == extra
