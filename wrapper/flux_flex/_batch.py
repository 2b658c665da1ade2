"""The one batch engine behind ``generate_many`` and ``generate_as_completed``, sync and async.

* A fixed pool of ``concurrency`` workers pulls requests from the iterable one at a time —
  never one task or thread per request — so memory stays flat in the number of requests.
* Every request is checked before any is sent: one bad request and nothing is submitted,
  `BatchValidationError` naming each ``requests[i].field``. The iterable is read once for
  that, keeping only the requests as given (a prompt and its parameters; input images are
  read to check them, then let go). With ``stream=True`` the iterable is read lazily
  instead (an endless generator works) and each request is checked just before it is
  submitted; a bad one becomes its own outcome.
* One request's life is `flux_flex._core.batch.item_flow`: a generator yielding steps, no
  I/O. `_Engine` carries out its journal, counting and event steps — the same code for both
  shells; the shells only run the I/O steps (submit, wait, save): `AsyncBatchRun` with
  asyncio tasks, `BatchRun` with worker threads. Threads, not a private event loop, for
  the sync client: its blocking httpx calls release the GIL, and the run uses the client's
  own connection pool, transport and settings (a private loop would need a second, async
  HTTP client rebuilt from them, and could not use a client the caller passed in).
* Stopping (a cancelled task, Ctrl-C, leaving the loop early) never loses a task: a POST
  already on the wire is awaited and its task id recorded before the run stops; waits are
  dropped, their tasks stay ``submitted`` in the journal, and the next run resumes them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import queue
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from flux_flex import _files
from flux_flex._core import journal as rules
from flux_flex._core.actions import Send, Sleep
from flux_flex._core.batch import (
    LOCAL_STEPS,
    Abandon,
    ClaimStep,
    Emit,
    End,
    EndKind,
    EventKind,
    Item,
    Parsed,
    Record,
    Request,
    Submit,
    Validate,
    Wait,
    batch_error,
    describe_params,
    item_flow,
    parse_request,
)
from flux_flex._core.flows import Flow
from flux_flex._core.journal import Decision
from flux_flex._core.status import Acknowledged, Finished
from flux_flex._shared import ClientCore, Submission
from flux_flex.errors import (
    FieldError,
    JournalError,
    RequestValidationError,
)
from flux_flex.journal import Claim, Journal, name_from_destination

if TYPE_CHECKING:
    from flux_flex.async_client import AsyncFluxFlex
    from flux_flex.client import FluxFlex
    from flux_flex.models import AsyncResult, Result, TaskSnapshot

__all__ = [
    "AsyncBatchRun",
    "BatchCounts",
    "BatchEvent",
    "BatchRun",
    "EventKind",
    "Request",
    "generate_many_async",
    "generate_many_sync",
]

logger = logging.getLogger("flux_flex")

R = TypeVar("R")


# -- what the caller sees while a batch runs ---------------------------------------------------


@attrs.frozen
class BatchCounts:
    """Where a batch stands (a snapshot; every `BatchEvent` carries a fresh one).

    ``failed`` counts every error outcome, ``uncertain`` and ``unfinished`` included.
    """

    total: int | None
    """Requests in the batch; None while a streamed iterable is still being read."""
    finished: int = 0
    """Requests with an outcome so far."""
    in_flight: int = 0
    """Tasks that exist and are being waited for now (created or resumed by this run). After
    an interruption: the tasks left running on the API, which a re-run resumes."""
    done: int = 0
    """Images produced by this run (new, resumed or fetched again)."""
    skipped: int = 0
    """Requests already saved by an earlier run (journal), nothing done."""
    failed: int = 0
    uncertain: int = 0
    """Submissions whose answer never arrived: a task may exist (see `TaskUncertainError`)."""
    unfinished: int = 0
    """Tasks left ``submitted`` (wait timed out, network or disk error): a re-run resumes."""
    created: int = 0
    """Tasks this run created on the API (each one billed)."""
    credits: float = 0.0
    """Credits of the tasks this run created: the settled cost once known, else the
    submission's cost (0 when the API gave none)."""


