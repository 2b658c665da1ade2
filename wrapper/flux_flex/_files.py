"""Temporary download files and their atomic rename to the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile

from flux_flex._core.sniff import sniff_format, target_path

__all__ = ["HEAD_BYTES", "discard", "download_dir_for", "finalize", "new_temp"]

HEAD_BYTES = 16


def download_dir_for(requested: str | os.PathLike[str]) -> str:
    """The directory the temporary file goes in (the target's, so the rename is atomic)."""
    path = os.fspath(requested)
    if os.path.isdir(path):
        return path
    return os.path.dirname(os.path.abspath(path))


def new_temp(directory: str) -> tuple[int, str]:
    """A new hidden temporary file in ``directory``: its descriptor and path."""
    return tempfile.mkstemp(prefix=".flux-flex-", suffix=".part", dir=directory)


def discard(path: str) -> None:
    """Remove a temporary file, if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def finalize(temp: str, head: bytes, requested: str | os.PathLike[str], task_id: str) -> str:
    """Rename the finished download to its final name (extension from the real format)."""
    path = os.fspath(requested)
    final = target_path(path, sniff_format(head), task_id, is_dir=os.path.isdir(path))
    try:
        os.chmod(temp, 0o644)
        os.replace(temp, final)
    except BaseException:
        discard(temp)
        raise
    return final
