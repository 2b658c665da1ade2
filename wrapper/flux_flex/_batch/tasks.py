"""The async client's batch runner: asyncio tasks over the `Engine`.

Journal writes (SQLite commits, an fsync each) run on one thread beside the event loop;
a POST on the wire and a journal write are finished even when the run is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from flux_flex._async_driver import AsyncDriver
from flux_flex._base_client import BatchParts
from flux_flex._batch.engine import BatchCounts, Engine, Outcomes, Refused, Request, crashed
from flux_flex._closing import AsyncClosing
from flux_flex._core import batch as steps
from flux_flex._core.actions import Retrying, Send, Sleep
from flux_flex._core.status import Acknowledged
from flux_flex._drivers import notice
from flux_flex.errors import JournalError

__all__ = ["AsyncBatchRun", "generate_many_async"]

logger = logging.getLogger("flux_flex")

R = TypeVar("R")


class _PostedThenCancelled(BaseException):
    """The run was cancelled during a POST; the POST's answer (value or error) came anyway."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.value = value
        self.error = error


_WORKER_DONE = object()
_DEFERRED: Any = object()  # the request was put aside (another worker holds it)


class AsyncBatchRun(AsyncClosing, Generic[R]):
    """A running batch: ``async for index, outcome in run`` in completion order.

    Returned by `AsyncFluxFlex.generate_as_completed`. Each outcome is an `AsyncResult` or
    the exception that request ended with. Nothing starts before the first iteration (which
    checks the whole batch unless ``stream``). ``counts`` is live. Leaving the loop early
    does not stop the run by itself: use ``async with`` (or `aclose`), which stops it —
    POSTs on the wire are awaited and recorded, every created task stays resumable.
    """

    def __init__(
        self, parts: BatchParts[AsyncDriver, R], requests: Iterable[Request], **options: Any
    ) -> None:
        self._engine: Engine[R] = Engine(parts, requests, **options)
        self._driver = parts.driver
        self._queue: asyncio.Queue[Any] | None = None
        self._journal_thread: ThreadPoolExecutor | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._ended_workers = 0
        self._closed = False
        self.unanswered: tuple[int, ...] = ()
        """Requests whose POST was still unanswered when `aclose` stopped waiting: recorded
        as uncertain (a task may exist), never sent again on their own."""

    @property
    def counts(self) -> BatchCounts:
        """Where the batch stands now."""
        return self._engine.tally.counts

    def __aiter__(self) -> AsyncBatchRun[R]:
        return self

    async def __anext__(self) -> tuple[int, R | BaseException]:
        if self._closed:
            raise StopAsyncIteration
        if self._queue is None:
            self._start()
        assert self._queue is not None
        while True:
            got = await self._queue.get()
            if got is not _WORKER_DONE:
                index, outcome = got
                return index, outcome
            self._ended_workers += 1
            if self._ended_workers == len(self._workers):
                await self.aclose()
                error = self._engine.iteration_error
                if error is not None:
                    raise error
                raise StopAsyncIteration

    def _start(self) -> None:
        try:
            total = self._engine.start()
        except BaseException:
            self._closed = True
            self._engine.close()
            raise
        workers = (
            self._engine.concurrency if total is None else min(self._engine.concurrency, total)
        )
        self._queue = asyncio.Queue(maxsize=self._engine.concurrency)
        if self._engine.journal is not None:
            self._journal_thread = ThreadPoolExecutor(1, thread_name_prefix="flux-flex-journal")
        self._workers = [asyncio.create_task(self._worker()) for _ in range(max(workers, 1))]

    async def _worker(self) -> None:
        assert self._queue is not None
        try:
            while (taken := self._engine.take()) is not None:
                done = await self._one(taken)
                if done is not _DEFERRED:
                    await self._queue.put(done)
        except Exception:  # a bug in the engine: the other workers go on
            logger.exception("a batch worker stopped")
        await self._queue.put(_WORKER_DONE)

    async def _one(self, taken: tuple[int, Request] | Refused) -> Any:
        """The request's index and outcome, or `_DEFERRED`."""
        engine = self._engine
        item = taken if isinstance(taken, Refused) else engine.prepare(*taken)
        if isinstance(item, Refused):
            end = steps.End("failed", error=item.error)
        else:
            try:
                end = await self._drive(item)
            except JournalError as exc:  # the claim could not be written: nothing was sent
                end = steps.End("failed", error=exc)
            except Exception as exc:  # one failure never cancels the others
                end = crashed(item, exc)
        if end is _DEFERRED:
            return _DEFERRED
        return engine.conclude(item, end)

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def _drive(self, item: steps.Item) -> Any:
        """The item's `End`, or `_DEFERRED`."""
        engine, driver = self._engine, self._driver
        flow = steps.item_flow(item, engine.core.env.clock)
        answer: Any = None
        error: BaseException | None = None
        cancelled = False
        # From the start that writes "submitting" until the POST's answer (or the
        # abandonment) is recorded: aclose() waits for it (see `Posting`).
        posting = False
        try:
            while True:
                step = flow.throw(error) if error is not None else flow.send(answer)
                answer, error = None, None
                if isinstance(step, steps.StartStep):
                    if not engine.posting.begin(item.index, step.claim):
                        raise asyncio.CancelledError  # stopping: the claim is given back
                    posting = True
                if isinstance(step, steps.LOCAL_STEPS):
                    if isinstance(step, steps.Emit) or self._journal_thread is None:
                        answer = engine.local(item, step)
                    else:
                        # SQLite commits (fsync) run off the event loop, one at a time; the
                        # write completes even if this task is cancelled meanwhile.
                        written = self._loop().run_in_executor(
                            self._journal_thread, engine.local, item, step
                        )
                        answer, interrupted = await _to_the_end(written)
                        cancelled = cancelled or interrupted
                    if isinstance(step, steps.StartStep) and answer != "started":
                        engine.posting.end(item.index)
                        posting = False
                    continue
                if posting and not isinstance(step, steps.Submit):
                    engine.posting.end(item.index)
                    posting = False
                if cancelled:
                    if isinstance(step, steps.Submit):  # claimed, never sent: the flow records it
                        error = steps.Abandon()
                        continue
                    raise asyncio.CancelledError
                if isinstance(step, steps.Hold):
                    # A blocking wait on the journal, off the loop (not on the journal's thread:
                    # writes go on meanwhile); it lasts a second at most.
                    if await self._loop().run_in_executor(None, engine.hold, item, step):
                        return _DEFERRED
                    continue
                if isinstance(step, steps.AwaitSlot):
                    await self._loop().run_in_executor(None, engine.await_slot, item, step)
                    continue
                try:
                    if isinstance(step, steps.Submit):
                        answer = await self._submit(item)
                    elif isinstance(step, steps.Wait):
                        wait = engine.wait_flow(item, step)
                        answer = await driver.run(wait, on_report=engine.on_report(item.index))
                    else:
                        assert item.save_to is not None
                        download = await driver.run(engine.save_flow(item, step.finished))
                        answer = engine.core.saved(download, item.save_to, step.finished.id)
                except _PostedThenCancelled as posted:
                    cancelled = True
                    answer, error = posted.value, posted.error
                except Exception as exc:
                    error = exc
        except StopIteration as stop:
            if cancelled:
                raise asyncio.CancelledError from None
            end: steps.End = stop.value
            return end
        except steps.Abandon:
            raise asyncio.CancelledError from None
        finally:
            if posting:
                engine.posting.end(item.index)
            flow.close()

    async def _submit(self, item: steps.Item) -> Acknowledged:
        """Run the submission's flow; a POST on the wire is finished even when cancelled."""
        flow = self._engine.submit_flow(item)
        cancelled = False
        answer: Any = None
        try:
            action = next(flow)
            while True:
                answer = None
                if isinstance(action, Send):
                    sending = asyncio.ensure_future(self._driver.send(action.request))
                    answer, interrupted = await _to_the_end(sending)
                    cancelled = cancelled or interrupted
                elif isinstance(action, Sleep):
                    if cancelled:
                        raise steps.Abandon
                    try:
                        await asyncio.sleep(action.seconds)
                    except asyncio.CancelledError:
                        raise steps.Abandon from None
                elif isinstance(action, Retrying):
                    notice(action)
                action = flow.send(answer)
        except StopIteration as stop:
            if cancelled:
                raise _PostedThenCancelled(value=stop.value) from None
            ack: Acknowledged = stop.value
            return ack
        except steps.Abandon:
            raise
        except Exception as exc:
            if cancelled:
                raise _PostedThenCancelled(error=exc) from None
            raise
        finally:
            flow.close()

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop the run: no new submissions; POSTs on the wire are awaited and recorded;
        waits are dropped (their tasks stay resumable).

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
        engine.stopping = True
        current = asyncio.current_task()
        pending = [task for task in self._workers if task is not current and not task.done()]
        for task in pending:
            task.cancel()
        running: set[asyncio.Task[None]] = set()
        try:
            if pending:
                # Shielded: a second cancellation must not close the journal under a worker
                # still waiting for a POST's answer.
                _, running = (await _to_the_end(asyncio.wait(pending, timeout=waited)))[0]
        finally:
            if running:  # POSTs still unanswered: uncertain from now on
                self.unanswered = engine.give_up(waited)
                self._close_after(running)
            else:
                self._close_engine()

    def _close_after(self, running: set[asyncio.Task[None]]) -> None:
        """Close the engine once the last of ``running`` ends (it may still record the
        answer its POST gets)."""
        left = set(running)

        def ended(task: asyncio.Task[None]) -> None:
            left.discard(task)
            if not left:
                self._close_engine()

        for task in running:
            task.add_done_callback(ended)

    def _close_engine(self) -> None:
        if self._journal_thread is not None:
            self._journal_thread.shutdown(wait=True)  # idle by now: the workers are done
        self._engine.close()


async def _to_the_end(pending: Awaitable[R]) -> tuple[R, bool]:
    """Await ``pending`` to its end even through cancellations — a billed POST's answer and a
    journal write must not be lost (each is bounded: the client's timeout, SQLite's busy
    timeout). The result, and whether the caller was cancelled meanwhile."""
    future = asyncio.ensure_future(pending)
    cancelled = False
    while True:
        try:
            return await asyncio.shield(future), cancelled
        except asyncio.CancelledError:
            if future.cancelled():  # the work itself was cancelled: nothing to wait for
                raise
            if future.done():
                return future.result(), True
            cancelled = True


async def generate_many_async(
    parts: BatchParts[AsyncDriver, R],
    requests: Iterable[Request],
    *,
    on_result: Callable[[int, R | BaseException], object] | None,
    **options: Any,
) -> list[R | BaseException]:
    """`AsyncFluxFlex.generate_many`: every outcome, in the order of the requests."""
    outcomes: Outcomes[R] = Outcomes(on_result)
    async with AsyncBatchRun(parts, requests, **options) as run:
        async for index, outcome in run:
            outcomes.add(index, outcome)
    return outcomes.in_order()
