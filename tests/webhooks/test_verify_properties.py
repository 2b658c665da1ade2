"""Property-based tests of verify(): good signatures pass, every single-byte change is refused,
and no input whatsoever makes it raise anything but WebhookVerificationError.

Note on the echo scheme (``X-Webhook-Secret``): it authenticates the sender, not the body (the
secret does not depend on the body), so body tampering is only detectable under the HMAC
scheme; the body-change properties are therefore stated for ``X-BFL-Signature``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from flux_flex.errors import WebhookVerificationError
from flux_flex.webhooks import AUTHENTICITY_REASONS, PAYLOAD_REASONS, verify
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

# Machine shared by six engineers: no per-example deadline; modest example counts.
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEX = "0123456789abcdefABCDEF"
any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates too
secrets_ = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=48)
ascii_secrets = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=48
)
bodies = st.binary(max_size=600)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
KNOWN_KEYS = {"id", "status", "result", "error", "message", "timestamp"}
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Bodies the spec allows: Ready or final-failure payloads, with random extra keys."""
    extra_keys = st.text(max_size=10).filter(lambda key: key not in KNOWN_KEYS)
    extra = draw(st.dictionaries(extra_keys, json_values, max_size=4))
    task_id = draw(st.text(min_size=1, max_size=40))
    if draw(st.booleans()):
        result: dict[str, Any] = {"sample": draw(st.text(min_size=1, max_size=60))}
        if draw(st.booleans()):
            result["seed"] = draw(st.integers())
        if draw(st.booleans()):
            result["prompt"] = draw(st.text(max_size=60))
        core: dict[str, Any] = {"status": "Ready", "result": result}
    else:
        core = {
            "status": draw(st.sampled_from(["Error", "Request Moderated", "Content Moderated"]))
        }
        core["error"] = draw(st.text(max_size=20))
    if draw(st.booleans()):
        core["timestamp"] = draw(st.integers(min_value=0) | st.text(max_size=30))
    return {**extra, "id": task_id, **core}


def serialized(payload: dict[str, Any], style: int) -> bytes:
    """The same JSON value, serialised several ways (the signature is over the bytes)."""
    if style == 0:
        return json.dumps(payload).encode()
    if style == 1:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(payload, indent=2, sort_keys=True).encode()


def hmac_header(body: bytes, secret: str) -> bytes:
    return b"sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()


def refused(body: bytes, headers: Any, secret: Any) -> str:
    """The reason verify() refuses with; fails the test if it accepts or raises anything else."""
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, secret)
    return caught.value.reason


def change_byte(data: bytes, index: int, delta: int) -> bytes:
    """``data`` with the byte at ``index`` replaced by a different byte (delta in 1..255)."""
    changed = bytearray(data)
    changed[index] = (changed[index] + delta) % 256
    return bytes(changed)


# -- a correct signature verifies -------------------------------------------------------


@PROPS
@given(
    payload=payloads(),
    secret=secrets_,
    style=st.integers(0, 2),
    scheme=st.sampled_from(["hmac", "echo", "both"]),
)
def test_correct_credentials_verify_and_round_trip_the_payload(
    payload: dict[str, Any], secret: str, style: int, scheme: str
) -> None:
    body = serialized(payload, style)
    headers: list[tuple[bytes, bytes]] = []
    if scheme in ("hmac", "both"):
        headers.append((b"X-BFL-Signature", hmac_header(body, secret)))
    if scheme in ("echo", "both"):
        headers.append((b"x-webhook-secret", secret.encode()))
    event = verify(body, headers, secret)
    assert event.id == payload["id"]
    assert event.status == payload["status"]
    assert event.raw == json.loads(body)
    assert event.is_ready == (payload["status"] == "Ready")
    if event.is_ready:
        assert event.sample == payload["result"]["sample"]
        assert event.seed == payload["result"].get("seed")


