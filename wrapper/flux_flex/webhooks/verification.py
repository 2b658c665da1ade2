"""``verify``: authenticate a webhook delivery and parse it into a ``WebhookEvent``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from flux_flex.webhooks.authenticity import (
    check_authenticity,
    normalize_headers,
    normalize_secrets,
)
from flux_flex.webhooks.event import WebhookEvent, decode_json, parse_event

__all__ = ["AUTHENTICITY_REASONS", "PAYLOAD_REASONS", "verify"]

AUTHENTICITY_REASONS = frozenset(
    {"missing_signature", "malformed_signature", "bad_signature", "bad_secret", "duplicate_header"}
)
"""``WebhookVerificationError.reason`` values meaning "not from the API" (receiver: 401)."""
PAYLOAD_REASONS = frozenset({"bad_json", "bad_payload"})
"""Reasons meaning "authentic, but the body is unusable" (a receiver answers 400)."""


def verify(
    body: bytes | bytearray | memoryview,
    headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]],
    secret: str | Sequence[str],
) -> WebhookEvent:
    """Authenticate a delivery and return its typed event.

    ``body`` is the raw request body, exactly as received (the signature covers those
    bytes: never re-serialise the JSON). ``headers`` is the request's headers (any mapping;
    names are case-insensitive) or raw ASGI ``(name, value)`` byte pairs. ``secret`` is
    the ``webhook_secret`` the task was submitted with, or a list of them while rotating.

    Both vendor schemes are accepted (``X-BFL-Signature: sha256=<hex HMAC>``, upper- or
    lower-case hex; the echoed ``X-Webhook-Secret``); see ``flux_flex.webhooks.authenticity``.
    Raises ``WebhookVerificationError`` whose ``reason`` is one of ``AUTHENTICITY_REASONS``
    (forged, altered, unsigned) or ``PAYLOAD_REASONS`` (authentic but not a usable payload);
    ``ConfigurationError`` if no usable secret is given; ``TypeError`` if ``body`` is not bytes.

    In your own web framework (here Starlette/FastAPI)::

        try:
            event = verify(await request.body(), request.headers, secret=WEBHOOK_SECRET)
        except WebhookVerificationError as error:
            status = 401 if error.reason in AUTHENTICITY_REASONS else 400
            return JSONResponse({"error": error.reason}, status_code=status)
        ...  # handle event.id, event.status, event.sample; answer 2xx quickly
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(
            f"verify() needs the raw body as bytes, not {type(body).__name__}: the signature "
            "covers the exact bytes received (e.g. `await request.body()`)."
        )
    body = bytes(body)
    secrets = normalize_secrets(secret)
    check_authenticity(body, normalize_headers(headers), secrets)
    return parse_event(decode_json(body))
