"""The spec is a valid OpenAPI 3.1 document with the structure the rest of the project uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from contract_tests.spec_tools import ROOT, load_spec


def test_spec_is_valid_openapi_3_1() -> None:
    spec = load_spec()
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_validator_rejects_a_broken_spec() -> None:
    # Guards the test above: the validator really looks at the document.
    spec = load_spec()
    spec["paths"]["/v1/flux-2-flex"]["post"]["responses"]["200"].pop("description")
    with pytest.raises(OpenAPIValidationError):
        validate(spec)


def test_servers_are_the_three_vendor_hosts() -> None:
    urls = [server["url"] for server in load_spec()["servers"]]
    assert urls == ["https://api.bfl.ai", "https://api.eu.bfl.ai", "https://api.us.bfl.ai"]


def test_every_operation_is_secured_by_the_x_key_header() -> None:
    # Per operation, as the vendor's document does (so the generated client asks for an
    # AuthenticatedClient on each); no document-wide default a new operation could lean on.
    spec = load_spec()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        **spec["components"]["securitySchemes"]["APIKeyHeader"],
        "type": "apiKey",
        "in": "header",
        "name": "x-key",
    }
    assert "security" not in spec
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) == 3
    for operation in operations:
        assert operation["security"] == [{"APIKeyHeader": []}], operation["operationId"]


@pytest.mark.parametrize(
    ("path", "method", "operation_id", "statuses"),
    [
        (
            "/v1/flux-2-flex",
            "post",
            "generate_flux_2_flex",
            {"200", "401", "402", "403", "422", "429", "500", "502", "503"},
        ),
        (
            "/v1/get_result",
            "get",
            "get_result",
            {"200", "401", "403", "422", "429", "500", "502", "503"},
        ),
        (
            "/v1/credits",
            "get",
            "get_credits",
            {"200", "401", "403", "429", "500", "502", "503"},  # no body, no query: no 422
        ),
    ],
)
def test_operations_have_clean_ids_and_all_statuses(
    path: str, method: str, operation_id: str, statuses: set[str]
) -> None:
    operation = load_spec()["paths"][path][method]
    assert operation["operationId"] == operation_id
    assert operation["tags"]
    assert set(operation["responses"]) == statuses


def test_429_documents_retry_after_and_rate_limit_headers() -> None:
    headers = load_spec()["components"]["responses"]["TooManyRequests"]["headers"]
    assert {
        "Retry-After",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    } <= set(headers)


def test_submission_links_its_id_to_get_result() -> None:
    links = load_spec()["paths"]["/v1/flux-2-flex"]["post"]["responses"]["200"]["links"]
    assert links["GetResult"]["operationId"] == "get_result"
    assert links["GetResult"]["parameters"] == {"id": "$response.body#/id"}


def test_get_result_requires_id_and_lists_the_vendors_eight_statuses() -> None:
    spec = load_spec()
    (param,) = spec["paths"]["/v1/get_result"]["get"]["parameters"]
    assert (param["name"], param["in"], param["required"]) == ("id", "query", True)
    assert spec["components"]["schemas"]["StatusResponse"]["enum"] == [
        "Task not found",
        "Pending",
        "Reasoning",
        "Generating",
        "Request Moderated",
        "Content Moderated",
        "Ready",
        "Error",
    ]


def test_get_result_answers_with_or_without_the_settled_cost() -> None:
    spec = load_spec()
    answer = spec["paths"]["/v1/get_result"]["get"]["responses"]["200"]
    shapes = answer["content"]["application/json"]["schema"]["anyOf"]
    # The shape with cost first: the plain one would also take an answer with cost.
    assert shapes == [
        {"$ref": "#/components/schemas/ResultWithCostResponse"},
        {"$ref": "#/components/schemas/ResultResponse"},
    ]
    schemas = spec["components"]["schemas"]
    with_cost, plain = schemas["ResultWithCostResponse"], schemas["ResultResponse"]
    assert with_cost["required"] == [*plain["required"], "cost"]

    def typed(props: dict[str, Any]) -> dict[str, Any]:
        return {n: {k: v for k, v in p.items() if k != "description"} for n, p in props.items()}

    assert typed(with_cost["properties"]) == {
        **typed(plain["properties"]),
        "cost": typed(with_cost["properties"])["cost"],
    }
    assert with_cost["properties"]["cost"]["type"] == "number"


def test_credits_answers_a_number() -> None:
    spec = load_spec()
    answer = spec["paths"]["/v1/credits"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CreditsResponse"}
    credits = spec["components"]["schemas"]["CreditsResponse"]
    assert credits["required"] == ["credits"]
    assert credits["properties"]["credits"]["type"] == "number"


def test_result_is_a_tolerant_reader() -> None:
    schemas = load_spec()["components"]["schemas"]
    result = schemas["ResultResponse"]["properties"]["result"]
    assert "type" not in result
    assert "anyOf" not in result
    for name in (
        "ResultResponse",
        "ReadyResult",
        "AsyncResponse",
        "AsyncWebhookResponse",
        "WebhookReadyPayload",
        "WebhookErrorPayload",
        "ErrorResponse",
    ):
        assert schemas[name].get("additionalProperties", True) is not False, name
    assert schemas["ReadyResult"]["required"] == ["sample"]
    assert set(schemas["ReadyResult"]["properties"]) == {"sample", "prompt", "seed"}


def test_webhooks_section_describes_payload_and_both_signature_headers() -> None:
    delivery = load_spec()["webhooks"]["taskCompleted"]["post"]
    names = {param["name"] for param in delivery["parameters"] if param["in"] == "header"}
    assert names == {"X-BFL-Signature", "X-Webhook-Secret"}
    payload = delivery["requestBody"]["content"]["application/json"]["schema"]
    assert payload == {"$ref": "#/components/schemas/WebhookPayload"}


def test_packaged_json_copy_is_the_spec() -> None:
    packaged = ROOT / "generated" / "flux_flex_api" / "openapi.json"
    assert json.loads(packaged.read_text(encoding="utf-8")) == load_spec()
