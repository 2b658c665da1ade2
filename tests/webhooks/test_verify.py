"""verify(): both schemes, rotation, header handling, refusals and their reasons."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from flux_flex.errors import ConfigurationError, WebhookVerificationError
from flux_flex.webhooks import AUTHENTICITY_REASONS, PAYLOAD_REASONS, sign, verify
from flux_flex_api.models import ReadyResult

from .conftest import SECRET, body_of, echoed_headers, ready_payload, signed_headers


def reference_signature(body: bytes, secret: str) -> str:
    """Computed here, independently of flux_flex.webhooks.sign."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def refusal(body: bytes, headers: Any, secret: Any = SECRET) -> WebhookVerificationError:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, secret)
    return caught.value


def test_sign_matches_the_integration_guide_scheme() -> None:
    body = b'{"id": "x"}'
    assert sign(body, "k") == reference_signature(body, "k")


def test_hmac_signature_verifies_and_types_the_event() -> None:
    body = body_of(ready_payload("t-1"))
    event = verify(body, {"X-BFL-Signature": reference_signature(body, SECRET)}, SECRET)
    assert (event.id, event.status, event.is_ready) == ("t-1", "Ready", True)
    assert isinstance(event.result, ReadyResult)
    assert (event.sample, event.seed, event.prompt) == (
        "https://delivery.example/t-1.png",
        7,
        "a fox",
    )
    assert event.timestamp == 1764035000.5
    assert event.raw == json.loads(body)


def test_echoed_secret_verifies() -> None:
    body = body_of(ready_payload("t-2"))
    assert verify(body, echoed_headers(), SECRET).id == "t-2"


def test_both_headers_valid_verifies() -> None:
    body = body_of(ready_payload())
    assert verify(body, {**signed_headers(body), **echoed_headers()}, SECRET).is_ready


@pytest.mark.parametrize("bad", ["signature", "secret"])
def test_every_header_present_must_verify(bad: str) -> None:
    body = body_of(ready_payload())
    headers = {**signed_headers(body), **echoed_headers()}
    if bad == "signature":
        headers["X-BFL-Signature"] = sign(body, "other")
    else:
        headers["X-Webhook-Secret"] = "other"
    assert (
        refusal(body, headers).reason == {"signature": "bad_signature", "secret": "bad_secret"}[bad]
    )


@pytest.mark.parametrize(
    "name", ["x-bfl-signature", "X-BFL-SIGNATURE", "x-Bfl-Signature", "X-BFL-Signature"]
)
def test_signature_header_name_is_case_insensitive(name: str) -> None:
    body = body_of(ready_payload())
    assert verify(body, {name: sign(body, SECRET)}, SECRET).is_ready


@pytest.mark.parametrize("name", ["x-webhook-secret", "X-WEBHOOK-SECRET"])
def test_secret_header_name_is_case_insensitive(name: str) -> None:
    assert verify(body_of(ready_payload()), {name: SECRET}, SECRET).is_ready


def test_raw_asgi_header_pairs_are_accepted() -> None:
    body = body_of(ready_payload())
    pairs = [(b"x-bfl-signature", sign(body, SECRET).encode())]
    assert verify(body, pairs, SECRET).is_ready


def test_upper_case_hex_is_accepted_but_prefix_is_exact() -> None:
    body = body_of(ready_payload())
    digest = sign(body, SECRET).removeprefix("sha256=")
    assert verify(body, {"X-BFL-Signature": "sha256=" + digest.upper()}, SECRET).is_ready
    for prefix in ("SHA256=", "sha1=", "sha256:", "sha256 =", "", " sha256="):
        error = refusal(body, {"X-BFL-Signature": prefix + digest})
        assert error.reason == "malformed_signature", prefix


def test_rotation_accepts_any_listed_secret_under_both_schemes() -> None:
    body = body_of(ready_payload())
    secrets = ["old-secret", "new-secret"]
    for secret in secrets:
        assert verify(body, signed_headers(body, secret), secrets).is_ready
        assert verify(body, echoed_headers(secret), tuple(secrets)).is_ready
    assert refusal(body, signed_headers(body, "third"), secrets).reason == "bad_signature"
    assert refusal(body, echoed_headers("third"), secrets).reason == "bad_secret"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"Content-Type": "application/json"}, "missing_signature"),
        ({"X-BFL-Signature": ""}, "malformed_signature"),
        ({"X-Webhook-Secret": ""}, "bad_secret"),
        ({"X-BFL-Signature": "sha256=" + "0" * 64}, "bad_signature"),
        ({"X-BFL-Signature": "sha256=" + "0" * 63}, "malformed_signature"),
        ({"X-BFL-Signature": "sha256=" + "0" * 65}, "malformed_signature"),
        ({"X-BFL-Signature": "sha256=" + "g" * 64}, "malformed_signature"),
        ({"X-Webhook-Secret": SECRET + " "}, "bad_secret"),
        ({"X-Webhook-Secret": SECRET[:-1]}, "bad_secret"),
        ({"X-Webhook-Secret": "sécret-ünïcode"}, "bad_secret"),
        ({"X-BFL-Signature": "sha256=ß" + "0" * 63}, "malformed_signature"),
        ({"X-Signature": "anything"}, "missing_signature"),
    ],
)
def test_refusals_carry_a_reason(headers: dict[str, str], reason: str) -> None:
    error = refusal(body_of(ready_payload()), headers)
    assert error.reason == reason
    assert error.reason in AUTHENTICITY_REASONS


