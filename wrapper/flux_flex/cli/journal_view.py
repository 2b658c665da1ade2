"""``flux-flex tasks``: what a task journal holds, read only (`flux_flex.Journal`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_flex.cli.failures import CliUsageError, ExitCode
from flux_flex.cli.output import emit_json, number
from flux_flex.cli.paths import JOURNAL_NAME

if TYPE_CHECKING:
    from flux_flex.journal import JournalEntry

__all__ = ["find_journal", "list_tasks"]

# What each journal state means to the person reading the list.
MEANING = {
    "claimed": "claimed by a worker, nothing sent yet (back to the pool if it dies)",
    "submitting": "uncertain: sent, no answer recorded (may be billed; not sent again)",
    "ready": "final on the API, image not saved yet: re-running the command saves it",
    "submitted": "paid, not saved yet: re-running the command resumes it",
    "saved": "saved",
    "failed": "failed",
}


def find_journal(given: str | None) -> str:
    """The journal ``given`` names: a ``postgresql://`` or ``sqlite:///`` URL, a file, or
    `JOURNAL_NAME` in a folder; None: ``$FLUX_FLEX_JOURNAL``, else the current folder."""
    from flux_flex.errors import JournalError
    from flux_flex.journal._url import parse_target, target_from_env

    given = target_from_env(given, ".")
    assert given is not None
    if "://" in given:
        try:
            parsed = parse_target(given)
        except JournalError as exc:
            raise CliUsageError(exc.message) from None
        if parsed.kind != "sqlite":
            return given
        assert parsed.path is not None
        given = parsed.path
    path = Path(given)
    candidate = path / JOURNAL_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise CliUsageError(
            f"no task journal at {candidate}: batch and generate write "
            f"{JOURNAL_NAME} in their output folder; give that folder, the file, or a "
            "postgresql:// URL."
        )
    return str(candidate)


def _row(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": entry.task_id,
        "state": str(entry.state),
        "prompt": entry.prompt,
        "cost": entry.cost if entry.cost is not None else entry.submit_cost,
        "path": entry.path or entry.save_to,
        "host": entry.host,
        "error": entry.error,
        "updated_at": entry.updated_at,
        "fingerprint": entry.fingerprint,
    }


def _print(path: str, rows: Sequence[dict[str, Any]], counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=Text(f"tasks in {path}"), title_justify="left")
    table.add_column("id", overflow="fold")
    table.add_column("state")
    table.add_column("prompt", overflow="fold")
    table.add_column("cost", justify="right")
    table.add_column("host", overflow="fold")
    table.add_column("file / error", overflow="fold")
    styles = {"saved": "green", "submitted": "yellow", "submitting": "bold yellow"}
    for row in rows:
        state = "uncertain" if row["state"] == "submitting" else row["state"]
        detail = row["error"] if row["state"] in ("failed", "submitting") else row["path"]
        table.add_row(
            Text(row["id"] or "-"),
            Text(state, style=styles.get(row["state"], "bold red")),
            Text(row["prompt"]),
            "" if row["cost"] is None else number(row["cost"]),
            Text(row["host"] or ""),
            Text(str(detail or "")),
        )
    console.print(table)
    for state, count in counts.items():
        if count:
            meaning = MEANING.get(state, state)
            said = state if meaning == state else f"{state}: {meaning}"  # never "saved: saved"
            console.print(Text(f"{count} {said}"))


def list_tasks(given: str | None, *, as_json: bool) -> int:
    """Print every entry of the journal ``given`` (a file, a folder holding one, or a URL)."""
    from flux_flex import Journal

    target = find_journal(given)
    with Journal(target, create=False) as journal:
        entries = journal.entries()
        counts = journal.counts()
        path = journal.path  # a URL's password as ***
    rows = [_row(entry) for entry in entries]
    if as_json:
        emit_json({"ok": True, "id": None, "journal": str(path), "counts": counts, "tasks": rows})
    else:
        _print(path, rows, counts)
    return ExitCode.OK
