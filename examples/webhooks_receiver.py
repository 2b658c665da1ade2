"""Let the API call you back: a verified webhook receiver, with polling as the fallback.

    python examples/webhooks_receiver.py [--mock]

The receiver runs on 127.0.0.1 here. The real API must reach it from the internet: put a
tunnel in front of it and set PUBLIC_WEBHOOK_URL to the tunnel's https URL. The secret is
read from FLUX_FLEX_WEBHOOK_SECRET (a random one is made when it is not set).
"""

from __future__ import annotations

import os
import secrets

from _offline import offline_if_requested
from flux_flex import FluxFlex
from flux_flex.webhooks import ReceiverServer, WebhookEvent, WebhookReceiver


def on_event(event: WebhookEvent) -> None:
    print(f"webhook: task {event.id} is {event.status}")  # verified, duplicates dropped


def main() -> None:
    secret = os.environ.get("FLUX_FLEX_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
    receiver = WebhookReceiver(secret=secret, on_event=on_event)  # an ASGI app
    with ReceiverServer(receiver, host="127.0.0.1", port=0) as server, FluxFlex() as client:
        webhook_url = os.environ.get("PUBLIC_WEBHOOK_URL", server.url)
        job = client.submit(
            "a red fox in fresh snow",
            output_format="png",
            webhook_url=webhook_url,
            webhook_secret=secret,
        )
        # Completes as soon as the verified delivery arrives; polls if it never does.
        result = job.wait(timeout=300, webhook=receiver)
        print(f"saved {result.save('out/webhook-fox.png')}")
        print(f"deliveries accepted: {receiver.stats.accepted}")


if __name__ == "__main__":
    with offline_if_requested():
        main()
