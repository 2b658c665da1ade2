"""Progress of one task or of a batch: a live rich bar on a terminal, plain lines otherwise.

Everything here writes to stderr, so stdout carries only the answer (a path, or ``--json``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
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
    """A batch's progress: in flight, done, failed and credits spent so far.

    On a terminal: a bar with the count and elapsed time, and a line of figures under it,
    both narrower than 60 columns. Otherwise: one plain line per finished item.
    """

    def __init__(self, total: int, *, stream: IO[str] | None = None, live: bool | None = None):
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._total = total
        self._done = 0
        self._failed = 0
        self._credits = 0.0
        self._in_flight: set[object] = set()
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BatchProgress:
        self._started = time.monotonic()
        if self._live:
            self._bar = _make_batch_bar(self._stream, self.figures)
            self._bar.start()
            self._task = self._bar.add_task("batch", total=self._total)
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
    def in_flight(self) -> int:
        """Tasks submitted (or resumed) and not finished yet."""
        return len(self._in_flight)

    def figures(self) -> str:
        """``in flight 3 · done 5 · failed 1 · 26.2 credits``: the running totals."""
        return (
            f"in flight {self.in_flight} · done {self._done} · failed {self._failed} · "
            f"{self._credits:.2f} credits"
        )

    def submitted(self, key: object) -> None:
        """A task for item ``key`` exists now (submitted, or resumed from the journal)."""
        self._in_flight.add(key)
        self._refresh()

    def item_done(
        self, name: str, *, ok: bool, key: object = None, cost: float | None = None
    ) -> None:
        """Item ``key`` (shown as ``name``) finished; ``cost``: credits it was billed."""
        self._in_flight.discard(key)
        self._done += 1 if ok else 0
        self._failed += 0 if ok else 1
        self._credits += cost or 0.0
        if self._bar is not None:
            self._refresh()
            return
        elapsed = time.monotonic() - self._started
        state = "done" if ok else "FAILED"
        print(
            f"[{elapsed:6.1f}s] {self._done + self._failed}/{self._total} {state}: {name} "
            f"({self.figures()})",
            file=self._stream,
            flush=True,
        )

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self._done + self._failed)


def _make_batch_bar(stream: IO[str], figures: Callable[[], str]) -> Progress:
    """A rich `Progress` whose bar line is followed by the batch's running figures."""
    from rich.console import Console, RenderableType
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class BatchBar(Progress):
        def get_renderables(self) -> Iterable[RenderableType]:
            yield self.make_tasks_table(self.tasks)
            yield Text(figures(), overflow="fold")

    return BatchBar(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=False,
        expand=False,
    )