@attrs.frozen
class BatchEvent:
    """Something happened to request ``index``; ``counts`` is the batch after it.

    ``kind``: ``submitting`` (journal written, the POST is about to leave), ``submitted``
    (task created: ``task_id``; billed), ``resumed`` (waiting again for a task of an earlier
    run), then one final kind with the ``outcome`` (what ``generate_many`` returns for it):
    ``done``, ``skipped``, ``failed``, ``uncertain`` or ``unfinished``.
    """

    kind: EventKind
    index: int
    counts: BatchCounts
    task_id: str | None = None
    outcome: Any = attrs.field(default=None, repr=False)


EventCallback = Callable[[BatchEvent], object]


class _Tally:
    """The live counts; events are delivered one at a time (never concurrently)."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self._lock = threading.RLock()
        self._on_event = on_event
        self._counts = BatchCounts(total=None)
        self._in_flight: set[int] = set()

    @property
    def counts(self) -> BatchCounts:
        return self._counts

    def set_total(self, total: int) -> None:
        with self._lock:
            self._counts = attrs.evolve(self._counts, total=total)

    def emit(self, kind: EventKind, index: int, task_id: str | None, cost: float | None) -> None:
        with self._lock:
            counts = self._counts
            if kind == "submitted":
                self._in_flight.add(index)
                counts = attrs.evolve(
                    counts,
                    created=counts.created + 1,
                    credits=round(counts.credits + (cost or 0.0), 6),
                    in_flight=len(self._in_flight),
                )
            elif kind == "resumed":
                self._in_flight.add(index)
                counts = attrs.evolve(counts, in_flight=len(self._in_flight))
            self._counts = counts
            self._deliver(BatchEvent(kind, index, counts, task_id))

    def finish(
        self, index: int, kind: EndKind, outcome: Any, task_id: str | None, extra_credits: float
    ) -> None:
        with self._lock:
            self._in_flight.discard(index)
            c = self._counts
            failed = kind in ("failed", "uncertain", "unfinished")
            self._counts = attrs.evolve(
                c,
                finished=c.finished + 1,
                in_flight=len(self._in_flight),
                done=c.done + (kind == "done"),
                skipped=c.skipped + (kind == "skipped"),
                failed=c.failed + failed,
                uncertain=c.uncertain + (kind == "uncertain"),
                unfinished=c.unfinished + (kind == "unfinished"),
                credits=round(c.credits + extra_credits, 6),
            )
            self._deliver(BatchEvent(kind, index, self._counts, task_id, outcome))

    def _deliver(self, event: BatchEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken display must not break the batch
            logger.exception("on_event callback failed for item %d", event.index)


def _check(parsed: Parsed, validate: Validate) -> list[FieldError]:
    errors: list[FieldError] = []
    try:
        validate(parsed.prompt, parsed.params, parsed.save_to)
    except RequestValidationError as exc:
        errors.extend(exc.errors or [FieldError("", "invalid", str(exc))])
    except TypeError as exc:  # a parameter of the wrong kind that the checks did not expect
        errors.append(FieldError("", "type", str(exc)))
    if parsed.save_to is not None and not any(e.field == "save_to" for e in errors):
        # The folder must exist (it is created) and be writable before anything is paid.
        try:
            _files.prepare_target(parsed.save_to)
        except RequestValidationError as exc:
            errors.extend(exc.errors)
        except TypeError as exc:
            errors.append(FieldError("save_to", "type", f"save_to: {exc}"))
    return errors


def _errors_of(request: Any, validate: Validate) -> list[FieldError]:
    """Everything wrong with one request (one error per field), nothing sent."""
    parsed, errors = parse_request(request)
    if parsed is not None:
        reported = {error.field for error in errors}
        errors += [e for e in _check(parsed, validate) if e.field not in reported]
    return errors


# -- the shared engine ----------------------------------------------------------------------------


@attrs.frozen
class _Refused:
    """A request that ends before running (not valid when streamed, unreadable image)."""

    index: int
    error: BaseException


class _Engine:
    """What both shells share: reading and checking requests, the journal, the counts."""

    def __init__(
        self,
        core: ClientCore,
        requests: Iterable[Request],
        *,
        validate: Validate,
        concurrency: int,
        timeout: float,
        journal: Journal | str | os.PathLike[str] | None,
        resubmit_uncertain: bool,
        retry_failed: bool,
        stream: bool,
        on_event: EventCallback | None,
        on_progress: Callable[[int, TaskSnapshot], object] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer of at least 1, not {concurrency!r}")
        if not (isinstance(timeout, int | float) and 0 <= timeout < math.inf):
            raise ValueError(f"timeout must be a finite number of seconds, not {timeout!r}")
        if isinstance(requests, str | bytes | Mapping):
            raise TypeError(
                "requests must be an iterable of requests (prompts or dicts), not a single "
                f"{type(requests).__name__}: wrap it in a list"
            )
        self.core = core
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.stream = stream
        self.tally = _Tally(on_event)
        self._on_progress = on_progress
        self._validate = validate
        self._requests: Iterable[Request] | None = requests
        self._iterator: Iterator[Request] | None = None
        self._pending: collections.deque[tuple[int, Request]] = collections.deque()
        self._next_index = 0
        self._exhausted = False
        self.iteration_error: BaseException | None = None
        self._take_lock = threading.Lock()
        self._journal_arg = journal
        self.journal: Journal | None = None
        self._owns_journal = False
        self._owner = ""
        self._resubmit_uncertain = resubmit_uncertain
        self._retry_failed = retry_failed
        self.stopping = False

    def wait_flow(self, step: Wait) -> Flow:
        """The flow of a `Wait` step: the task polled by its id until it ends (or the
        batch's ``timeout`` passes)."""
        return self.core.wait_flow(
            step.task_id,
            step.polling_url,
            timeout=self.timeout,
            webhook=False,
            webhook_grace=None,
            submitted_at=step.submitted_at,
        )

    def progress_for(self, index: int) -> Callable[[TaskSnapshot], object] | None:
        """What the waits of request ``index`` report each poll to (``on_progress``)."""
        on_progress = self._on_progress
        if on_progress is None:
            return None
        return lambda snapshot: on_progress(index, snapshot)

    # -- start and stop ----------------------------------------------------------------------
    def start(self) -> int | None:
        """Check the batch (unless streaming), open the journal; the number of requests."""
        requests, self._requests = self._requests, None
        assert requests is not None, "a batch run starts once"
        total: int | None = None
        if self.stream:
            self._iterator = iter(requests)
        else:
            by_index: dict[int, list[FieldError]] = {}
            for index, request in enumerate(requests):
                errors = _errors_of(request, self._validate)
                if errors:
                    by_index[index] = errors
                elif not by_index:
                    self._pending.append((index, request))
            if by_index:
                self._pending.clear()
                raise batch_error(by_index)
            total = len(self._pending)
            self._exhausted = True
            self.tally.set_total(total)
        self._open_journal()
        return total

    def _open_journal(self) -> None:
        if self._journal_arg is None:
            return
        if isinstance(self._journal_arg, Journal):
            self.journal = self._journal_arg
        else:
            self.journal = Journal(self._journal_arg)
            self._owns_journal = True
        self._owner = self.journal.open_run()

    def close(self) -> None:
        """End the run: the journal is closed if the engine opened it."""
        self.stopping = True
        if self._owner and self.journal is not None:
            self.journal.close_run(self._owner)
        if self.journal is not None and self._owns_journal:
            self.journal.close()
        self.journal = None

    # -- handing out requests ----------------------------------------------------------------
    def take(self) -> tuple[int, Request] | _Refused | None:
        """The next request (thread-safe), a request refused when streamed, or None."""
        with self._take_lock:
            if self.stopping:
                return None
            if self._pending:
                return self._pending.popleft()
            if self._exhausted or self._iterator is None:
                return None
            index = self._next_index
            try:
                request = next(self._iterator)
            except StopIteration:
                self._finish_reading()
                return None
            except Exception as exc:  # the caller's iterable broke: stop reading, report it
                self.iteration_error = exc
                self._finish_reading()
                return None
            self._next_index += 1
        errors = _errors_of(request, self._validate)
        if errors:
            return _Refused(index, batch_error({index: errors}))
        return index, request

    def _finish_reading(self) -> None:
        self._exhausted = True
        self._iterator = None
        self.tally.set_total(self._next_index)

    def prepare(self, index: int, request: Request) -> Item | _Refused:
        """Build the request's submission (reads its input images)."""
        parsed, _ = parse_request(request)
        assert parsed is not None
        try:
            # The same body `generate` sends: save_to's extension picks output_format.
            params = self.core.params_for_target(parsed.params, parsed.save_to)
            submission = self.core.prepare_submission(parsed.prompt, params)
        except (RequestValidationError, TypeError) as exc:
            return _Refused(index, exc)
        save_to = None if parsed.save_to is None else os.path.abspath(os.fspath(parsed.save_to))
        return Item(index, str(parsed.prompt), submission, save_to, describe_params(parsed.params))

    # -- the flow's local steps --------------------------------------------------------------
    def local(self, item: Item, step: ClaimStep | Record | Emit) -> Any:
        """Carry out a journal or counting step (the same for both shells)."""
        if isinstance(step, Emit):
            self.tally.emit(step.kind, item.index, step.task_id, step.cost)
            return None
        if isinstance(step, ClaimStep):
            if self.journal is None:
                return Claim(Decision.SUBMIT, None, 0)
            body, name = item.submission.body, name_from_destination(item.save_to)
            claim = self.journal.claim(
                # Identical requests of one run: the first occurrence it has not taken yet.
                # The name is the file name, not the folder: workers share one batch.
                lambda occurrence: rules.fingerprint(body, name, occurrence),
                prompt=item.prompt,
                params=item.params,
                save_to=item.save_to,
                owner=self._owner,
                resubmit_uncertain=self._resubmit_uncertain,
                retry_failed=self._retry_failed,
                digest=rules.parameters_digest(body),
            )
            if claim.decision is Decision.HELD:
                # Until the engine waits for what another live run holds (issue 20), it does
                # what it did before HELD existed: resume a task, report a submission.
                held = claim.entry.state if claim.entry is not None else None
                resume = held in (rules.State.SUBMITTED, rules.State.READY)
                decision = Decision.RESUME if resume else Decision.UNCERTAIN
                claim = attrs.evolve(claim, decision=decision)
            return claim
        if self.journal is not None:
            try:
                claim = step.claim
                written = self.journal.record(
                    claim.fingerprint, claim.attempt, step.event, owner=self._owner
                )
            except JournalError as exc:
                # The outcome goes on; the entry keeps its last state (a submitting entry
                # is then reported as uncertain, never resubmitted).
                logger.warning("request %d: %s", item.index, exc)
            else:
                if not written:
                    logger.warning(
                        "request %d: the journal entry was changed by another run; %s not recorded",
                        item.index,
                        type(step.event).__name__,
                    )
        return None

    def conclude(
        self, item: Item | _Refused, end: End, make: Callable[[Finished, str | None], R]
    ) -> tuple[int, R | BaseException]:
        """The request's outcome (built by the shell's ``make``), counted and reported."""
        if end.error is not None:
            outcome: R | BaseException = end.error
        else:
            assert end.finished is not None
            outcome = make(end.finished, end.path)
        task_id = end.finished.id if end.finished is not None else None
        task_id = task_id or getattr(end.error, "task_id", None)
        self.tally.finish(item.index, end.kind, outcome, task_id, end.extra_credits)
        return item.index, outcome


def _validator(client: FluxFlex | AsyncFluxFlex) -> Validate:
    """The client's own check of one request (sends nothing)."""

    def validate(prompt: Any, params: Mapping[str, Any], save_to: Any) -> None:
        client.validate(prompt, save_to=save_to, **params)

    return validate


def _crashed(item: Item | _Refused, exc: Exception) -> End:
    logger.exception("request %d ended with an unexpected error", item.index)
    return End("failed", error=exc)


# -- the async shell ------------------------------------------------------------------------------


class _PostedThenCancelled(BaseException):
    """The run was cancelled during a POST; the POST's answer (value or error) came anyway."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.value = value
        self.error = error


_WORKER_DONE = object()


class AsyncBatchRun:
    """A running batch: ``async for index, outcome in run`` in completion order.

    Returned by `AsyncFluxFlex.generate_as_completed`. Each outcome is an `AsyncResult` or
    the exception that request ended with. Nothing starts before the first iteration (which
    checks the whole batch unless ``stream``). ``counts`` is live. Leaving the loop early
    does not stop the run by itself: use ``async with`` (or `aclose`), which stops it —
    POSTs on the wire are awaited and recorded, every created task stays resumable.
    """

    def __init__(self, client: AsyncFluxFlex, requests: Iterable[Request], **options: Any) -> None:
        self._client = client
        self._engine = _Engine(client._core, requests, validate=_validator(client), **options)
        self._queue: asyncio.Queue[Any] | None = None
        self._journal_thread: ThreadPoolExecutor | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._ended_workers = 0
        self._closed = False

    @property
    def counts(self) -> BatchCounts:
        """Where the batch stands now."""
        return self._engine.tally.counts

    def __aiter__(self) -> AsyncBatchRun:
        return self

    async def __anext__(self) -> tuple[int, AsyncResult | BaseException]:
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
                await self._queue.put(await self._one(taken))
        except Exception:  # a bug in the engine: the other workers go on
            logger.exception("a batch worker stopped")
        await self._queue.put(_WORKER_DONE)

    async def _one(
        self, taken: tuple[int, Request] | _Refused
    ) -> tuple[int, AsyncResult | BaseException]:
        engine = self._engine
        item = taken if isinstance(taken, _Refused) else engine.prepare(*taken)
        if isinstance(item, _Refused):
            end = End("failed", error=item.error)
        else:
            try:
                end = await self._drive(item)
            except JournalError as exc:  # the claim could not be written: nothing was sent
                end = End("failed", error=exc)
            except Exception as exc:  # one failure never cancels the others
                end = _crashed(item, exc)
        return engine.conclude(item, end, self._make)

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _make(self, finished: Finished, path: str | None) -> AsyncResult:
        result = self._client._result(finished)
        return result if path is None else attrs.evolve(result, path=path)

    async def _drive(self, item: Item) -> End:
        engine, client = self._engine, self._client
        flow = item_flow(item, client._core.env.clock)
        answer: Any = None
        error: BaseException | None = None
        cancelled = False
        try:
            while True:
                step = flow.throw(error) if error is not None else flow.send(answer)
                answer, error = None, None
                if isinstance(step, LOCAL_STEPS):
                    if isinstance(step, Emit) or self._journal_thread is None:
                        answer = engine.local(item, step)
                    else:
                        # SQLite commits (fsync) run off the event loop, one at a time; the
                        # write completes even if this task is cancelled meanwhile.
                        written = self._loop().run_in_executor(
                            self._journal_thread, engine.local, item, step
                        )
                        answer, interrupted = await _to_the_end(written)
                        cancelled = cancelled or interrupted
                    continue
                if cancelled:
                    if isinstance(step, Submit):  # claimed, never sent: the flow records it
                        error = Abandon()
                        continue
                    raise asyncio.CancelledError
                try:
                    if isinstance(step, Submit):
                        answer = await self._submit(item.submission)
                    elif isinstance(step, Wait):
                        answer = await client._driver.run(
                            engine.wait_flow(step), on_progress=engine.progress_for(item.index)
                        )
                    else:
                        assert item.save_to is not None
                        answer = await client.download(client._result(step.finished), item.save_to)
                except _PostedThenCancelled as posted:
                    cancelled = True
                    answer, error = posted.value, posted.error
                except Exception as exc:
                    error = exc
        except StopIteration as stop:
            if cancelled:
                raise asyncio.CancelledError from None
            end: End = stop.value
            return end
        except Abandon:
            raise asyncio.CancelledError from None
        finally:
            flow.close()

    async def _submit(self, submission: Submission) -> Acknowledged:
        """Run the submission's flow; a POST on the wire is finished even when cancelled."""
        client = self._client
        flow = client._core.submission_flow(submission)
        cancelled = False
        answer: Any = None
        try:
            action = next(flow)
            while True:
                answer = None
                if isinstance(action, Send):
                    sending = asyncio.ensure_future(client._driver.send(action.request))
                    answer, interrupted = await _to_the_end(sending)
                    cancelled = cancelled or interrupted
                elif isinstance(action, Sleep):
                    if cancelled:
                        raise Abandon
                    try:
                        await asyncio.sleep(action.seconds)
                    except asyncio.CancelledError:
                        raise Abandon from None
                action = flow.send(answer)
        except StopIteration as stop:
            if cancelled:
                raise _PostedThenCancelled(value=stop.value) from None
            ack: Acknowledged = stop.value
            return ack
        except Abandon:
            raise
        except Exception as exc:
            if cancelled:
                raise _PostedThenCancelled(error=exc) from None
            raise
        finally:
            flow.close()

    async def aclose(self) -> None:
        """Stop the run: no new submissions; POSTs on the wire are awaited and recorded."""
        if self._closed:
            return
        self._closed = True
        self._engine.stopping = True
        current = asyncio.current_task()
        pending = [task for task in self._workers if task is not current and not task.done()]
        for task in pending:
            task.cancel()
        try:
            if pending:
                # Shielded: a second cancellation must not close the journal under a worker
                # still waiting for a POST's answer.
                await _to_the_end(asyncio.gather(*pending, return_exceptions=True))
        finally:
            if self._journal_thread is not None:
                self._journal_thread.shutdown(wait=True)  # idle by now: the workers are done
            self._engine.close()

    async def __aenter__(self) -> AsyncBatchRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


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
    client: AsyncFluxFlex,
    requests: Iterable[Request],
    *,
    on_result: Callable[[int, AsyncResult | BaseException], object] | None,
    **options: Any,
) -> list[AsyncResult | BaseException]:
    """`AsyncFluxFlex.generate_many`: every outcome, in the order of the requests."""
    outcomes: list[AsyncResult | BaseException | None] = []
    async with AsyncBatchRun(client, requests, **options) as run:
        async for index, outcome in run:
            _place(outcomes, index, outcome)
            _call(on_result, index, outcome)
    return _complete(outcomes)