@PROPS
@given(body=bodies, secret=secrets_)
def test_any_body_with_a_correct_signature_passes_authentication(body: bytes, secret: str) -> None:
    # Arbitrary bytes rarely form a payload; what matters is that authentication never refuses.
    reason = None
    try:
        verify(body, [(b"x-bfl-signature", hmac_header(body, secret))], secret)
    except WebhookVerificationError as error:
        reason = error.reason
    assert reason is None or reason in PAYLOAD_REASONS


# -- every single-byte change is refused ------------------------------------------------


@PROPS
@given(payload=payloads(), secret=secrets_, data=st.data())
def test_every_single_byte_change_to_the_body_is_refused(
    payload: dict[str, Any], secret: str, data: st.DataObject
) -> None:
    body = serialized(payload, 0)
    index = data.draw(st.integers(0, len(body) - 1))
    tampered = change_byte(body, index, data.draw(st.integers(1, 255)))
    assert (
        refused(tampered, [(b"x-bfl-signature", hmac_header(body, secret))], secret)
        == "bad_signature"
    )


def test_every_position_of_a_small_body_is_covered() -> None:
    # Exhaustive over positions (hypothesis samples them): flip each byte of one body in turn.
    body, secret = b'{"id": "t", "status": "Error"}', "s3cret"
    header = [(b"x-bfl-signature", hmac_header(body, secret))]
    for index in range(len(body)):
        assert refused(change_byte(body, index, 1), header, secret) == "bad_signature"


def _is_case_flip(old: int, new: int) -> bool:
    return chr(old) in HEX and chr(new) in HEX and chr(old).lower() == chr(new).lower()


@PROPS
@given(payload=payloads(), secret=secrets_, data=st.data())
def test_every_single_byte_change_to_the_signature_is_refused(
    payload: dict[str, Any], secret: str, data: st.DataObject
) -> None:
    body = serialized(payload, 1)
    signature = hmac_header(body, secret)
    index = data.draw(st.integers(0, len(signature) - 1))
    tampered = change_byte(signature, index, data.draw(st.integers(1, 255)))
    if index >= len(b"sha256=") and _is_case_flip(signature[index], tampered[index]):
        # Documented: hex case is not significant; the same digest verifies.
        assert verify(body, [(b"x-bfl-signature", tampered)], secret).id == payload["id"]
    else:
        reason = refused(body, [(b"x-bfl-signature", tampered)], secret)
        assert reason in ("bad_signature", "malformed_signature")


@PROPS
@given(payload=payloads(), secret=secrets_, data=st.data())
def test_truncated_extended_or_spliced_signatures_are_refused(
    payload: dict[str, Any], secret: str, data: st.DataObject
) -> None:
    body = serialized(payload, 0)
    signature = hmac_header(body, secret)
    start = data.draw(st.integers(0, len(signature)))
    end = data.draw(st.integers(start, len(signature)))
    inserted = data.draw(st.binary(max_size=8))
    forged = signature[:start] + inserted + signature[end:]
    assume(forged.lower() != signature.lower())
    reason = refused(body, [(b"x-bfl-signature", forged)], secret)
    assert reason in ("bad_signature", "malformed_signature")


def test_every_truncation_of_a_signature_is_refused() -> None:
    body, secret = b'{"id": "t", "status": "Error"}', "s3cret"
    signature = hmac_header(body, secret)
    for length in range(len(signature)):
        header = [(b"x-bfl-signature", signature[:length])]
        assert refused(body, header, secret) in ("bad_signature", "malformed_signature")


@PROPS
@given(payload=payloads(), secret=ascii_secrets, data=st.data())
def test_every_single_byte_change_to_the_secret_is_refused(
    payload: dict[str, Any], secret: str, data: st.DataObject
) -> None:
    body = serialized(payload, 2)
    raw = secret.encode()
    index = data.draw(st.integers(0, len(raw) - 1))
    other = change_byte(raw, index, data.draw(st.integers(1, 255))).decode("latin-1")
    # The receiver holds a different secret than the sender signed with ...
    assert (
        refused(body, [(b"x-bfl-signature", hmac_header(body, secret))], other) == "bad_signature"
    )
    assert refused(body, [(b"x-webhook-secret", raw)], other) == "bad_secret"
    # ... or the sender echoes a secret one byte off the receiver's.
    assert refused(body, [(b"x-webhook-secret", other.encode("latin-1"))], secret) == "bad_secret"


