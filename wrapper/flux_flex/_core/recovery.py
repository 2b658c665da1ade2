"""Recovery's decisions, without I/O: when a task is overdue, the command that sends an
uncertain submission again, and how a reconciliation ended.

`flux_flex.reconcile` finishes what died: tasks that were submitted and are overdue, or
whose owner is dead, are polled, downloaded and recorded saved — once, whatever the number
of reconcilers (`Journal.take_over` hands each to one of them).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from flux_flex._core.journal import KEY_PREFIX, JournalEntry

__all__ = [
    "EXPECTED_TASK_SECONDS",
    "expected_seconds",
    "orphans_counted_since",
    "overdue_after",
    "overdue_seconds",
    "resubmit_command",
]

EXPECTED_TASK_SECONDS = 30.0
"""What a FLEX task with the API's defaults (50 steps, about one megapixel) is expected to
take; `expected_seconds` scales it by the steps and the output size."""
_DEFAULT_STEPS = 50
_DEFAULT_PIXELS = 1024 * 1024

# API field -> the `flux-flex generate` option that takes its value (cli/failures.py names
# refused fields with it too).
VALUE_OPTIONS = {
    "width": "--width",
    "height": "--height",
    "seed": "--seed",
    "steps": "--steps",
    "guidance": "--guidance",
    "safety_tolerance": "--safety-tolerance",
    "output_format": "--format",
    "user": "--user",
    "webhook_url": "--webhook-url",
}


def expected_seconds(params: Mapping[str, Any]) -> float:
    """How long a task with these parameters is expected to run: `EXPECTED_TASK_SECONDS`
    scaled by its steps and its output megapixels (never below a tenth of it)."""
    steps = params.get("steps")
    steps = steps if isinstance(steps, int) and steps > 0 else _DEFAULT_STEPS
    width, height = params.get("width"), params.get("height")
    pixels = _DEFAULT_PIXELS
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        pixels = width * height
    scale = (steps / _DEFAULT_STEPS) * max(1.0, pixels / _DEFAULT_PIXELS)
    return EXPECTED_TASK_SECONDS * max(0.1, scale)


def overdue_seconds(params: Mapping[str, Any]) -> float:
    """Seconds after its acceptance from which a task with these parameters is overdue:
    twice its expected time. The API finishes a task in about that time whether anyone
    polls it or not."""
    return 2.0 * expected_seconds(params)


def overdue_after(entry: JournalEntry, after: float | None) -> float:
    """Seconds after its last change (its acceptance, a take-over) from which a task that a
    live run holds counts as overdue: ``after`` when given, else twice its expected time."""
    if after is not None:
        return after
    return overdue_seconds(entry.params)


def orphans_counted_since(now: float) -> float:
    """The acceptance time from which a ``submitted`` task whose owner is dead (nobody
    resumes it) still takes an account slot: until it is overdue by `overdue_seconds`, for
    the API's default parameters (one cut-off for the store's count). A live owner's tasks
    take their slot until they are final (`flux_flex._core.journal.IN_FLIGHT_HORIZON` at
    most)."""
    return now - overdue_seconds({})


def resubmit_command(entry: JournalEntry, journal: str) -> str:
    """The exact call that sends an uncertain submission again (paying twice if its first
    task exists): the library call for an idempotency key, else the ``flux-flex generate``
    line whose journal entry is this one (its prompt, parameters and file)."""
    if entry.fingerprint.startswith(KEY_PREFIX):
        key = entry.fingerprint[len(KEY_PREFIX) :]
        return (
            f"client.generate({entry.prompt!r}, ..., idempotency_key={key!r}, "
            "resubmit_uncertain=True)"
        )
    argv = ["flux-flex", "generate", entry.prompt]
    if entry.save_to:
        argv += ["-o", entry.save_to]
    params = entry.params
    for name, flag in VALUE_OPTIONS.items():
        value = params.get(name)
        if value is not None and not isinstance(value, bool):
            argv += [flag, str(value)]
    if params.get("prompt_upsampling") is False:
        argv.append("--no-upsampling")
    images = params.get("input_images")
    for image in images if isinstance(images, list) else []:
        argv += ["--input-image", str(image)]
    if params.get("webhook_secret"):
        argv += ["--webhook-secret-env", "YOUR_WEBHOOK_SECRET_ENV"]
    argv += ["--journal", journal, "--resubmit-uncertain"]
    return shlex.join(argv)