# -- the sync shell -------------------------------------------------------------------------------


class BatchRun:
    """A running batch of the sync client: ``for index, outcome in run`` in completion order.

    Worker threads (``concurrency`` of them) carry the requests; the loop runs in the
    caller's thread. ``counts`` is live. Leaving the loop early does not stop the run by
    itself: use ``with`` (or `close`), which stops it — POSTs on the wire are awaited and
    recorded, waits are dropped (their tasks stay resumable).
    """

    def __init__(self, client: FluxFlex, requests: Iterable[Request], **options: Any) -> None:
        self._client = client
        self._engine = _Engine(client._core, requests, validate=_validator(client), **options)
        self._results: queue.Queue[Any] = queue.Queue(maxsize=self._engine.concurrency)
        self._threads: list[threading.Thread] = []
        self._ended_workers = 0
        self._started = False
        self._closed = False
        self._stop = threading.Event()
        self._live_threads = 0
        self._posting = 0
        self._posting_changed = threading.Condition()

    @property
    def counts(self) -> BatchCounts:
        """Where the batch stands now."""
        return self._engine.tally.counts

    def __iter__(self) -> BatchRun:
        return self

    def __next__(self) -> tuple[int, Result | BaseException]:
        if self._closed:
            raise StopIteration
        if not self._started:
            self._start()
        while True:
            try:
                got = self._results.get(timeout=0.25)
            except queue.Empty:
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
                self._put(done)
        except Exception:  # a bug in the engine: the other workers go on
            logger.exception("a batch worker stopped")
        finally:
            self._put(_WORKER_DONE)
            with self._posting_changed:
                self._live_threads -= 1
                last = self._live_threads == 0 and self._closed
            if last:  # close() returned while this thread was still waiting on a task
                self._engine.close()

    def _put(self, value: Any) -> None:
        while not self._stop.is_set():
            try:
                self._results.put(value, timeout=0.25)
                return
            except queue.Full:
                continue

    def _one(self, taken: tuple[int, Request] | _Refused) -> tuple[int, Any] | None:
        engine = self._engine
        item = taken if isinstance(taken, _Refused) else engine.prepare(*taken)
        if isinstance(item, _Refused):
            end: End | None = End("failed", error=item.error)
        else:
            try:
                end = self._drive(item)
            except JournalError as exc:  # the claim could not be written: nothing was sent
                end = End("failed", error=exc)
            except Exception as exc:  # one failure never cancels the others
                end = _crashed(item, exc)
        if end is None:
            return None
        return engine.conclude(item, end, self._make)

    def _make(self, finished: Finished, path: str | None) -> Result:
        result = self._client._result(finished)
        return result if path is None else attrs.evolve(result, path=path)

    def _drive(self, item: Item) -> End | None:
        """The item's flow, or None when the run stopped before its end."""
        engine, client = self._engine, self._client
        flow = item_flow(item, client._core.env.clock)
        answer: Any = None
        error: BaseException | None = None
        # From the claim that writes "submitting" until the POST's answer (or the
        # abandonment) is recorded: close() waits for it, so a stopped run never leaves a
        # request marked as sent when it was not, nor sends one after close() returned.
        posting = False
        try:
            while True:
                step = flow.throw(error) if error is not None else flow.send(answer)
                answer, error = None, None
                if isinstance(step, ClaimStep):
                    if not self._posting_started():
                        return None  # stopping: nothing was written for this request
                    posting = True
                    answer = engine.local(item, step)
                    if answer.decision is not Decision.SUBMIT:
                        posting = self._posting_done()
                    continue
                if isinstance(step, LOCAL_STEPS):
                    answer = engine.local(item, step)
                    continue
                if posting and not isinstance(step, Submit):
                    posting = self._posting_done()
                if self._stop.is_set():
                    if isinstance(step, Submit):
                        error = Abandon()  # recorded by the flow: nothing was sent
                        continue
                    return None
                try:
                    if isinstance(step, Submit):
                        answer = self._submit(item.submission)
                    elif isinstance(step, Wait):
                        answer = client._driver.run(
                            engine.wait_flow(step), on_progress=engine.progress_for(item.index)
                        )
                    else:
                        assert item.save_to is not None
                        answer = client.download(client._result(step.finished), item.save_to)
                except Exception as exc:
                    error = exc
        except StopIteration as stop:
            end: End = stop.value
            return end
        except Abandon:
            return None
        finally:
            if posting:
                self._posting_done()
            flow.close()

    def _submit(self, submission: Submission) -> Acknowledged:
        client = self._client
        flow = client._core.submission_flow(submission)
        try:
            action = next(flow)
            while True:
                answer: Any = None
                if isinstance(action, Send):
                    answer = client._driver.send(action.request)
                elif isinstance(action, Sleep) and self._stop.wait(action.seconds):
                    raise Abandon
                action = flow.send(answer)
        except StopIteration as stop:
            ack: Acknowledged = stop.value
            return ack
        finally:
            flow.close()

    def _posting_started(self) -> bool:
        """Count a request about to be claimed; False (nothing counted) once stopping."""
        with self._posting_changed:
            if self._stop.is_set():
                return False
            self._posting += 1
        return True

    def _posting_done(self) -> bool:
        with self._posting_changed:
            self._posting -= 1
            self._posting_changed.notify_all()
        return False

    def close(self) -> None:
        """Stop the run: no new submissions; POSTs on the wire are awaited and recorded;
        waits are dropped (the worker threads end after their current request)."""
        if self._closed:
            return
        self._closed = True
        with self._posting_changed:  # under the lock: no claim starts after this
            self._stop.set()
        self._engine.stopping = True
        with self._posting_changed:
            self._posting_changed.wait_for(
                lambda: self._posting == 0, timeout=_post_bound(self._client)
            )
            idle = self._live_threads == 0
        if idle:
            self._engine.close()
        # else: the last worker thread to end closes it (they may still record a wait's end)

    def __enter__(self) -> BatchRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _post_bound(client: FluxFlex) -> float:
    """How long close() waits for POSTs on the wire: the longest an exchange may take."""
    timeout = client._core.timeout
    parts = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
    return sum(parts) + 5.0 if parts else 60.0


