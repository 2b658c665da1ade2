"""Progress of one task or of a batch: a live rich bar on a terminal, plain lines otherwise.

Everything here writes to stderr, so stdout carries only the answer (a path, or ``--json``).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["BatchProgress", "Snapshot", "TaskProgress"]


class Snapshot(Protocol):
    """What a poll reports (``flux_flex.TaskSnapshot`` fits)."""

    @property
    def status(self) -> str: ...

    @property
    def progress(self) -> float | None: ...


def _make_progress(stream: IO[str], *, bar_label: str) -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn(bar_label),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=False,
    )


def _plain(text: str) -> str:
    """``text`` escaped for rich markup (ids and statuses come from outside)."""
    from rich.markup import escape

    return escape(text)


class TaskProgress:
    """Shows one task's status, progress and elapsed time until it ends.

    On a terminal: one live bar. Otherwise: one line per change of status and per 25 % of
    progress, each with the elapsed time, so logs stay short.
    """

    def __init__(
        self,
        label: str,
        *,
        first_status: str = "submitting",
        stream: IO[str] | None = None,
        live: bool | None = None,
    ):
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._label = label
        self._first_status = first_status
        self._started = time.monotonic()
        self._last_line: tuple[str, int] | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TaskProgress:
        self._started = time.monotonic()
        if self._live:
            self._bar = _make_progress(self._stream, bar_label="{task.fields[status]}")
            self._bar.start()
            self._task = self._bar.add_task(
                _plain(self._label), total=None, status=_plain(self._first_status)
            )
        else:
            self._print(f"{self._label}: {self._first_status}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    @property
    def elapsed(self) -> float:
        """Seconds since the progress display started."""
        return time.monotonic() - self._started

    def track(self, task_id: str, status: str) -> None:
        """The task is known: show its id (and ``status``, e.g. ``submitted``)."""
        label = f"task {task_id}"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=_plain(label), status=_plain(status))
        elif (label, status) != (self._label, self._first_status):
            self._print(f"{label}: {status}")
        self._label = label

    def update(self, snapshot: Snapshot) -> None:
        """Feed one poll (the ``on_progress`` callback of ``job.wait``)."""
        self.show(snapshot.status, snapshot.progress)

    def show(self, status: str, fraction: float | None = None) -> None:
        """Show ``status`` and, when known, ``fraction`` done (0..1)."""
        if self._bar is not None and self._task is not None:
            if fraction is None:
                self._bar.update(self._task, status=_plain(status))
            else:
                self._bar.update(self._task, status=_plain(status), total=1.0, completed=fraction)
            return
        bucket = -1 if fraction is None else int(fraction * 4)  # quarters
        if (status, bucket) == self._last_line:
            return
        self._last_line = (status, bucket)
        percent = "" if fraction is None else f" {fraction:.0%}"
        self._print(f"{self._label}: {status}{percent}")

    def _print(self, text: str) -> None:
        print(f"[{self.elapsed:6.1f}s] {text}", file=self._stream, flush=True)


class BatchProgress:
    """One bar (or plain lines) for a batch: items done out of total, with failures counted."""

    def __init__(self, total: int, *, stream: IO[str] | None = None, live: bool | None = None):
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._total = total
        self._done = 0
        self._failed = 0
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BatchProgress:
        self._started = time.monotonic()
        if self._live:
            label = "{task.completed:.0f}/{task.total:.0f} {task.fields[failed]}"
            self._bar = _make_progress(self._stream, bar_label=label)
            self._bar.start()
            self._task = self._bar.add_task("batch", total=self._total, failed="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def item_done(self, name: str, *, ok: bool) -> None:
        """One item finished (``ok`` False when it failed)."""
        self._done += 1
        self._failed += 0 if ok else 1
        if self._bar is not None and self._task is not None:
            failed = f"[red]{self._failed} failed" if self._failed else ""
            self._bar.update(self._task, completed=self._done, failed=failed)
            return
        elapsed = time.monotonic() - self._started
        state = "done" if ok else "FAILED"
        print(
            f"[{elapsed:6.1f}s] {self._done}/{self._total} {state}: {name}",
            file=self._stream,
            flush=True,
        )