def test_truncated_or_padded_signature_is_refused() -> None:
    body = body_of(ready_payload())
    good = sign(body, SECRET)
    for forged in (good[:-1], good[:-2], good + "0", good + "00", good + "\n"):
        assert refusal(body, {"X-BFL-Signature": forged}).reason in AUTHENTICITY_REASONS


def test_thousands_of_near_miss_echoed_secrets_are_all_refused() -> None:
    # Every single-character change at every position (fixed inputs, so deterministic): a
    # comparison that looked at only part of the value (or of a digest of it) lets some in.
    body = body_of(ready_payload())
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_é🔑"
    near_misses = {
        SECRET[:index] + char + SECRET[index + 1 :]
        for index in range(len(SECRET))
        for char in alphabet
    } - {SECRET}
    near_misses |= {SECRET + char for char in alphabet} | {
        SECRET[:cut] for cut in range(len(SECRET))
    }
    assert len(near_misses) > 1000
    for value in near_misses:
        assert refusal(body, {"X-Webhook-Secret": value}).reason == "bad_secret", value


def test_every_other_hex_digit_at_every_position_of_the_signature_is_refused() -> None:
    body = body_of(ready_payload())
    digest = sign(body, SECRET).removeprefix("sha256=")
    for index, digit in enumerate(digest):
        for other in "0123456789abcdef":
            if other != digit:
                forged = "sha256=" + digest[:index] + other + digest[index + 1 :]
                assert refusal(body, {"X-BFL-Signature": forged}).reason == "bad_signature"


def test_repeated_header_is_refused() -> None:
    body = body_of(ready_payload())
    good = sign(body, SECRET).encode()
    pairs = [(b"x-bfl-signature", good), (b"X-BFL-Signature", good)]
    assert refusal(body, pairs).reason == "duplicate_header"
    mixed_case_mapping = {"x-webhook-secret": SECRET, "X-Webhook-Secret": "attacker"}
    assert refusal(body, mixed_case_mapping).reason == "duplicate_header"


def test_signature_covers_the_raw_bytes_not_the_json_value() -> None:
    payload = ready_payload()
    body = json.dumps(payload).encode()
    reformatted = json.dumps(payload, indent=2).encode()
    assert refusal(reformatted, signed_headers(body)).reason == "bad_signature"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "bad_json"),
        (b"{not json", "bad_json"),
        (b"\xff\xfe{}", "bad_json"),
        (b"[" * 100_000 + b"]" * 100_000, "bad_json"),
        (b"[1, 2]", "bad_payload"),
        (b'"Ready"', "bad_payload"),
        (b"{}", "bad_payload"),
        (b'{"id": "", "status": "Ready"}', "bad_payload"),
        (b'{"id": 5, "status": "Ready"}', "bad_payload"),
        (b'{"id": "t", "status": null}', "bad_payload"),
        (b'{"id": "t", "status": "Ready"}', "bad_payload"),
        (b'{"id": "t", "status": "Ready", "result": {"seed": 1}}', "bad_payload"),
        (b'{"id": "t", "status": "Ready", "result": {"sample": "u", "seed": "7"}}', "bad_payload"),
        (b'{"id": "t", "status": "Ready", "result": {"sample": "u", "seed": true}}', "bad_payload"),
        (b'{"id": "t", "status": "Ready", "result": {"sample": "u", "prompt": 3}}', "bad_payload"),
        (b'{"id": "t", "status": "Error", "error": {"code": 1}}', "bad_payload"),
        (b'{"id": "t", "status": "Error", "message": 5}', "bad_payload"),
    ],
)
def test_authentic_but_unusable_bodies(body: bytes, reason: str) -> None:
    error = refusal(body, signed_headers(body))
    assert error.reason == reason
    assert error.reason in PAYLOAD_REASONS


def test_unsigned_bad_json_is_refused_for_authenticity_first() -> None:
    # Nothing about an unauthenticated body is looked at, not even whether it parses.
    assert refusal(b"{not json", {}).reason == "missing_signature"


def test_messages_never_contain_the_secret_or_the_expected_signature() -> None:
    body = body_of(ready_payload())
    expected = sign(body, SECRET).removeprefix("sha256=")
    cases = [
        {"X-BFL-Signature": sign(body, "wrong")},
        {"X-Webhook-Secret": "wrong"},
        {"X-BFL-Signature": "sha256=zz"},
        {},
    ]
    for headers in cases:
        error = refusal(body, headers)
        text = f"{error} {error!r} {error.message}"
        assert SECRET not in text
        assert expected not in text.lower()


def test_body_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="raw body as bytes"):
        verify(json.dumps(ready_payload()), echoed_headers(), SECRET)  # type: ignore[arg-type]
    body = body_of(ready_payload())
    assert verify(bytearray(body), signed_headers(body), SECRET).is_ready
    assert verify(memoryview(body), signed_headers(body), SECRET).is_ready


@pytest.mark.parametrize("secret", ["", [], [""], ["ok", ""], [None]])
def test_unusable_secret_configuration_is_a_configuration_error(secret: Any) -> None:
    with pytest.raises(ConfigurationError):
        verify(body_of(ready_payload()), echoed_headers(), secret)
