"""Progress of one task or of a batch: a live rich bar on a terminal, plain lines otherwise.

Everything here writes to stderr, so stdout carries only the answer (a path, or ``--json``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Protocol

from flux_flex._closing import Closing

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["FINAL_KINDS", "BatchProgress", "Counts", "Snapshot", "TaskProgress"]


class Snapshot(Protocol):
    """What a poll reports (``flux_flex.TaskSnapshot`` fits)."""

    @property
    def status(self) -> str: ...

    @property
    def progress(self) -> float | None: ...


def _make_bar(stream: IO[str], extra_line: Callable[[], str], *, percent: bool) -> Progress:
    """A rich `Progress` (spinner, label, bar, count or percentage, status, elapsed time)
    whose row is followed by ``extra_line()`` on a line of its own, so long text (a task id,
    the batch's figures) never squeezes the bar: readable in 60 columns."""
    from rich.console import Console, RenderableType
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class TwoLines(Progress):
        def get_renderables(self) -> Iterable[RenderableType]:
            yield self.make_tasks_table(self.tasks)
            line = extra_line()
            if line:
                yield Text(line, overflow="fold")

    count: ProgressColumn = TaskProgressColumn() if percent else MofNCompleteColumn()
    return TwoLines(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20 if percent else 24),
        count,
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=False,
        expand=False,
    )


def _plain(text: str) -> str:
    """``text`` escaped for rich markup (ids and statuses come from outside)."""
    from rich.markup import escape

    return escape(text)


class TaskProgress(Closing):
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
        self._detail = "" if label == "task" else label  # the live display's second line

    def _enter(self) -> None:
        self._started = time.monotonic()
        if self._live:
            self._bar = _make_bar(self._stream, lambda: self._detail, percent=True)
            self._bar.start()
            self._task = self._bar.add_task("task", total=None, status=_plain(self._first_status))
        else:
            self._print(f"{self._label}: {self._first_status}")

    def close(self) -> None:
        """Stop the live display (its last state stays on the terminal)."""
        if self._bar is not None:
            self._bar.stop()

    @property
    def elapsed(self) -> float:
        """Seconds since the progress display started."""
        return time.monotonic() - self._started

    def track(self, task_id: str, status: str, note: str = "") -> None:
        """The task is known: show its id, ``status`` (e.g. ``submitted``) and ``note``."""
        label = f"task {task_id}"
        if self._bar is not None and self._task is not None:
            self._detail = f"{label} ({note})" if note else label
            self._bar.update(self._task, status=_plain(status))
        elif (label, status) != (self._label, self._first_status):
            self._print(f"{label}: {status}" + (f" ({note})" if note else ""))
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


class Counts(Protocol):
    """A batch's running totals (``flux_flex.BatchCounts`` fits)."""

    @property
    def in_flight(self) -> int: ...

    @property
    def done(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def credits(self) -> float: ...


FINAL_KINDS = frozenset({"done", "skipped", "failed", "uncertain", "unfinished", "held"})
"""Event kinds that end an item (the others: submitting, submitted, resumed)."""


class BatchProgress(Closing):
    """A batch's progress: in flight, done, failed and credits spent so far.

    Fed the batch engine's events (`event`). On a terminal: a bar with the count and the
    elapsed time, and the running figures on a line of their own, both narrower than 60
    columns. Otherwise: one plain line per finished item.
    """

    def __init__(self, total: int, *, stream: IO[str] | None = None, live: bool | None = None):
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._total = total
        self._finished = 0
        self._counts: Counts | None = None
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def _enter(self) -> None:
        self._started = time.monotonic()
        if self._live:
            self._bar = _make_bar(self._stream, self.figures, percent=False)
            self._bar.start()
            self._task = self._bar.add_task("batch", total=self._total, status="")

    def close(self) -> None:
        """Stop the live display (its last state stays on the terminal)."""
        if self._bar is not None:
            self._bar.stop()

    @property
    def credits(self) -> float:
        """Credits spent by the run so far (as the engine counts them)."""
        return 0.0 if self._counts is None else self._counts.credits

    def figures(self) -> str:
        """``in flight 3 · done 5 · failed 1 · 26.20 credits``: the running totals."""
        c = self._counts
        in_flight, done, failed, credits = (
            (0, 0, 0, 0.0) if c is None else (c.in_flight, c.done, c.failed, c.credits)
        )
        return f"in flight {in_flight} · done {done} · failed {failed} · {credits:.2f} credits"

    def event(self, kind: str, name: str, counts: Counts) -> None:
        """Item ``name`` reached ``kind`` (an engine event kind); ``counts``: the batch now."""
        self._counts = counts
        if kind not in FINAL_KINDS:
            self._refresh()
            return
        self._finished += 1
        if self._bar is not None:
            self._refresh()
            return
        elapsed = time.monotonic() - self._started
        state = {
            "done": "done",
            "skipped": "already saved",
            "held": "being handled by another process",
        }.get(kind, kind.upper())
        print(
            f"[{elapsed:6.1f}s] {self._finished}/{self._total} {state}: {name} ({self.figures()})",
            file=self._stream,
            flush=True,
        )

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self._finished)
