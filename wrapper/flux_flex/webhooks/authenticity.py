"""Is a webhook delivery authentic? Both of the vendor's schemes, in constant time (pure, no I/O).

The vendor's sources disagree on how a delivery proves it comes from the API (see the spec's
``webhooks`` section), so both schemes are accepted:

- ``X-BFL-Signature: sha256=<hex>``: the hex HMAC-SHA256 of the raw body, keyed with the secret
  (integration guide). The hex digits may be upper or lower case: the spec's pattern
  (``^sha256=[0-9a-fA-F]{64}$``) allows both and case carries no information, so the digits
  are decoded to the 32-byte digest and that is compared. The ``sha256=`` prefix is exact.
- ``X-Webhook-Secret: <secret>``: the secret echoed verbatim (the vendor's newer Python SDK).

A delivery must carry at least one of the two headers, and every one it carries must verify
(a delivery with a good signature and a wrong echoed secret is refused). Why not "either
one suffices": the echo proves only that the sender knew the secret, not that the body is
intact, so a signature that contradicts the body means the body was altered after signing;
and a refused delivery is not lost, since ``job.wait`` falls back to polling.

Each header must appear once. Several secrets may be given (rotation): a header verifies if
it matches any. Every comparison is ``hmac.compare_digest`` on bytes (the echoed secret via
fixed-length SHA-256 digests, so its length does not show either), so non-ASCII values
cannot raise ``TypeError``. No message ever contains a secret or an expected signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence

from flux_flex.errors import ConfigurationError, WebhookVerificationError

__all__ = [
    "SECRET_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_PREFIX",
    "check_authenticity",
    "normalize_headers",
    "normalize_secrets",
    "sign",
]

SIGNATURE_HEADER = "X-BFL-Signature"
"""Header of the HMAC scheme: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
SECRET_HEADER = "X-Webhook-Secret"
"""Header of the echo scheme: the webhook secret, verbatim."""
SIGNATURE_PREFIX = "sha256="

_SIGNATURE_KEY = SIGNATURE_HEADER.lower().encode("ascii")
_SECRET_KEY = SECRET_HEADER.lower().encode("ascii")
_SIGNATURE_RE = re.compile(rb"sha256=([0-9a-fA-F]{64})")

NormalizedHeaders = Mapping[bytes, Sequence[bytes]]
"""Lower-cased header name -> every value it was sent with, as raw bytes."""


def _to_bytes(text: str) -> bytes:
    # "surrogatepass" so that no str (not even one with lone surrogates) can make encoding
    # raise: such a value simply fails to match.
    return text.encode("utf-8", "surrogatepass")


def normalize_secrets(secret: str | Sequence[str]) -> tuple[bytes, ...]:
    """The secret(s) as UTF-8 bytes; refuses none, an empty one, or a non-str one."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ConfigurationError(
            "No webhook secret given: pass the webhook_secret you submitted the task with "
            "(or a list of them while rotating)."
        )
    for index, value in enumerate(secrets):
        if not isinstance(value, str) or not value:
            raise ConfigurationError(
                f"Webhook secret #{index} is empty or not a str: pass the non-empty "
                "webhook_secret you submitted the task with."
            )
    return tuple(_to_bytes(value) for value in secrets)


def normalize_headers(
    headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]],
) -> NormalizedHeaders:
    """Header names lower-cased, values as bytes, repeated names kept (to be refused later).

    Takes a ``Mapping[str, str]`` (any framework's headers; str values are encoded as UTF-8)
    or raw ASGI ``(name, value)`` byte pairs.
    """
    items: Iterable[tuple[str | bytes, str | bytes]]
    items = headers.items() if isinstance(headers, Mapping) else headers
    normalized: dict[bytes, list[bytes]] = {}
    for name, value in items:
        key = (name if isinstance(name, bytes) else _to_bytes(name)).lower()
        raw = value if isinstance(value, bytes) else _to_bytes(str(value))
        normalized.setdefault(key, []).append(raw)
    return normalized


def sign(body: bytes, secret: str) -> str:
    """The ``X-BFL-Signature`` value for ``body``: ``sha256=`` + hex HMAC-SHA256 (lower case)."""
    digest = hmac.new(_to_bytes(secret), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def _single(headers: NormalizedHeaders, key: bytes, name: str) -> bytes | None:
    values = headers.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise WebhookVerificationError(
            f"The delivery carries {name} {len(values)} times; a genuine delivery carries it "
            "once. Refused: check for a proxy that adds or duplicates headers.",
            reason="duplicate_header",
        )
    return values[0]


def _check_signature(body: bytes, value: bytes, secrets: Sequence[bytes]) -> None:
    match = _SIGNATURE_RE.fullmatch(value)
    if match is None:
        raise WebhookVerificationError(
            f"{SIGNATURE_HEADER} is malformed: expected 'sha256=' followed by 64 hex digits. "
            "Refused: the delivery was not signed by the API.",
            reason="malformed_signature",
        )
    received = bytes.fromhex(match.group(1).decode("ascii"))
    # Compare against every secret (no early exit) so timing does not tell which one matched.
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(received, expected)
    if not matched:
        raise WebhookVerificationError(
            f"{SIGNATURE_HEADER} does not match the body under any configured secret. "
            "Refused: forged or altered delivery, or a secret that differs from the one "
            "the task was submitted with.",
            reason="bad_signature",
        )


def _check_echoed_secret(value: bytes, secrets: Sequence[bytes]) -> None:
    # Digests of equal length, so that not even the secret's length shows in the timing
    # (compare_digest returns early on inputs of different lengths).
    received = hashlib.sha256(value).digest()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(received, hashlib.sha256(secret).digest())
    if not matched:
        raise WebhookVerificationError(
            f"{SECRET_HEADER} does not match any configured secret. Refused: forged "
            "delivery, or a secret that differs from the one the task was submitted with.",
            reason="bad_secret",
        )


def check_authenticity(body: bytes, headers: NormalizedHeaders, secrets: Sequence[bytes]) -> str:
    """Raise ``WebhookVerificationError`` unless the delivery is authentic; return the scheme.

    ``headers`` comes from ``normalize_headers``, ``secrets`` from ``normalize_secrets``.
    Returns ``"signature"``, ``"secret"`` or ``"signature+secret"`` (which headers verified).
    """
    signature = _single(headers, _SIGNATURE_KEY, SIGNATURE_HEADER)
    echoed = _single(headers, _SECRET_KEY, SECRET_HEADER)
    if signature is None and echoed is None:
        raise WebhookVerificationError(
            f"The delivery carries neither {SIGNATURE_HEADER} nor {SECRET_HEADER}. Refused: "
            "submit the task with webhook_secret so the API authenticates its deliveries.",
            reason="missing_signature",
        )
    schemes = []
    if signature is not None:
        _check_signature(body, signature, secrets)
        schemes.append("signature")
    if echoed is not None:
        _check_echoed_secret(echoed, secrets)
        schemes.append("secret")
    return "+".join(schemes)
