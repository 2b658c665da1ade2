"""WebhookEvent against the spec's own WebhookPayload schema: every payload the spec allows
is accepted (round-tripping exactly), except for the documented stricter rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flux_flex.errors import WebhookVerificationError
from flux_flex.spec import component_schema
from flux_flex.webhooks import verify
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

SCHEMA = component_schema("WebhookPayload")
VALIDATOR = Draft202012Validator(SCHEMA)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _with(payload: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**payload, **extra}


# The schema types `status` as any string, so drawing from it alone would almost never give
# "Ready" or a real final status: add those, with arbitrary extra error/message on Ready.
spec_payloads = st.one_of(
    from_schema(SCHEMA),
    st.builds(
        _with,
        from_schema(component_schema("WebhookReadyPayload")),
        st.fixed_dictionaries(
            {"status": st.just("Ready")},
            optional={"error": json_values, "message": json_values},
        ),
    ),
    st.builds(
        _with,
        from_schema(component_schema("WebhookErrorPayload")),
        st.fixed_dictionaries(
            {"status": st.sampled_from(["Error", "Request Moderated", "Content Moderated"])}
        ),
    ),
)


def usable_ready_result(result: Any) -> bool:
    """The documented extra rule for Ready: a result object with a non-empty string sample
    (and, as ReadyResult says, a string prompt and an integer seed when present)."""
    if not isinstance(result, dict):
        return False
    sample, prompt, seed = result.get("sample"), result.get("prompt"), result.get("seed")
    return (
        isinstance(sample, str)
        and sample != ""
        and (prompt is None or isinstance(prompt, str))
        and (seed is None or (isinstance(seed, int) and not isinstance(seed, bool)))
    )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(payload=spec_payloads)
def test_spec_valid_payloads_are_accepted_unless_a_documented_rule_refuses_them(
    payload: dict[str, Any],
) -> None:
    VALIDATOR.validate(payload)  # the generator's output really is spec-valid
    body = json.dumps(payload).encode()
    documented_refusal = (
        payload["id"] == ""
        or payload["status"] == ""
        or (payload["status"] == "Ready" and not usable_ready_result(payload.get("result")))
    )
    if documented_refusal:
        with pytest.raises(WebhookVerificationError) as caught:
            verify(body, {"X-Webhook-Secret": "k"}, "k")
        assert caught.value.reason == "bad_payload"
        return
    event = verify(body, {"X-Webhook-Secret": "k"}, "k")  # any refusal fails the test
    assert event.to_dict() == payload
    assert (event.id, event.status) == (payload["id"], payload["status"])
    assert event.is_ready == (payload["status"] == "Ready")
    if event.is_ready:
        assert event.sample == payload["result"]["sample"]
    elif isinstance(payload.get("error"), str):
        assert event.error == payload["error"]
