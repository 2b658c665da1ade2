"""Temporary download files and their atomic rename to the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile

from flux_flex._core.sniff import sniff_format, target_path
from flux_flex.errors import FieldError, RequestValidationError

__all__ = [
    "HEAD_BYTES",
    "TempDownload",
    "discard",
    "download_dir_for",
    "finalize",
    "new_temp",
    "prepare_target",
]

HEAD_BYTES = 16


def download_dir_for(requested: str | os.PathLike[str]) -> str:
    """The directory the temporary file goes in (the target's, so the rename is atomic)."""
    path = os.fspath(requested)
    if os.path.isdir(path):
        return path
    return os.path.dirname(os.path.abspath(path))


def prepare_target(requested: str | os.PathLike[str]) -> None:
    """Make sure the image can be written there, before a (billed) task is submitted.

    Creates the missing parent folders; raises `RequestValidationError` on ``save_to`` when
    the folder cannot be created or written, so nothing is paid for an image that cannot land.
    """
    directory = download_dir_for(requested)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        problem = f"cannot create the folder {directory!r} ({exc.strerror or exc})"
    else:
        if os.access(directory, os.W_OK | os.X_OK):
            return
        problem = f"the folder {directory!r} is not writable"
    raise RequestValidationError(
        f"Invalid request, nothing was sent: save_to: {problem}. Choose another path.",
        errors=[FieldError("save_to", "writable", f"save_to: {problem}")],
    )


def new_temp(directory: str) -> tuple[int, str]:
    """A new hidden temporary file in ``directory`` (created if missing): descriptor and path."""
    os.makedirs(directory, exist_ok=True)
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


class TempDownload:
    """A download being written to a hidden temporary file; removed again if writing fails.

    ``head`` keeps the first bytes, from which the real image format is sniffed.
    """

    def __init__(self, directory: str) -> None:
        fd, self.path = new_temp(directory)
        self._file = os.fdopen(fd, "wb")
        self.head = b""

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``."""
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._file.write(chunk)

    def __enter__(self) -> TempDownload:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._file.close()
        if kind is not None:
            discard(self.path)
