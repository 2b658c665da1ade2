"""WebhookEvent: typing of the spec's WebhookPayload, tolerance of extras and nulls."""

from __future__ import annotations

import attrs
import pytest
from flux_flex.errors import WebhookVerificationError
from flux_flex.webhooks import WebhookEvent
from flux_flex_api.models import ReadyResult

from .conftest import ready_payload


def test_ready_payload_is_typed_with_the_generated_result() -> None:
    payload = ready_payload("t-9", region="eu")
    payload["result"]["timings"] = {"inference": 1.2}
    event = WebhookEvent.from_payload(payload)
    assert isinstance(event.result, ReadyResult)
    assert event.result.additional_properties == {"timings": {"inference": 1.2}}
    assert (event.is_ready, event.is_error, event.is_moderated, event.is_final) == (
        True,
        False,
        False,
        True,
    )
    assert event.to_dict() == payload  # extras kept, nothing added
    assert event.raw["region"] == "eu"


def test_error_payload() -> None:
    event = WebhookEvent.from_payload(
        {
            "id": "t",
            "status": "Error",
            "error": "Internal",
            "message": "GPU fell over",
            "timestamp": "2026-11-25T01:00:00Z",
        }
    )
    assert (event.is_error, event.is_ready, event.result, event.sample, event.seed) == (
        True,
        False,
        None,
        None,
        None,
    )
    assert (event.error, event.message, event.timestamp) == (
        "Internal",
        "GPU fell over",
        "2026-11-25T01:00:00Z",
    )


@pytest.mark.parametrize("status", ["Request Moderated", "Content Moderated"])
def test_moderated_payload(status: str) -> None:
    event = WebhookEvent.from_payload({"id": "t", "status": status})
    assert (event.is_moderated, event.is_final, event.is_ready) == (True, True, False)


def test_error_and_message_are_free_extra_keys_on_a_ready_payload() -> None:
    # The spec's Ready payload does not define them: any JSON value is allowed there.
    event = WebhookEvent.from_payload({**ready_payload(), "error": {"code": 0}, "message": "ok"})
    assert (event.is_ready, event.error, event.message) == (True, None, "ok")
    assert event.raw["error"] == {"code": 0}


def test_nulls_count_as_absent() -> None:
    payload = {
        "id": "t",
        "status": "Ready",
        "result": {"sample": "https://d/x.png", "seed": None, "prompt": None},
        "timestamp": None,
        "error": None,
    }
    event = WebhookEvent.from_payload(payload)
    assert (event.seed, event.prompt, event.timestamp, event.error) == (None, None, None, None)
    assert event.to_dict() == payload  # raw keeps the nulls as delivered


def test_event_is_frozen_and_to_dict_is_a_copy() -> None:
    event = WebhookEvent.from_payload(ready_payload())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.status = "Error"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.raw["status"] = "Error"  # type: ignore[index]
    copy = event.to_dict()
    copy["result"]["sample"] = "changed"
    assert event.to_dict()["result"]["sample"] != "changed"
    assert event.result is not None
    event.result.additional_properties["injected"] = True  # the generated model is mutable...
    assert "injected" not in event.raw["result"]  # ... but does not alias the delivered body


def test_event_is_hashable_and_compares_by_fields() -> None:
    one = WebhookEvent.from_payload({"id": "t", "status": "Error"})
    two = WebhookEvent.from_payload({"id": "t", "status": "Error", "extra": 1})
    assert one == two
    assert len({one, two}) == 1


def test_from_payload_refuses_what_the_spec_forbids() -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        WebhookEvent.from_payload({"id": "t-3", "status": "Ready", "result": {"sample": 5}})
    assert caught.value.reason == "bad_payload"
    assert "t-3" in str(caught.value)
    assert "polling" in str(caught.value)
