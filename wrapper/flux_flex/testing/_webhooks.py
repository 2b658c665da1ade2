"""Deliver completion webhooks the way the vendor does: signed, retried, sometimes twice.

Authenticity (when the submission had a ``webhook_secret``) follows ``webhook_auth``:
``"hmac"`` (default, the integration guide's scheme) sends ``X-BFL-Signature:
sha256=<hex HMAC-SHA256 of the body>``; ``"secret"`` echoes the secret in
``X-Webhook-Secret`` (a scheme no vendor source confirms); ``"both"`` sends both.

Runs inside the fake's event loop (no threads): each delivery is an asyncio task that sleeps
until the task is final, POSTs, and retries after 1, 5, 30 s (scaled) until a 2xx.
Deliveries go to loopback addresses only; anything else is recorded as undeliverable.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._config import FakeConfig
from ._records import MASK, Delivery, FakeTask, Registry

__all__ = ["WebhookDispatcher", "is_loopback_url", "sign"]


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body keyed with secret>`` (the X-BFL-Signature value)."""
    key = secret.encode("utf-8", "surrogatepass")
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is http(s) on localhost or 127.0.0.0/8 (or ::1)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookDispatcher:
    """Schedules and performs deliveries; start/close from within the server's loop."""

    def __init__(
        self,
        config: FakeConfig,
        registry: Registry,
        payload_for: Callable[[FakeTask], dict[str, Any]],
    ) -> None:
        self._config = config
        self._registry = registry
        self._payload_for = payload_for
        self._client: httpx.AsyncClient | None = None
        self._jobs: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client (call once the loop runs)."""
        self._client = httpx.AsyncClient(timeout=self._config.webhook_timeout, trust_env=False)

    async def cancel_pending(self) -> None:
        """Cancel every scheduled or retrying delivery."""
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    async def close(self) -> None:
        """Cancel pending deliveries and close the client."""
        await self.cancel_pending()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def schedule(self, task: FakeTask, url: str, secret: str | None) -> None:
        """Deliver ``task``'s completion to ``url`` once it is final."""
        if not is_loopback_url(url):
            with self._registry.lock:
                self._registry.undeliverable.append(task.id)
            return
        job = asyncio.get_running_loop().create_task(self._run(task, url, secret))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _run(self, task: FakeTask, url: str, secret: str | None) -> None:
        await asyncio.sleep(max(0.0, task.ready_at - time.monotonic()))
        payload = self._payload_for(task)
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
        headers: dict[bytes, bytes] = {b"content-type": b"application/json"}
        if secret is not None:
            scheme = self._config.webhook_auth
            if scheme in ("hmac", "both"):
                headers[b"x-bfl-signature"] = sign(body, secret).encode("ascii")
            if scheme in ("secret", "both"):
                headers[b"x-webhook-secret"] = secret.encode("utf-8", "surrogatepass")
        scale = self._config.webhook_retry_scale
        delays = [0.0, *(d * scale for d in self._config.webhook_retry_delays)]
        for attempt, delay in enumerate(delays, start=1):
            await asyncio.sleep(delay)
            delivery = await self._post(task, url, body, payload, headers, attempt)
            if delivery.ok:
                for extra in range(self._config.duplicate_webhooks):
                    await self._post(
                        task, url, body, payload, headers, attempt + 1 + extra, duplicate=True
                    )
                return

    async def _post(
        self,
        task: FakeTask,
        url: str,
        body: bytes,
        payload: Mapping[str, Any],
        headers: Mapping[bytes, bytes],
        attempt: int,
        *,
        duplicate: bool = False,
    ) -> Delivery:
        if self._client is None:  # run without lifespan events (in-process ASGI use)
            await self.start()
        assert self._client is not None
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
            status = response.status_code
        except (httpx.HTTPError, ValueError, UnicodeError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        shown = {
            k.decode("latin-1"): (MASK if k == b"x-webhook-secret" else v.decode("latin-1"))
            for k, v in headers.items()
        }
        delivery = Delivery(
            task_id=task.id,
            url=url,
            attempt=attempt,
            status_code=status,
            error=error,
            at=time.monotonic(),
            payload=payload,
            headers=shown,
            duplicate=duplicate,
        )
        self._registry.add_delivery(delivery)
        return delivery
