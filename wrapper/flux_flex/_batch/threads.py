"""The sync client's batch runner: worker threads over the `Engine`.

Threads, not a private event loop: the client's blocking httpx calls release the GIL, and the
run uses the client's own connection pool (see `flux_flex._batch.engine`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from flux_flex._base_client import BatchParts
from flux_flex._batch.engine import (
    BatchCounts,
    Engine,
    Outcomes,
    Refused,
    Request,
    crashed,
)
from flux_flex._closing import Closing
from flux_flex._core import batch as steps
from flux_flex._core.actions import Retrying, Send, Sleep
from flux_flex._core.status import Acknowledged
from flux_flex._drivers import SyncDriver, notice
from flux_flex.errors import JournalError

__all__ = ["BatchRun", "generate_many_sync"]

logger = logging.getLogger("flux_flex")

R = TypeVar("R")

_WORKER_DONE = object()
_DEFERRED: Any = object()  # the request was put aside (another worker holds it)


class BatchRun(Closing, Generic[R]):
    """A running batch of the sync client: ``for index, outcome in run`` in completion order.

    Returned by `FluxFlex.generate_as_completed`. Worker threads (``concurrency`` of them)
    carry the requests; the loop runs in the caller's thread. ``counts`` is live. Leaving
    the loop early does not stop the run by itself: use ``with`` (or `close`), which stops
    it — POSTs on the wire are awaited and recorded, waits are dropped (their tasks stay
    resumable).
    """

    def __init__(
        self, parts: BatchParts[SyncDriver, R], requests: Iterable[Request], **options: Any
    ) -> None:
        self._engine: Engine[R] = Engine(parts, requests, **options)
        self._driver = parts.driver
        self._results: queue.Queue[Any] = queue.Queue(maxsize=self._engine.concurrency)
        self._threads: list[threading.Thread] = []
        self._ended_workers = 0
        self._started = False
        self._closed = False
        self._stop = threading.Event()
        self._threads_lock = threading.Lock()
        self._live_threads = 0
        self._last_closes = False  # the last worker thread to end closes the engine
        self.unanswered: tuple[int, ...] = ()
        """Requests whose POST was still unanswered when `close` stopped waiting: recorded
        as uncertain (a task may exist), never sent again on their own."""

    @property
    def counts(self) -> BatchCounts:
        """Where the batch stands now."""
        return self._engine.tally.counts

    def __iter__(self) -> BatchRun[R]:
        return self

    def __next__(self) -> tuple[int, R | BaseException]:
        if self._closed:
            raise StopIteration
        if not self._started:
            self._start()
        while True:
            try:
                got = self._results.get(timeout=0.25)
            except queue.Empty:
                if self._closed:  # closed from another thread: nothing more comes
                    raise StopIteration from None
                continue
            if got is not _WORKER_DONE:
                index, outcome = got
                return index, outcome
            self._ended_workers += 1
            if self._ended_workers == len(self._threads):
                self.close()
                error = self._engine.iteration_error
                if error is not None:
                    raise error
                raise StopIteration

    def _start(self) -> None:
        self._started = True
        try:
            total = self._engine.start()
        except BaseException:
            self._closed = True
            self._engine.close()
            raise
        workers = (
            self._engine.concurrency if total is None else min(self._engine.concurrency, total)
        )
        self._threads = [
            threading.Thread(target=self._worker, name=f"flux-flex-batch-{n}", daemon=True)
            for n in range(max(workers, 1))
        ]
        self._live_threads = len(self._threads)
        for thread in self._threads:
            thread.start()

    def _worker(self) -> None:
        try:
            while not self._stop.is_set() and (taken := self._engine.take()) is not None:
                done = self._one(taken)
                if done is None:
                    break
                if done is not _DEFERRED:
                    self._put(done)
        except Exception:  # a bug in the engine: the other workers go on
            logger.exception("a batch worker stopped")
        finally:
            self._put(_WORKER_DONE)
            with self._threads_lock:
                self._live_threads -= 1
                last = self._live_threads == 0 and self._last_closes
            if last:  # close() returned while this thread was still waiting on a task
                self._engine.close()

    def _put(self, value: Any) -> None:
        while not self._stop.is_set():
            try:
                self._results.put(value, timeout=0.25)
                return
            except queue.Full:
                continue

    def _one(self, taken: tuple[int, Request] | Refused) -> tuple[int, Any] | None:
        engine = self._engine
        item = taken if isinstance(taken, Refused) else engine.prepare(*taken)
        if isinstance(item, Refused):
            end: steps.End | None = steps.End("failed", error=item.error)
        else:
            try:
                end = self._drive(item)
            except JournalError as exc:  # the claim could not be written: nothing was sent
                end = steps.End("failed", error=exc)
            except Exception as exc:  # one failure never cancels the others
                end = crashed(item, exc)
        if end is None or end is _DEFERRED:
            return end
        return engine.conclude(item, end)

    def _drive(self, item: steps.Item) -> Any:
        """The item's flow, None when the run stopped before its end, or `_DEFERRED`."""
        engine, driver = self._engine, self._driver
        flow = steps.item_flow(item, engine.core.env.clock)
        answer: Any = None
        error: BaseException | None = None
        # From the start that writes "submitting" until the POST's answer (or the
        # abandonment) is recorded: close() waits for it, so a stopped run never leaves a
        # request marked as sent when it was not, nor sends one after close() returned. (A
        # claim alone sends nothing: a stopped run's claims are free once it ends.)
        posting = False
        try:
            while True:
                step = flow.throw(error) if error is not None else flow.send(answer)
                answer, error = None, None
                if isinstance(step, steps.ClaimStep) and self._stop.is_set():
                    return None
                if isinstance(step, steps.StartStep):
                    if not engine.posting.begin(item.index, step.claim):
                        return None  # stopping: the claim is given back when the run ends
                    posting = True
                    answer = engine.local(item, step)
                    if answer != "started":
                        engine.posting.end(item.index)
                        posting = False
                    continue
                if isinstance(step, steps.LOCAL_STEPS):
                    answer = engine.local(item, step)
                    continue
                if posting and not isinstance(step, steps.Submit):
                    engine.posting.end(item.index)
                    posting = False
                if self._stop.is_set():
                    if isinstance(step, steps.Submit):
                        error = steps.Abandon()  # recorded by the flow: nothing was sent
                        continue
                    return None
                if isinstance(step, steps.Hold):
                    if engine.hold(item, step):
                        return _DEFERRED
                    continue
                if isinstance(step, steps.AwaitSlot):
                    engine.await_slot(item, step)
                    continue
                try:
                    if isinstance(step, steps.Submit):
                        answer = self._submit(item)
                    elif isinstance(step, steps.Wait):
                        wait = engine.wait_flow(item, step)
                        answer = driver.run(wait, on_report=engine.on_report(item.index))
                    else:
                        assert item.save_to is not None
                        download = driver.run(engine.save_flow(item, step.finished))
                        answer = engine.core.saved(download, item.save_to, step.finished.id)
                except Exception as exc:
                    error = exc
        except StopIteration as stop:
            end: steps.End = stop.value
            return end
        except steps.Abandon:
            return None
        finally:
            if posting:
                engine.posting.end(item.index)
            flow.close()

    def _submit(self, item: steps.Item) -> Acknowledged:
        """The submission's flow; a backoff before a resend ends at once when stopping."""
        flow = self._engine.submit_flow(item)
        try:
            action = next(flow)
            while True:
                answer: Any = None
                if isinstance(action, Send):
                    answer = self._driver.send(action.request)
                elif isinstance(action, Sleep) and self._stop.wait(action.seconds):
                    raise steps.Abandon
                elif isinstance(action, Retrying):
                    notice(action)
                action = flow.send(answer)
        except StopIteration as stop:
            ack: Acknowledged = stop.value
            return ack
        finally:
            flow.close()

    def close(self, timeout: float | None = None) -> None:
        """Stop the run: no new submissions; POSTs on the wire are awaited and recorded;
        waits are dropped (the worker threads end after their current request).

        ``timeout``: seconds to wait for POSTs on the wire (default: as long as one
        exchange may take). A POST still unanswered then is recorded as uncertain and
        listed in `unanswered`: a task may exist, and it is never sent again on its own.
        """
        if self._closed:
            return
        engine = self._engine
        waited = engine.stop_wait(timeout, self._driver.exchange_timeout)
        self._closed = True
        engine.posting.stop()  # no POST starts after this
        self._stop.set()
        engine.stopping = True
        if not engine.posting.wait_idle(waited):
            self.unanswered = engine.give_up(waited)
        with self._threads_lock:
            idle = self._live_threads == 0
            self._last_closes = not idle
        if idle:
            engine.close()
        # else: the last worker thread to end closes it (they may still record a wait's end)


def generate_many_sync(
    parts: BatchParts[SyncDriver, R],
    requests: Iterable[Request],
    *,
    on_result: Callable[[int, R | BaseException], object] | None,
    **options: Any,
) -> list[R | BaseException]:
    """`FluxFlex.generate_many`: every outcome, in the order of the requests."""
    outcomes: Outcomes[R] = Outcomes(on_result)
    with BatchRun(parts, requests, **options) as run:
        for index, outcome in run:
            outcomes.add(index, outcome)
    return outcomes.in_order()
