"""Every generated model round-trips instances drawn from the spec's own schemas."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from contract_tests.spec_tools import component_schema, load_spec

# Component schema -> generated model class (enums and the WebhookPayload union are not models).
MODELS = {
    "Flux2FlexInputs": "flux_2_flex_inputs.Flux2FlexInputs",
    "AsyncResponse": "async_response.AsyncResponse",
    "AsyncWebhookResponse": "async_webhook_response.AsyncWebhookResponse",
    "ResultResponse": "result_response.ResultResponse",
    "ResultWithCostResponse": "result_with_cost_response.ResultWithCostResponse",
    "CreditsResponse": "credits_response.CreditsResponse",
    "ReadyResult": "ready_result.ReadyResult",
    "ValidationError": "validation_error.ValidationError",
    "HTTPValidationError": "http_validation_error.HTTPValidationError",
    "ErrorResponse": "error_response.ErrorResponse",
    "WebhookReadyPayload": "webhook_ready_payload.WebhookReadyPayload",
    "WebhookErrorPayload": "webhook_error_payload.WebhookErrorPayload",
}
NOT_MODELS = {"OutputFormat", "StatusResponse", "WebhookPayload"}


def model_class(dotted: str) -> Any:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(f"flux_flex_api.models.{module}"), name)


def test_every_component_schema_is_covered() -> None:
    assert set(load_spec()["components"]["schemas"]) == set(MODELS) | NOT_MODELS


def instances(schema_name: str) -> st.SearchStrategy[Any]:
    schema = component_schema(schema_name)
    # hypothesis-jsonschema does not generate `format: uri`; any string stands in for it.
    return from_schema(_drop_formats(schema))


def _drop_formats(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_formats(v) for k, v in node.items() if k != "format"}
    if isinstance(node, list):
        return [_drop_formats(v) for v in node]
    return node


@pytest.mark.parametrize("schema_name", sorted(MODELS))
def test_model_round_trips(schema_name: str) -> None:
    cls = model_class(MODELS[schema_name])

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(instances(schema_name))
    def check(instance: dict[str, Any]) -> None:
        assert cls.from_dict(instance).to_dict() == instance

    check()


@pytest.mark.parametrize("schema_name", sorted(MODELS))
def test_model_keeps_unknown_keys(schema_name: str) -> None:
    # A tolerant reader: keys the spec does not name survive a round trip.
    instance = _minimal(schema_name)
    instance["x_vendor_added"] = {"nested": [1, "two"]}
    assert model_class(MODELS[schema_name]).from_dict(instance).to_dict() == instance


def _minimal(schema_name: str) -> dict[str, Any]:
    values = {
        "id": "t1",
        "polling_url": "https://api.eu.bfl.ai/v1/get_result?id=t1",
        "status": "Ready",
        "webhook_url": "https://example.test/hook",
        "sample": "https://delivery.example/x.jpg",
        "prompt": "p",
        "loc": ["body", 0],
        "msg": "m",
        "type": "t",
        "result": {"sample": "https://delivery.example/x.jpg"},
        "cost": 5.24,
        "credits": 1000.5,
    }
    required = load_spec()["components"]["schemas"][schema_name].get("required", [])
    return {name: values[name] for name in required}
