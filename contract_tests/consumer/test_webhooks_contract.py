"""Webhook deliveries as the spec describes them (`webhooks.taskCompleted`): every payload the
spec allows, signed either way the spec names, is accepted; anything forged is refused.

The signature is computed here from the spec's description (hex HMAC-SHA256 of the raw body,
keyed with the secret), never with the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from flux_flex.errors import WebhookVerificationError
from flux_flex.spec import load_spec
from flux_flex.webhooks import AUTHENTICITY_REASONS, PAYLOAD_REASONS, verify
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_tests.consumer.cases import count
from contract_tests.consumer.conftest import CONTRACT_SETTINGS
from contract_tests.consumer.strategies import responses

SECRET = "whsec-contract-0123456789"


def _header_schemas() -> dict[str, dict[str, Any]]:
    operation = load_spec()["webhooks"]["taskCompleted"]["post"]
    return {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "header"}


HEADERS = _header_schemas()
SIGNATURE_HEADER = "X-BFL-Signature"
SECRET_HEADER = "X-Webhook-Secret"


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_spec_names_both_headers() -> None:
    assert set(HEADERS) == {SIGNATURE_HEADER, SECRET_HEADER}
    assert re.fullmatch(HEADERS[SIGNATURE_HEADER]["pattern"], signature(b"{}"))


def payloads() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(responses("WebhookReadyPayload"), responses("WebhookErrorPayload"))


@st.composite
def signed_deliveries(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    payload = draw(payloads())
    body = json.dumps(payload, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    raw = body.encode()
    scheme = draw(st.sampled_from(["signature", "secret", "both", "upper-hex"]))
    headers: dict[str, str] = {"content-type": "application/json"}
    if scheme in ("signature", "both"):
        headers[SIGNATURE_HEADER] = signature(raw)
    if scheme == "upper-hex":  # the spec's pattern allows A-F
        headers[SIGNATURE_HEADER] = "sha256=" + signature(raw).removeprefix("sha256=").upper()
    if scheme in ("secret", "both"):
        headers[SECRET_HEADER] = SECRET
    return raw, headers


@settings(CONTRACT_SETTINGS, max_examples=100)
@given(signed_deliveries())
def test_every_authentic_delivery_is_accepted(delivery: tuple[bytes, dict[str, str]]) -> None:
    count("webhook: authentic delivery drawn from the spec")
    body, headers = delivery
    if SIGNATURE_HEADER in headers:
        assert re.fullmatch(HEADERS[SIGNATURE_HEADER]["pattern"], headers[SIGNATURE_HEADER])
    payload = json.loads(body)
    try:
        event = verify(body, headers, SECRET)
    except WebhookVerificationError as exc:
        reason = exc.reason
    else:
        assert event.id == payload["id"]
        assert event.status == payload["status"]
        assert dict(event.raw) == payload
        return
    # Authentic but unusable (e.g. a Ready payload whose sample is not a URL): a payload
    # reason, never "not from the API".
    assert reason in PAYLOAD_REASONS, reason


@st.composite
def forged_deliveries(draw: st.DrawFn) -> tuple[bytes, dict[str, str], str]:
    payload = draw(payloads())
    raw = json.dumps(payload).encode()
    good = signature(raw)
    hexdigits = good.removeprefix("sha256=")
    how = draw(
        st.sampled_from(
            [
                "truncated",
                "flipped",
                "wrong-secret",
                "altered-body",
                "no-prefix",
                "secret-truncated",
                "secret-wrong",
                "none",
                "good-signature-bad-secret",
            ]
        )
    )
    headers: dict[str, str] = {}
    if how == "truncated":
        keep = draw(st.integers(0, len(hexdigits) - 1))
        headers[SIGNATURE_HEADER] = "sha256=" + hexdigits[:keep]
    elif how == "flipped":
        i = draw(st.integers(0, len(hexdigits) - 1))
        flipped = "0" if hexdigits[i] != "0" else "1"
        headers[SIGNATURE_HEADER] = "sha256=" + hexdigits[:i] + flipped + hexdigits[i + 1 :]
    elif how == "wrong-secret":
        headers[SIGNATURE_HEADER] = signature(raw, SECRET + "x")
    elif how == "altered-body":
        headers[SIGNATURE_HEADER] = good
        raw = raw + b" "
    elif how == "no-prefix":
        headers[SIGNATURE_HEADER] = hexdigits
    elif how == "secret-truncated":
        headers[SECRET_HEADER] = SECRET[: draw(st.integers(1, len(SECRET) - 1))]
    elif how == "secret-wrong":
        headers[SECRET_HEADER] = draw(st.text(min_size=1).filter(lambda s: s != SECRET))
    elif how == "good-signature-bad-secret":
        headers[SIGNATURE_HEADER] = good
        headers[SECRET_HEADER] = SECRET[:-1]
    return raw, headers, how


@settings(CONTRACT_SETTINGS, max_examples=120)
@given(forged_deliveries())
def test_every_forged_delivery_is_refused(delivery: tuple[bytes, dict[str, str], str]) -> None:
    count("webhook: forged or altered delivery")
    body, headers, how = delivery
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, SECRET)
    assert caught.value.reason in AUTHENTICITY_REASONS, (how, caught.value.reason)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("keep", [0, 2, 8, 32, 62, 63])
def test_a_truncated_signature_is_refused(keep: int) -> None:
    # The signature's prefix is not proof: only the whole HMAC is.
    count("webhook: truncated signature")
    body = json.dumps({"id": "t", "status": "Ready", "result": {"sample": "https://d.x/a"}})
    hexdigits = signature(body.encode()).removeprefix("sha256=")
    headers = {SIGNATURE_HEADER: "sha256=" + hexdigits[:keep]}
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body.encode(), headers, SECRET)
    assert caught.value.reason in AUTHENTICITY_REASONS


@pytest.mark.parametrize("keep", [1, len(SECRET) // 2, len(SECRET) - 1])
def test_a_truncated_echoed_secret_is_refused(keep: int) -> None:
    count("webhook: truncated echoed secret")
    body = json.dumps({"id": "t", "status": "Error"}).encode()
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, {SECRET_HEADER: SECRET[:keep]}, SECRET)
    assert caught.value.reason in AUTHENTICITY_REASONS
