"""What is checked and decided before a batch sends anything (nothing here touches the
network).

Every line is prepared once (`flux_flex.prepare_request`: the rules ``submit`` applies, its
input images read), and every problem is reported in the user's words: ``line 3: width:
must be >= 64 or 0, not 10``. The one prepared request of each line serves everything after:
the plan — what a run does with each line given the images present and the task journal
(`plan_batch`) —, what the tasks it would submit should cost (`estimate_cost`), and the
batch engine, which sends it as it is.
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
    from flux_flex import PreparedRequest
    from flux_flex.errors import FieldError
    from flux_flex.journal import JournalEntry

__all__ = [
    "Action",
    "CostEstimate",
    "Line",
    "Planned",
    "check_defaults",
    "estimate_cost",
    "plan_batch",
    "prepare_lines",
    "written_field",
]

_IMAGE_FIELD = re.compile(r"^input_image(?:_(\d+))?$")
_LIST_FIELD = re.compile(r"^input_images\[(\d+)\]$")


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


@attrs.frozen
class Line:
    """One line of a batch, prepared: the item as read, where its image goes, and the
    request exactly as it is sent (checked, its input images read once)."""

    item: BatchItem
    target: Path
    request: PreparedRequest = attrs.field(repr=False)


def prepare_lines(
    items: Sequence[BatchItem], targets: Sequence[Path]
) -> tuple[list[Line], list[str]]:
    """Each item prepared once, to be saved at its target; and every rule any item breaks,
    one ``line N: key: reason`` per refused field."""
    from flux_flex import RequestValidationError, prepare_request

    lines: list[Line] = []
    problems: list[str] = []
    for item, target in zip(items, targets, strict=True):
        try:
            request = prepare_request(item.prompt, save_to=target, **item.params)
        except RequestValidationError as exc:
            problems.extend(_problem(item, error) for error in exc.errors)
        else:
            lines.append(Line(item, target, request))
    return lines, problems


def check_defaults(defaults: Mapping[str, Any]) -> None:
    """Refuse bad option values once, before the lines (they apply to every line).

    Raises `RequestValidationError` naming the API fields (the CLI names the options).
    """
    from flux_flex import prepare_request

    prepare_request("option check", **defaults)


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
    HELD = "held"
    """Another live process sharing the journal is handling it: waited for, not sent here."""


_FROM_DECISION = {
    "submit": Action.SUBMIT,
    "resume": Action.RESUME,
    "redownload": Action.REDOWNLOAD,
    "skip": Action.EXISTS,
    "uncertain": Action.UNCERTAIN,
    "failed": Action.FAILED,
    "held": Action.HELD,
}


@attrs.frozen
class Planned:
    """One line of a batch and what the run does with it. ``entry``: the journal's row."""

    line: Line
    action: Action
    entry: JournalEntry | None = None

    @property
    def item(self) -> BatchItem:
        return self.line.item

    @property
    def target(self) -> Path:
        return self.line.target


def _journal_exists(journal: str) -> bool:
    """A database journal always counts as there (opening it checks the server); a SQLite
    one when its file exists (it is not created by a look)."""
    from flux_flex.cli.paths import journal_file

    file = journal_file(journal)
    return file is None or file.is_file()


def _file_ok(path: str | None) -> bool:
    return bool(path) and os.path.isfile(str(path)) and os.path.getsize(str(path)) > 0


def plan_batch(
    lines: Sequence[Line],
    journal: str | Path | None,
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
    live: set[str] = set()
    if journal is not None and _journal_exists(str(journal)):
        from flux_flex import Journal

        with Journal(str(journal)) as opened:
            for held in opened.entries():  # oldest first: the latest one per file wins
                if held.save_to:
                    entries[os.path.abspath(held.save_to)] = held
                    if opened.is_held(held):
                        live.add(held.fingerprint)
    planned: list[Planned] = []
    for line in lines:
        if not force and existing_image(line.target.parent, line.item.stem) is not None:
            planned.append(Planned(line, Action.EXISTS))
            continue
        entry = entries.get(os.path.abspath(line.target))
        if entry is None or (force and entry.state is State.SAVED):
            planned.append(Planned(line, Action.SUBMIT, entry))
            continue
        seen = Seen(entry.state, file_ok=_file_ok(entry.path), owner_live=entry.fingerprint in live)
        decision = plan(seen, resubmit_uncertain=resubmit_uncertain, retry_failed=retry_failed)
        planned.append(Planned(line, _FROM_DECISION[decision.value], entry))
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


def estimate_cost(lines: Sequence[Line]) -> CostEstimate:
    """The estimated cost of submitting ``lines`` (the client's pricing, sizes as sent)."""
    total = 0.0
    assumptions: dict[str, None] = {}
    for line in lines:
        estimate = line.request.estimate()
        total += estimate.credits
        assumptions.update(dict.fromkeys(estimate.assumptions))
    return CostEstimate(round(total, 2), len(lines), tuple(assumptions))