def generate_many_sync(
    client: FluxFlex,
    requests: Iterable[Request],
    *,
    on_result: Callable[[int, Result | BaseException], object] | None,
    **options: Any,
) -> list[Result | BaseException]:
    """`FluxFlex.generate_many`: every outcome, in the order of the requests."""
    outcomes: list[Result | BaseException | None] = []
    with BatchRun(client, requests, **options) as run:
        for index, outcome in run:
            _place(outcomes, index, outcome)
            _call(on_result, index, outcome)
    return _complete(outcomes)


# -- shared by both collectors --------------------------------------------------------------------


def _place(outcomes: list[Any], index: int, outcome: Any) -> None:
    if index >= len(outcomes):
        outcomes.extend([None] * (index + 1 - len(outcomes)))
    outcomes[index] = outcome


def _call(on_result: Callable[[int, Any], object] | None, index: int, outcome: Any) -> None:
    if on_result is None:
        return
    try:
        on_result(index, outcome)
    except Exception:  # a broken callback must not cancel the other items
        logger.exception("on_result callback failed for item %d", index)


def _complete(outcomes: list[R | None]) -> list[R]:
    missing = [index for index, outcome in enumerate(outcomes) if outcome is None]
    if missing:  # every request ends with an outcome unless the run was stopped
        raise RuntimeError(f"the batch ended without outcomes for requests {missing[:10]}")
    return [outcome for outcome in outcomes if outcome is not None]
