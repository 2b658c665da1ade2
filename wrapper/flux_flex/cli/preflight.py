"""What is checked and decided before a batch sends anything (nothing here touches the
network).

Every line is checked with the client's own validation (`ClientCore.prepare_submission`,
the same rules `submit` applies), and every problem is reported in the user's words:
``line 3: width: must be >= 64 or 0, not 10``. Then the plan: what a run does with each
line given the images present and the task journal (`plan_batch`), and what the tasks it
would submit should cost (`estimate_cost`).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from flux_flex.cli.prompts_file import BatchItem, existing_image

if TYPE_CHECKING:
    from flux_flex._shared import ClientCore
    from flux_flex.errors import FieldError
    from flux_flex.journal import JournalEntry

__all__ = [
    "Action",
    "CostEstimate",
    "Planned",
    "check_defaults",
    "estimate_cost",
    "plan_batch",
    "request_problems",
    "validator",
    "written_field",
]

_IMAGE_FIELD = re.compile(r"^input_image(?:_(\d+))?$")
_LIST_FIELD = re.compile(r"^input_images\[(\d+)\]$")


def validator() -> ClientCore:
    """A client core that only checks requests: checking needs neither a key nor a host,
    so placeholders stand in for both (it never sends anything)."""
    from flux_flex._shared import ClientCore

    return ClientCore(
        "placeholder-key-never-sent",
        "http://127.0.0.1",
        None,
        timeout=30.0,
        max_retries=None,
        retry=None,
        poll_schedule=None,
    )


def written_field(field: str, written: Mapping[str, str]) -> str:
    """How the user wrote the refused API field ``field`` (a JSON key, or an option)."""
    index: int | None = None
    if match := _IMAGE_FIELD.match(field):  # the body's input_image, input_image_2...
        index = int(match.group(1)) - 1 if match.group(1) else 0
    elif match := _LIST_FIELD.match(field):  # input_images[1], as the encoder names them
        index = int(match.group(1))
    key = "input_images" if index is not None or field == "input_images" else field
    name = written.get(key, key)
    if index is not None and not name.startswith("--"):
        return f"{name}[{index}]"
    return name


def _problem(item: BatchItem, error: FieldError) -> str:
    reason = re.sub(rf"^{re.escape(error.field)}:?\s+", "", error.message)
    return f"line {item.line}: {written_field(error.field, item.written)}: {reason}"


def request_problems(items: Sequence[BatchItem], core: ClientCore | None = None) -> list[str]:
    """Every rule any item breaks, one ``line N: key: reason`` per refused field."""
    from flux_flex.errors import RequestValidationError

    core = core or validator()
    problems: list[str] = []
    for item in items:
        try:
            core.prepare_submission(item.prompt, item.params)
        except RequestValidationError as exc:
            problems.extend(_problem(item, error) for error in exc.errors)
    return problems


def check_defaults(defaults: Mapping[str, Any], core: ClientCore | None = None) -> None:
    """Refuse bad option values once, before the lines (they apply to every line).

    Raises `RequestValidationError` naming the API fields (the CLI names the options).
    """
    (core or validator()).prepare_submission("option check", defaults)


# --- what a run would do ---------------------------------------------------------------------


class Action(enum.StrEnum):
    """What a run does with one line, decided before anything is sent."""

    EXISTS = "exists"
    """Its image is already in the folder: skipped."""
    SUBMIT = "submit"
    """A new task: billed."""
    RESUME = "resume"
    """A task of an earlier run (already paid): waited for and saved."""
    REDOWNLOAD = "redownload"
    """Saved earlier but the file is gone: fetched again by id (not billed again)."""
    UNCERTAIN = "uncertain"
    """Sent earlier without an answer: may be billed; not sent again unless asked."""
    FAILED = "failed"
    """Failed earlier: not retried unless asked."""


_FROM_DECISION = {
    "submit": Action.SUBMIT,
    "resume": Action.RESUME,
    "redownload": Action.REDOWNLOAD,
    "skip": Action.EXISTS,
    "uncertain": Action.UNCERTAIN,
    "failed": Action.FAILED,
}


@attrs.frozen
class Planned:
    """One line of a batch and what the run does with it. ``entry``: the journal's row."""

    item: BatchItem
    target: Path
    action: Action
    entry: JournalEntry | None = None


def _file_ok(path: str | None) -> bool:
    return bool(path) and os.path.isfile(str(path)) and os.path.getsize(str(path)) > 0


def plan_batch(
    items: Sequence[BatchItem],
    targets: Sequence[Path],
    journal: Path | None,
    *,
    force: bool,
    resubmit_uncertain: bool,
    retry_failed: bool,
) -> list[Planned]:
    """What a run would do with each item, from the files present and the journal (read,
    never written; a missing journal is not created). The journal's own rules decide
    (`flux_flex._core.journal.plan`); ``force`` ignores images already there."""
    from flux_flex._core.journal import Seen, State, plan

    entries: dict[str, JournalEntry] = {}
    if journal is not None and journal.is_file():
        from flux_flex import Journal

        with Journal(journal) as opened:
            for held in opened.entries():  # oldest first: the latest one per file wins
                if held.save_to:
                    entries[os.path.abspath(held.save_to)] = held
    planned: list[Planned] = []
    for item, target in zip(items, targets, strict=True):
        if not force and existing_image(target.parent, item.stem) is not None:
            planned.append(Planned(item, target, Action.EXISTS))
            continue
        entry = entries.get(os.path.abspath(target))
        if entry is None or (force and entry.state is State.SAVED):
            planned.append(Planned(item, target, Action.SUBMIT, entry))
            continue
        seen = Seen(entry.state, file_ok=_file_ok(entry.path))
        decision = plan(seen, resubmit_uncertain=resubmit_uncertain, retry_failed=retry_failed)
        planned.append(Planned(item, target, _FROM_DECISION[decision.value], entry))
    return planned


@attrs.frozen
class CostEstimate:
    """The estimated credits of the tasks a run would submit, and what was assumed."""

    credits: float
    tasks: int
    assumptions: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """True when every size was known."""
        return not self.assumptions


def estimate_cost(items: Sequence[BatchItem], core: ClientCore | None = None) -> CostEstimate:
    """The estimated cost of submitting ``items`` (the client's pricing, sizes as sent)."""
    core = core or validator()
    total = 0.0
    assumptions: dict[str, None] = {}
    for item in items:
        estimate = core.estimate(item.prompt, item.params)
        total += estimate.credits
        assumptions.update(dict.fromkeys(estimate.assumptions))
    return CostEstimate(round(total, 2), len(items), tuple(assumptions))
