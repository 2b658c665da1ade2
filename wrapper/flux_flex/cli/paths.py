"""Where the CLI writes, checked before anything is sent: a paid task must not fail at the
very last step because its image cannot land."""

from __future__ import annotations

import os
from pathlib import Path

from flux_flex.cli.failures import CliUsageError

__all__ = [
    "JOURNAL_NAME",
    "journal_file",
    "journal_shown",
    "journal_target",
    "output_folder",
    "prepare_folder",
    "prepare_output",
]


def _blocking_file(folder: Path) -> Path | None:
    """The first existing ancestor of ``folder`` (itself included) that is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def prepare_folder(folder: Path, *, option: str, given: str) -> None:
    """Create ``folder`` (and its parents) and check it is writable.

    Raises `CliUsageError` naming ``option`` and the value ``given`` when a file stands in
    the way, the folder cannot be created, or it is not writable.
    """
    blocking = _blocking_file(folder)
    if blocking is not None:
        raise CliUsageError(
            f"{option} {given}: {blocking} is a file, not a folder; choose another path "
            "(nothing was sent)."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliUsageError(
            f"{option} {given}: cannot create the folder {folder} ({exc.strerror or exc}); "
            "choose another path (nothing was sent)."
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliUsageError(
            f"{option} {given}: the folder {folder} is not writable; fix its permissions or "
            "choose another path (nothing was sent)."
        )


def prepare_output(output: str, *, option: str = "-o") -> None:
    """Make sure the image file ``output`` (or a folder to put it in) can be written."""
    prepare_folder(output_folder(output), option=option, given=output)


JOURNAL_NAME = ".flux-flex-journal.sqlite"
"""The task journal's file name in an output folder (hidden: it is not an image)."""


def journal_target(folder: Path, given: str | None) -> str:
    """The journal to use: ``--journal`` when given (a path, ``sqlite:///path`` or a
    ``postgresql://`` URL), else ``$FLUX_FLEX_JOURNAL``, else `JOURNAL_NAME` in ``folder``.
    A location that is not a journal is a `CliUsageError` (nothing was sent)."""
    from flux_flex.errors import JournalError
    from flux_flex.journal._url import parse_target, target_from_env

    target = target_from_env(given, str(folder / JOURNAL_NAME))
    assert target is not None
    try:
        parse_target(target)
    except JournalError as exc:
        raise CliUsageError(f"--journal: {exc.message} Nothing was sent.") from None
    return target


def journal_file(target: str) -> Path | None:
    """The SQLite file of the journal ``target``; None for a database server."""
    from flux_flex.journal._url import parse_target

    parsed = parse_target(target)
    return Path(parsed.path) if parsed.kind == "sqlite" and parsed.path else None


def journal_shown(target: str) -> str:
    """How messages name the journal ``target`` (a URL's password as ***)."""
    from flux_flex.journal._url import parse_target

    return parse_target(target).shown


def output_folder(output: str) -> Path:
    """The folder an image given as ``-o`` lands in."""
    target = Path(output)
    return target if target.is_dir() else target.parent
