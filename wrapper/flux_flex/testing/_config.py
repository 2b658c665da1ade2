"""How a fake behaves: durations, key, limits, webhook delivery, outcome markers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DEFAULT_MARKERS", "FakeConfig", "TaskSeconds"]

TaskSeconds = float | Callable[[dict[str, Any]], float]

DEFAULT_MARKERS: Mapping[str, str] = {
    "[moderate-request]": "Request Moderated",
    "[moderate-content]": "Content Moderated",
    "[fail]": "Error",
}
"""Prompt substring -> final status. ``Request Moderated`` is final at once."""


@dataclass
class FakeConfig:
    """Every knob of the fake (see ``FakeBFL`` for what each one means)."""

    task_seconds: TaskSeconds = 0.2
    api_key: str = "test-key"
    max_in_flight: int = 24
    sample_ttl: float = 600.0
    deliver_webhooks: bool = True
    webhook_retry_scale: float = 1.0
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    webhook_timeout: float = 30.0
    duplicate_webhooks: int = 0
    webhook_response_shape: Literal["async", "webhook"] = "async"
    markers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MARKERS))
    polling_base_url: str | None = None
    delivery_base_url: str | None = None
    retry_after: float | None = None
    default_size: tuple[int, int] = (1024, 768)

    def duration_for(self, body: dict[str, Any]) -> float:
        """Seconds the task for ``body`` stays Pending."""
        seconds = self.task_seconds(body) if callable(self.task_seconds) else self.task_seconds
        return max(0.0, float(seconds))
