"""The seam between waiting and webhooks: a source of task completions learnt without polling.

``job.wait(webhook=source)`` asks the source first and polls only as the fallback. A
``flux_flex.webhooks.WebhookReceiver`` is one; tests may supply their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["CompletionSource"]


@runtime_checkable
class CompletionSource(Protocol):
    """Hands out the verified completion payload of a task, once it has been delivered.

    The payload is the webhook body as JSON (``id``, ``status``, ``result`` or
    ``error``/``message``, ``timestamp``). All three methods are safe to call from any thread.
    """

    def delivered(self, task_id: str) -> Mapping[str, Any] | None:
        """The payload for ``task_id`` if it has arrived, else None. Never blocks."""
        ...

    def wait_delivered(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Block up to ``timeout`` seconds for the payload of ``task_id``; None if none came."""
        ...

    async def wait_delivered_async(self, task_id: str, timeout: float) -> Mapping[str, Any] | None:
        """Await up to ``timeout`` seconds for the payload of ``task_id``; None if none came."""
        ...
