"""Where a body goes as it streams in (memory or a hidden temporary file), checked on the way;
stale temporary files; the atomic rename to the final name.

Both drivers feed the same `BodySink` the body's raw bytes, so the checks are written once:
the ``Content-Encoding`` undone in bounded steps (`flux_flex._core.inflate`), the size cap
(from ``Content-Length`` before reading, then counted on the inflated bytes while
streaming), the image check of a download (its first bytes must be a PNG, JPEG or WebP
signature), and the exchange's deadline between chunks.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import BinaryIO

import httpx

from flux_flex._core.actions import HttpResponse, RefusedBody
from flux_flex._core.inflate import InflateError, UnsupportedEncoding, inflater
from flux_flex._core.sniff import sniff_format, target_path
from flux_flex.errors import FieldError, RequestValidationError

__all__ = [
    "HEAD_BYTES",
    "PART_PREFIX",
    "BodySink",
    "Refused",
    "discard",
    "download_dir_for",
    "finalize",
    "new_temp",
    "prepare_target",
    "sweep_stale",
]

HEAD_BYTES = 16
PART_PREFIX = ".flux-flex-"
PART_SUFFIX = ".part"
# Leeway for wall-clock steps between the writer and the sweeper (file names carry wall time).
STALE_MARGIN = 5.0
# A folder is swept at most this often (seconds) per process: listing a folder of thousands
# of images before every save would cost more than the stale files do.
SWEEP_EVERY = 60.0
_swept: dict[str, float] = {}
_swept_lock = threading.Lock()
wall_clock = time.time
"""The wall clock temporary file names are stamped with (a test may move it forward)."""


def preloaded(response: httpx.Response) -> tuple[bytes] | None:
    """The body of a response httpx holds in memory already, decoded: one built with
    ``content=`` (as `httpx.MockTransport` handlers and respx build them) is read when it is
    made, and its raw stream is gone. None for a network response: read it raw."""
    if not response.is_stream_consumed:
        return None
    try:
        return (response.content,)
    except httpx.ResponseNotRead:
        return None


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


@functools.cache
def _host_tag() -> str:
    # Which machine wrote a file: a process id means something only on its own host (a
    # folder may be shared over the network).
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def new_temp(directory: str, expires_at: float) -> tuple[int, str]:
    """A new hidden temporary file in ``directory`` (created if missing): descriptor and path.

    Its name carries ``expires_at`` (wall-clock time by which its writer is done, one way
    or another) and the writer (process id and host), so a later save can tell a stale file
    from one being written right now: ``.flux-flex-<expires>-<pid>@<host>-<random>.part``.
    """
    os.makedirs(directory, exist_ok=True)
    prefix = f"{PART_PREFIX}{int(expires_at) + 1}-{os.getpid()}@{_host_tag()}-"
    return tempfile.mkstemp(prefix=prefix, suffix=PART_SUFFIX, dir=directory)


def _expiry(name: str) -> float | None:
    stamp = name[len(PART_PREFIX) :].split("-", 1)[0]
    return float(stamp) if stamp.isdigit() else None


def _writer_is_gone(name: str) -> bool:
    """True when the file's writer was a process of this host that no longer runs."""
    fields = name[len(PART_PREFIX) :].split("-", 2)
    if len(fields) < 3 or "@" not in fields[1]:
        return False  # an older naming: only its expiry or age tells
    pid_text, host = fields[1].split("@", 1)
    if not pid_text.isdigit() or host != _host_tag():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another save of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # alive (another user's), or unknowable: wait for the expiry
    return False


def sweep_stale(directory: str, *, older_than: float, now: float | None = None) -> list[str]:
    """Remove the temporary files of saves that can no longer be running; their paths.

    A file is stale once its writer is a process of this host that no longer runs (a save
    killed mid-download), or once the time in its name has passed (plus a small margin); a
    file without one (an older naming) once it has not changed for ``older_than`` seconds.
    Only our own ``.flux-flex-*.part`` names are touched.
    """
    now = wall_clock() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX)):
            continue
        expires = _expiry(name)
        try:
            stale = _writer_is_gone(name) or (
                now > expires + STALE_MARGIN
                if expires is not None
                else now - entry.stat(follow_symlinks=False).st_mtime > older_than
            )
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def _sweep_now_and_then(directory: str, older_than: float) -> None:
    key = os.path.abspath(directory)
    now = time.monotonic()
    with _swept_lock:
        last = _swept.get(key)
        if last is not None and now - last < SWEEP_EVERY:
            return
        _swept[key] = now
    sweep_stale(directory, older_than=older_than)


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


