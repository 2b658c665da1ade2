"""The issue's targets, checked against a results document: PASS or MISS, with the margin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One target: the measured value against its limit."""

    benchmark: str
    target: str
    value: float | None
    limit: float
    at_most: bool = True  # the value must be <= limit (else >=)
    unit: str = ""
    note: str = ""

    @property
    def passed(self) -> bool:
        """True when the value is known and on the right side of the limit."""
        if self.value is None:
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    @property
    def margin(self) -> float | None:
        """How far inside the limit the value is (negative: by how much it missed)."""
        if self.value is None:
            return None
        return self.limit - self.value if self.at_most else self.value - self.limit

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "benchmark": self.benchmark,
            "target": self.target,
            "value": self.value,
            "limit": self.limit,
            "comparison": "<=" if self.at_most else ">=",
            "unit": self.unit,
            "passed": self.passed,
            "margin": None if self.margin is None else round(self.margin, 4),
            "note": self.note,
        }


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _ratio(a: Any, b: Any) -> float | None:
    top, bottom = _num(a), _num(b)
    if top is None or bottom is None or bottom == 0:
        return None
    return round(top / bottom, 3)


def _overhead(r: dict[str, Any]) -> list[Check]:
    return [
        Check(
            "overhead",
            "client CPU / raw httpx CPU (median)",
            _num(_get(r, "overhead", "cpu_ratio_median")),
            1.25,
            unit="x",
        )
    ]


def _polling(r: dict[str, Any]) -> list[Check]:
    s = _get(r, "polling", "strategies") or {}
    ours, base, hook = s.get("schedule", {}), s.get("fixed_1s", {}), s.get("webhook", {})
    ours_delay, base_delay = _num(ours.get("delay_mean_s")), _num(base.get("delay_mean_s"))
    return [
        Check(
            "polling",
            "schedule polls / 1 s baseline polls",
            _ratio(ours.get("polls_per_task_mean"), base.get("polls_per_task_mean")),
            0.5,
            unit="x",
        ),
        Check(
            "polling",
            "schedule mean delay - 1 s baseline mean delay",
            None if ours_delay is None or base_delay is None else round(ours_delay - base_delay, 4),
            0.0,
            unit="s",
            note="real-API seconds (measured / scale)",
        ),
        Check(
            "polling",
            "webhook: polls per task (max)",
            _num(hook.get("polls_per_task_max")),
            1.0,
        ),
        Check(
            "polling",
            "webhook: mean delay after Ready",
            _num(hook.get("delay_mean_s")),
            0.050,
            unit="s",
            note="measured wall-clock",
        ),
    ]


def _batch(r: dict[str, Any]) -> list[Check]:
    b = _get(r, "batch") or {}
    return [
        Check("batch", "wall / ideal", _num(b.get("ratio_to_ideal")), 1.15, unit="x"),
        Check("batch", "429s seen by the caller", _num(b.get("rate_limited_seen_by_caller")), 0.0),
        Check(
            "batch",
            "requests per TCP connection (1 = no reuse)",
            _ratio(b.get("requests_total"), b.get("tcp_connections_opened")),
            10.0,
            at_most=False,
            note=f"{b.get('tcp_connections_opened')} connections, "
            f"{b.get('requests_total')} requests",
        ),
    ]


CHECKS: dict[str, Callable[[dict[str, Any]], list[Check]]] = {
    "overhead": _overhead,
    "polling": _polling,
    "batch": _batch,
}


def evaluate(results: dict[str, Any]) -> list[Check]:
    """The issue's targets for each benchmark in ``results`` (a missing figure is a MISS)."""
    return [check for name, make in CHECKS.items() if name in results for check in make(results)]
