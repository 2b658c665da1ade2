"""Webhooks: verify the API's deliveries, receive them, and wait on them.

    from flux_flex.webhooks import verify, WebhookReceiver, ReceiverServer

    event = verify(raw_body, request_headers, secret="my-webhook-secret")  # -> WebhookEvent

    receiver = WebhookReceiver(secret="my-webhook-secret", on_event=handle)  # an ASGI app
    with ReceiverServer(receiver, port=8000) as server:                     # or mount it
        job = client.submit("a fox", webhook_url=public_url, webhook_secret="my-webhook-secret")
        result = job.wait(webhook=receiver)  # the delivery, or polling if none arrives

``verify``, ``WebhookEvent`` and ``WebhookReceiver`` need only the core; ``ReceiverServer``
and ``listen`` need uvicorn only (the ``webhooks`` extra), imported when a server starts.
"""

from flux_flex.errors import WebhookVerificationError
from flux_flex.webhooks.authenticity import SECRET_HEADER, SIGNATURE_HEADER, sign
from flux_flex.webhooks.event import WebhookEvent
from flux_flex.webhooks.journaled import JournalDeliveries
from flux_flex.webhooks.receiver import EventCallback, ReceiverStats, WebhookReceiver
from flux_flex.webhooks.server import ReceiverServer, listen
from flux_flex.webhooks.verification import AUTHENTICITY_REASONS, PAYLOAD_REASONS, verify

__all__ = [
    "AUTHENTICITY_REASONS",
    "PAYLOAD_REASONS",
    "SECRET_HEADER",
    "SIGNATURE_HEADER",
    "EventCallback",
    "JournalDeliveries",
    "ReceiverServer",
    "ReceiverStats",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookVerificationError",
    "listen",
    "sign",
    "verify",
]
