"""How a fake behaves: lifecycle and durations, key, limits, balance, answers, webhooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from flux_flex._core.pricing import DEFAULT_OUTPUT_SIZE

__all__ = [
    "DEFAULT_BALANCE",
    "DEFAULT_LIFECYCLE",
    "DEFAULT_MARKERS",
    "FINAL_STATUSES",
    "CostOnPoll",
    "ErrorShape",
    "FakeConfig",
    "Phase",
    "ProgressMode",
    "Script",
    "ScriptSetting",
    "TaskSeconds",
    "WebhookAuth",
]

TaskSeconds = float | Callable[[dict[str, Any]], float]

Phase = str | tuple[str, float]
"""A status a task passes through: its name, or (name, seconds it lasts)."""
Script = Sequence[Phase]
"""Statuses served in order; the last one is where the task ends (see ``FakeBFL``)."""
ScriptSetting = Script | Callable[[dict[str, Any]], Script | None] | None

ProgressMode = Literal["fraction", "null", "omit"]
CostOnPoll = Literal["ready", "always", "never"]
ErrorShape = Literal["detail", "error"]
WebhookAuth = Literal["hmac", "secret", "both"]

FINAL_STATUSES = frozenset(
    {"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"}
)
"""The statuses that end a task; every other one (known or not) means it is still running."""

DEFAULT_LIFECYCLE: tuple[Phase, ...] = ("Pending", "Reasoning", "Generating")
"""The running statuses of a task, in order, before its final status.

The vendor's document lists ``Pending``, ``Reasoning`` and ``Generating`` but not their
order or what they depend on: this order, and ``Reasoning`` happening only when
``prompt_upsampling`` is not false (``reasoning_needs_upsampling``), are the fake's
assumptions.
"""

DEFAULT_MARKERS: Mapping[str, str | Script] = {
    "[moderate-request]": "Request Moderated",
    "[moderate-content]": "Content Moderated",
    "[fail]": "Error",
}
"""Prompt substring -> final status (or a whole script). ``Request Moderated`` is final at once."""

DEFAULT_BALANCE = 1_000_000.0
"""Credits a fresh fake's account holds: enough that only a test that sets less runs out."""


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
    webhook_auth: WebhookAuth = "hmac"
    markers: Mapping[str, str | Script] = field(default_factory=lambda: dict(DEFAULT_MARKERS))
    lifecycle: Sequence[Phase] = DEFAULT_LIFECYCLE
    reasoning_needs_upsampling: bool = True
    script: ScriptSetting = None
    progress: ProgressMode = "fraction"
    cost_on_poll: CostOnPoll = "ready"
    balance: float = DEFAULT_BALANCE
    error_shape: ErrorShape = "detail"
    polling_base_url: str | None = None
    delivery_base_url: str | None = None
    retry_after: float | None = None
    default_size: tuple[int, int] = DEFAULT_OUTPUT_SIZE
    strict_dimensions: bool = False

    def duration_for(self, body: dict[str, Any]) -> float:
        """Seconds the task for ``body`` runs before its final status (``task_seconds``)."""
        seconds = self.task_seconds(body) if callable(self.task_seconds) else self.task_seconds
        return max(0.0, float(seconds))

    def running_phases(self, body: dict[str, Any]) -> list[Phase]:
        """The default lifecycle's running statuses for ``body`` (``Reasoning`` only with
        prompt upsampling, when ``reasoning_needs_upsampling``)."""
        skip_reasoning = self.reasoning_needs_upsampling and body.get("prompt_upsampling") is False
        return [p for p in self.lifecycle if not (skip_reasoning and _name(p) == "Reasoning")]


def _name(phase: Phase) -> str:
    return phase if isinstance(phase, str) else phase[0]