class Refused(Exception):
    """The body was refused while streaming in; ``answer`` says why (nothing was kept)."""

    def __init__(self, answer: RefusedBody) -> None:
        super().__init__(answer.reason)
        self.answer = answer


class BodySink:
    """Collects one answer's body, in memory or (``directory``) in a hidden temporary file.

    Feed it the raw body (`take`, then `answer`); it undoes the ``Content-Encoding`` in
    bounded steps. Raises `Refused` as soon as the body is known to be too large (over
    ``max_bytes`` once inflated, announced or received), to come in an encoding it cannot
    undo, or, with ``image``, not to start like a PNG, JPEG or WebP; raises
    ``httpx.ReadTimeout`` once ``deadline`` (`time.monotonic` time) has passed and
    ``httpx.DecodingError`` for a corrupt compressed body. On any error the temporary file
    is removed: use it as a context manager.
    """

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        max_bytes: int,
        image: bool = False,
        directory: str | None = None,
        deadline: float | None = None,
        stale_after: float = 0.0,
        decoded: bool = False,
    ) -> None:
        self.status = status
        self.headers = headers
        self.max_bytes = max_bytes
        self.image = image
        self.deadline = deadline
        self.head = b""
        self.received = 0
        self.path: str | None = None
        self._chunks: list[bytes] = []
        self._file: BinaryIO | None = None
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise self._refuse("too_large", int(declared), announced=True)
        try:
            self._inflater = None if decoded else inflater(headers.get("content-encoding"))
        except UnsupportedEncoding:
            raise self._refuse("encoding", 0) from None
        if directory is not None:
            _sweep_now_and_then(directory, stale_after)
            # The writer is done by its deadline; without one, by the staleness bound.
            left = stale_after if deadline is None else max(deadline - time.monotonic(), 0.0)
            fd, self.path = new_temp(directory, wall_clock() + left)
            self._file = os.fdopen(fd, "wb")

    def _refuse(self, reason: str, size: int, *, announced: bool = False) -> Refused:
        answer = RefusedBody(self.status, self.headers, reason, size, self.max_bytes, announced)
        return Refused(answer)

    def take(self, raw: bytes) -> None:
        """Take the next ``raw`` chunk of the body as it came (still encoded)."""
        if self._inflater is None:
            self.write(raw)
            return
        try:
            for piece in self._inflater.feed(raw):
                self.write(piece)
        except InflateError as exc:
            raise httpx.DecodingError(str(exc)) from None

    def write(self, chunk: bytes) -> None:
        """Take the next ``chunk`` of the (inflated) body, checking it on the way."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise httpx.ReadTimeout("the exchange's deadline passed while the body streamed in")
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise self._refuse("too_large", self.received)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
            if self.image and len(self.head) >= HEAD_BYTES:
                self._check_image()
        if self._file is not None:
            self._file.write(chunk)
        else:
            self._chunks.append(chunk)

    def _check_image(self) -> None:
        if sniff_format(self.head) is None:
            raise self._refuse("not_image", self.received)

    def answer(self) -> HttpResponse:
        """The complete body as an `HttpResponse` (call after the last chunk)."""
        if self._inflater is not None:
            try:
                for piece in self._inflater.end():
                    self.write(piece)
            except InflateError as exc:
                raise httpx.DecodingError(str(exc)) from None
        if self.image and len(self.head) < HEAD_BYTES:
            self._check_image()  # a body shorter than the head: checked at its end
        if self._file is not None:
            self._file.close()
            return HttpResponse(self.status, self.headers, temp_path=self.path, head=self.head)
        return HttpResponse(self.status, self.headers, b"".join(self._chunks), head=self.head)

    def __enter__(self) -> BodySink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            return
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            discard(self.path)