@PROPS
@given(payload=payloads(), secret=secrets_, data=st.data())
def test_every_single_character_change_to_a_unicode_secret_is_refused(
    payload: dict[str, Any], secret: str, data: st.DataObject
) -> None:
    body = serialized(payload, 0)
    index = data.draw(st.integers(0, len(secret) - 1))
    replacement = data.draw(
        st.characters(exclude_categories=["Cs"]).filter(lambda c: c != secret[index])
    )
    other = secret[:index] + replacement + secret[index + 1 :]
    assert (
        refused(body, {"X-BFL-Signature": hmac_header(body, secret).decode()}, other)
        == "bad_signature"
    )
    assert refused(body, {"X-Webhook-Secret": other}, secret) == "bad_secret"


# -- malformed, empty, non-ASCII, very long headers: only WebhookVerificationError ------------


@PROPS
@given(prefix=any_text.filter(lambda p: p != "sha256="), body=bodies, secret=secrets_)
@example(prefix="SHA256=", body=b"{}", secret="k")
@example(prefix="sha512=", body=b"{}", secret="k")
@example(prefix="", body=b"{}", secret="k")
def test_wrong_scheme_prefixes_are_refused(prefix: str, body: bytes, secret: str) -> None:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert refused(body, {"X-BFL-Signature": prefix + digest}, secret) in AUTHENTICITY_REASONS


@PROPS
@given(
    name=st.sampled_from(
        ["X-BFL-Signature", "x-webhook-secret", "X-Webhook-Secret", "x-bfl-signature"]
    ),
    value=any_text,
    repeat=st.sampled_from([1, 1, 2, 500, 5000]),
    body=bodies,
    secret=secrets_,
)
@example(name="X-BFL-Signature", value="", repeat=1, body=b"{}", secret="k")
@example(name="X-Webhook-Secret", value="", repeat=1, body=b"{}", secret="k")
@example(name="X-Webhook-Secret", value="ключ🔑", repeat=1, body=b"{}", secret="k")
@example(name="X-BFL-Signature", value="sha256=\udcff", repeat=1, body=b"{}", secret="k")
def test_arbitrary_str_header_values_only_raise_verification_errors(
    name: str, value: str, repeat: int, body: bytes, secret: str
) -> None:
    forged = value * repeat
    if forged in (secret,):  # the one value that is genuinely right for the echo scheme
        return
    assert refused(body, {name: forged}, secret) in AUTHENTICITY_REASONS


@PROPS
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"x-bfl-signature", b"X-Webhook-Secret", b"content-type", b"x-other"]),
            st.binary(max_size=80).map(lambda b: b * 3),
        ),
        max_size=4,
    ),
    body=bodies,
    secret=secrets_,
)
def test_arbitrary_raw_header_bytes_only_raise_verification_errors(
    headers: list[tuple[bytes, bytes]], body: bytes, secret: str
) -> None:
    genuine = {secret.encode(), hmac_header(body, secret)}
    assume(not any(value.lower() in genuine for _, value in headers))
    assert refused(body, headers, secret) in AUTHENTICITY_REASONS


@PROPS
@given(headers=st.dictionaries(any_text, any_text, max_size=4), body=bodies, secret=secrets_)
def test_headers_without_credentials_are_refused_as_missing(
    headers: dict[str, str], body: bytes, secret: str
) -> None:
    headers = {
        k: v for k, v in headers.items() if k.lower() not in ("x-bfl-signature", "x-webhook-secret")
    }
    assert refused(body, headers, secret) == "missing_signature"
