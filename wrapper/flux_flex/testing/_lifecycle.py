"""Which statuses a task passes through, and when: the default lifecycle and scripts.

Pure code, no I/O. A task's timeline is its running statuses, each with the monotonic time
it ends, and its outcome (where it ends). Statuses given with seconds last that long; the
others share what is left of the task's ``task_seconds`` equally.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._config import FINAL_STATUSES, FakeConfig, Phase, Script

__all__ = ["Timeline", "check_phases", "plan", "timeline"]


@dataclass(frozen=True)
class Timeline:
    """Running statuses with their end times, the outcome, and when the task is final."""

    phases: tuple[tuple[str, float], ...]
    outcome: str
    ready_at: float
    """When ``outcome`` is reached; ``math.inf`` when it is not a final status."""
    marker: str | None = None
    """The prompt marker that chose the outcome, if one did."""


def check_phases(phases: Any, what: str, *, script: bool = False) -> tuple[Phase, ...]:
    """``phases`` as a tuple of statuses or (status, seconds); ``ValueError`` saying what is
    wrong otherwise. A script must name at least its final status."""
    if isinstance(phases, str) or not isinstance(phases, Sequence):
        raise ValueError(f"{what} must be a list of statuses, not {phases!r}")
    checked: list[Phase] = []
    for item in phases:
        if isinstance(item, str) and item:
            checked.append(item)
            continue
        if (
            isinstance(item, Sequence)
            and not isinstance(item, str)
            and len(item) == 2
            and isinstance(item[0], str)
            and item[0]
            and isinstance(item[1], int | float)
            and not isinstance(item[1], bool)
            and math.isfinite(item[1])
            and item[1] >= 0
        ):
            checked.append((item[0], float(item[1])))
            continue
        raise ValueError(f"{what}: {item!r} is neither a status nor a (status, seconds >= 0) pair")
    if script and not checked:
        raise ValueError(f"{what} is empty: a script names at least the status it ends in")
    return tuple(checked)


def plan(phases: Sequence[Phase], seconds: float, start: float) -> tuple[tuple[str, float], ...]:
    """(status, end time) of each running status, starting at ``start``.

    Timed phases last their seconds; untimed ones share ``seconds`` minus the timed total
    (never less than 0) equally.
    """
    timed = sum(p[1] for p in phases if not isinstance(p, str))
    untimed = sum(1 for p in phases if isinstance(p, str))
    share = max(0.0, seconds - timed) / untimed if untimed else 0.0
    ends: list[tuple[str, float]] = []
    at = start
    for phase in phases:
        name, length = (phase, share) if isinstance(phase, str) else phase
        at += length
        ends.append((name, at))
    if untimed and ends and seconds >= timed:  # end exactly at start + seconds (no float drift)
        ends[-1] = (ends[-1][0], start + seconds)
    return tuple(ends)


def _name(phase: Phase) -> str:
    return phase if isinstance(phase, str) else phase[0]


def timeline(config: FakeConfig, body: dict[str, Any], now: float) -> Timeline:
    """The timeline of the task submitted with ``body`` at ``now``.

    In order of precedence: a prompt marker (a final status, served after the default
    lifecycle, or a whole script), then ``config.script``, then the default lifecycle
    ending in ``Ready``. ``Request Moderated`` is final at once (the request never ran).
    """
    prompt = body.get("prompt")
    prompt = prompt if isinstance(prompt, str) else ""
    marker: str | None = None
    script: Script | None = None
    for text, outcome in config.markers.items():
        if text in prompt:
            marker = text
            if isinstance(outcome, str):
                script = (*config.running_phases(body), outcome)
            else:
                script = outcome
            break
    if script is None:
        script = config.script(body) if callable(config.script) else config.script
    if script is None:
        script = (*config.running_phases(body), "Ready")
    checked = check_phases(script, "the task's script", script=True)
    outcome = _name(checked[-1])
    running = () if outcome == "Request Moderated" else checked[:-1]
    phases = plan(running, config.duration_for(body), now)
    ready_at = phases[-1][1] if phases else now
    if outcome not in FINAL_STATUSES:
        ready_at = math.inf
    return Timeline(phases=phases, outcome=outcome, ready_at=ready_at, marker=marker)
