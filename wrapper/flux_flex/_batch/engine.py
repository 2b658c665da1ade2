"""The one batch engine behind ``generate_many`` and ``generate_as_completed``, sync and async.

* A fixed pool of ``concurrency`` workers pulls requests from the iterable one at a time —
  never one task or thread per request — so memory stays flat in the number of requests.
* Every request is checked before any is sent: one bad request and nothing is submitted,
  `BatchValidationError` naming each ``requests[i].field``. The iterable is read once for
  that, keeping only the requests as given (a prompt and its parameters; input images are
  read to check them, then let go; a `PreparedRequest` is kept as it is, already checked).
  With ``stream=True`` the iterable is read lazily instead (an endless generator works) and
  each request is checked just before it is submitted; a bad one becomes its own outcome.
* One request's life is `flux_flex._core.batch.item_flow`: a generator yielding steps, no
  I/O. `Engine` carries out its journal, counting and event steps — the same code for both
  runners; the runners only run the I/O steps (submit, wait, save) with what the client
  handed them (`BatchParts`: the core's flows, the driver, the result factory):
  `flux_flex._batch.tasks` with asyncio tasks, `flux_flex._batch.threads` with worker
  threads. Threads, not a private event loop, for the sync client: its blocking httpx calls
  release the GIL, and the run uses the client's own connection pool, transport and
  settings (a private loop would need a second, async HTTP client rebuilt from them, and
  could not use a client the caller passed in).
* Several workers (threads, processes, machines) share one batch through one journal: each
  line is claimed by exactly one of them under its run's lease, and started only while fewer
  than ``max_in_flight`` tasks run across all of them. A line another live worker holds is
  put aside while other lines are left, then waited for (until that worker saves it, or its
  lease runs out and the line is taken over), within the line's ``timeout``.
* Stopping (a cancelled task, Ctrl-C, leaving the loop early) never loses a task: a POST
  already on the wire is awaited and its task id recorded before the run stops; waits are
  dropped, their tasks stay ``submitted`` in the journal, and the next run resumes them.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypedDict, TypeVar

import attrs

from flux_flex import _files
from flux_flex._base_client import BatchParts, snapshot_of
from flux_flex._core import journal as rules
from flux_flex._core.actions import Report
from flux_flex._core.batch import (
    AwaitSlot,
    ClaimStep,
    Emit,
    End,
    EndKind,
    EventKind,
    Hold,
    Item,
    Look,
    Record,
    Request,
    StartStep,
    Wait,
    batch_error,
    parse_request,
)
from flux_flex._core.deadline import Deadline
from flux_flex._core.flows import Flow
from flux_flex._core.journal import Decision
from flux_flex._core.request import PreparedRequest
from flux_flex._core.status import Finished
from flux_flex._requests import prepare
from flux_flex.errors import FieldError, JournalError, RequestValidationError
from flux_flex.journal import DEFAULT_LEASE, Claim, Journal, Start, name_from_destination
from flux_flex.models import TaskSnapshot

__all__ = [
    "BatchCounts",
    "BatchEvent",
    "BatchOptions",
    "Engine",
    "EventKind",
    "Outcomes",
    "Refused",
    "Request",
    "crashed",
    "errors_of",
]

logger = logging.getLogger("flux_flex")

R = TypeVar("R")

DEFAULT_MAX_IN_FLIGHT = 24
"""Tasks running at once across every worker sharing a journal (most accounts' limit)."""
HELD_RECHECK = 1.0
"""Seconds between looks at a line another worker holds (its lease may run out unseen)."""
SLOT_RECHECK = 1.0
"""Seconds between tries for an account slot when no journal change wakes the worker."""
LOCKED_RECHECK = 0.05
# How much longer than its longest exchange stopping a run waits for a POST on the wire: the
# worker that sent it must still record the answer. An unbounded client (httpx.Timeout(None))
# is given a minute.
RECORD_MARGIN = 5.0
UNBOUNDED_EXCHANGE = 55.0


# -- what the caller sees while a batch runs ---------------------------------------------------


@attrs.frozen
class BatchCounts:
    """Where a batch stands (a snapshot; every `BatchEvent` carries a fresh one).

    ``failed`` counts every error outcome, ``uncertain`` and ``unfinished`` included —
    not ``held`` (another worker is handling those).
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
    held: int = 0
    """Requests another live worker sharing the journal still held when their timeout
    passed: that worker saves them (not failures of this run)."""
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
    ``done``, ``skipped``, ``failed``, ``uncertain``, ``unfinished`` or ``held`` (another
    live worker sharing the journal is handling it: `TaskInProgressError`).
    """

    kind: EventKind
    index: int
    counts: BatchCounts
    task_id: str | None = None
    outcome: Any = attrs.field(default=None, repr=False)
    by: str | None = None
    """``pid@host`` of the other worker that holds (``held``) or saved (``skipped``) the
    request; None when it is this run's."""


EventCallback = Callable[[BatchEvent], object]


class BatchOptions(TypedDict, total=False):
    """What ``generate_many`` and ``generate_as_completed`` take besides the requests,
    ``concurrency`` and ``timeout`` (all optional):

    * ``journal`` (a `Journal` or a file path; default none) makes the batch safe to run
      again: a re-run skips what was saved, resumes tasks already created, and reports a
      submission whose answer was lost as `TaskUncertainError` instead of paying again;
    * ``resubmit_uncertain`` (default False) sends those again anyway; ``retry_failed``
      (default False) tries again requests that failed in an earlier run;
    * ``stream`` (default False) reads the requests lazily, checking each just before it
      is sent, instead of all up front;
    * ``max_in_flight`` (default 24; with a journal) caps the tasks running at once across
      every worker sharing the journal (``concurrency`` stays this run's own limit);
    * ``lease`` (default 30 s; with a journal): how long this run's claims outlive it if it
      dies without a word (renewed every third of it while it runs);
    * ``on_event(event)`` receives a `BatchEvent` at every step; ``on_progress(index,
      snapshot)`` every poll of every request's task.
    """

    journal: Journal | str | os.PathLike[str] | None
    resubmit_uncertain: bool
    retry_failed: bool
    stream: bool
    max_in_flight: int | None
    lease: float
    on_event: EventCallback | None
    on_progress: Callable[[int, TaskSnapshot], object] | None


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
        self,
        index: int,
        kind: EndKind,
        outcome: Any,
        task_id: str | None,
        extra_credits: float,
        by: str | None = None,
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
                held=c.held + (kind == "held"),
                credits=round(c.credits + extra_credits, 6),
            )
            self._deliver(BatchEvent(kind, index, self._counts, task_id, outcome, by))

    def _deliver(self, event: BatchEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken display must not break the batch
            logger.exception("on_event callback failed for item %d", event.index)


def errors_of(request: Any) -> list[FieldError]:
    """Everything wrong with one request (one error per field), nothing sent: the checks
    of `flux_flex.prepare_request`, and ``save_to``'s folder (created, and writable)."""
    if isinstance(request, PreparedRequest):
        save_to: Any = request.save_to  # checked when it was prepared, but for its folder
        errors: list[FieldError] = []
    else:
        parsed, errors = parse_request(request)
        if parsed is None:
            return errors
        reported = {error.field for error in errors}
        try:
            prepare(parsed.prompt, parsed.params, parsed.save_to)
        except RequestValidationError as exc:
            errors += [e for e in exc.errors if e.field not in reported]
        except TypeError as exc:  # a parameter of a kind the checks did not expect
            errors.append(FieldError("", "type", str(exc)))
        save_to = parsed.save_to
    if save_to is not None and not any(e.field == "save_to" for e in errors):
        # The folder must exist (it is created) and be writable before anything is paid.
        try:
            _files.prepare_target(save_to)
        except RequestValidationError as exc:
            errors.extend(exc.errors)
        except TypeError as exc:
            errors.append(FieldError("save_to", "type", f"save_to: {exc}"))
    return errors


# -- the shared engine ----------------------------------------------------------------------------


class Posting:
    """The requests whose POST may be on the wire: from the journal write that marks one
    ``submitting`` until its answer is recorded. Stopping a run waits for them (both runners),
    and nothing new starts once `stop` was called. Thread-safe."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        """Notified whenever a POST's answer is recorded."""
        self._sending: dict[int, Claim] = {}
        self._stopped = False

    def begin(self, index: int, claim: Claim) -> bool:
        """Count request ``index`` as about to post; False (nothing counted) once stopped."""
        with self.changed:
            if self._stopped:
                return False
            self._sending[index] = claim
        return True

    def end(self, index: int) -> None:
        """Request ``index``'s POST was answered and recorded (or never left)."""
        with self.changed:
            self._sending.pop(index, None)
            self.changed.notify_all()

    def stop(self) -> None:
        """No request begins posting from now on."""
        with self.changed:
            self._stopped = True

    def wait_idle(self, timeout: float) -> bool:
        """Block until no POST is on the wire, at most ``timeout`` seconds; True if none is."""
        with self.changed:
            return self.changed.wait_for(lambda: not self._sending, timeout=timeout)

    def sending(self) -> dict[int, Claim]:
        """The requests (by index) whose POST is on the wire now, with their claims."""
        with self.changed:
            return dict(self._sending)


@attrs.frozen
class Refused:
    """A request that ends before running (not valid when streamed, unreadable image)."""

    index: int
    error: BaseException


class Engine(Generic[R]):
    """What both runners share: reading and checking requests, the journal, the counts,
    the flows of the I/O steps, and the outcomes (the client's results)."""

    def __init__(
        self,
        parts: BatchParts[Any, R],
        requests: Iterable[Request],
        *,
        concurrency: int,
        timeout: float,
        journal: Journal | str | os.PathLike[str] | None = None,
        resubmit_uncertain: bool = False,
        retry_failed: bool = False,
        stream: bool = False,
        max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
        lease: float = DEFAULT_LEASE,
        on_event: EventCallback | None = None,
        on_progress: Callable[[int, TaskSnapshot], object] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer of at least 1, not {concurrency!r}")
        if max_in_flight is not None and (
            isinstance(max_in_flight, bool)
            or not isinstance(max_in_flight, int)
            or max_in_flight < 1
        ):
            raise ValueError(
                f"max_in_flight must be an integer of at least 1 or None, not {max_in_flight!r}"
            )
        if isinstance(lease, bool) or not (isinstance(lease, int | float) and 0 < lease < 1e9):
            raise ValueError(f"lease must be a positive number of seconds, not {lease!r}")
        Deadline.after(timeout, parts.core.env.clock)  # refuses a timeout no request keeps
        if isinstance(requests, str | bytes | Mapping | PreparedRequest):
            raise TypeError(
                "requests must be an iterable of requests (prompts or dicts), not a single "
                f"{type(requests).__name__}: wrap it in a list"
            )
        self.core = parts.core
        self._result = parts.result
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.stream = stream
        self.tally = _Tally(on_event)
        self._on_progress = on_progress
        self._requests: Iterable[Request] | None = requests
        self._iterator: Iterator[Request] | None = None
        self._pending: collections.deque[tuple[int, Request]] = collections.deque()
        # Lines other live workers hold, put aside while other lines are left (with the
        # deadline they started with: waiting for them never extends it).
        self._deferred: collections.deque[tuple[int, Request]] = collections.deque()
        self._deadlines: dict[int, Deadline] = {}
        self.max_in_flight = max_in_flight
        self.lease = float(lease)
        self._next_index = 0
        self._exhausted = False
        self.iteration_error: BaseException | None = None
        self._take_lock = threading.Lock()
        self._journal_arg = journal
        self.journal: Journal | None = None
        self._owns_journal = False
        self._owner = ""
        self._names: dict[int, str] = {}
        self._resubmit_uncertain = resubmit_uncertain
        self._retry_failed = retry_failed
        self.stopping = False
        self.posting = Posting()

    # -- the flows of the I/O steps, for the runners ----------------------------------------
    def submit_flow(self, item: Item) -> Flow:
        """The flow of a `Submit` step (billed)."""
        return self.core.submit_flow(item.request, item.deadline)

    def wait_flow(self, item: Item, step: Wait) -> Flow:
        """The flow of a `Wait` step: the task polled by its id until it ends (or the
        request's deadline passes)."""
        return self.core.wait_flow(
            step.task_id,
            step.polling_url,
            deadline=item.deadline,
            submitted_at=step.submitted_at,
            secrets=step.secrets,
        )

    def save_flow(self, item: Item, finished: Finished) -> Flow:
        """The flow of a `Save` step: the image downloaded beside ``item.save_to``."""
        assert item.save_to is not None
        return self.core.download_flow(
            finished.url,
            finished.id,
            item.save_to,
            deadline=item.deadline,
            secrets=item.request.secrets,
        )

    def on_report(self, index: int) -> Callable[[Report], object] | None:
        """What the waits of request ``index`` report each poll to (``on_progress``)."""
        on_progress = self._on_progress
        if on_progress is None:
            return None
        return lambda report: on_progress(index, snapshot_of(report))

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
                errors = errors_of(request)
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
        self._owner = self.journal.open_run(self.lease, self.lease / 3)

    def close(self) -> None:
        """End the run: the journal is closed if the engine opened it."""
        self.stopping = True
        if self._owner and self.journal is not None:
            self.journal.close_run(self._owner)
        if self.journal is not None and self._owns_journal:
            self.journal.close()
        self.journal = None

    def stop_wait(self, timeout: float | None, exchange_timeout: float | None) -> float:
        """Seconds a stopping run waits for its POSTs on the wire: ``timeout`` if given, else
        as long as one exchange may take (``exchange_timeout``, the client's bound) and the
        time to record its answer."""
        if timeout is None:
            return (exchange_timeout or UNBOUNDED_EXCHANGE) + RECORD_MARGIN
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise ValueError(f"timeout must be a number of seconds of at least 0, not {timeout!r}")
        return float(timeout)

    def give_up(self, waited: float) -> tuple[int, ...]:
        """Stop waiting for the POSTs still on the wire after ``waited`` seconds of stopping:
        each is recorded as uncertain (a task may exist; never sent again on its own). The
        indices of their requests."""
        unanswered = self.posting.sending()
        if unanswered:
            self.lost(unanswered, f"no answer within {waited:g} s of stopping")
        return tuple(sorted(unanswered))

    # -- handing out requests ----------------------------------------------------------------
    def take(self) -> tuple[int, Request] | Refused | None:
        """The next request (thread-safe), a request refused when streamed, or None."""
        with self._take_lock:
            if self.stopping:
                return None
            if self._pending:
                return self._pending.popleft()
            if self._exhausted or self._iterator is None:
                return self._deferred.popleft() if self._deferred else None
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
        errors = errors_of(request)
        if errors:
            return Refused(index, batch_error({index: errors}))
        return index, request

    def _finish_reading(self) -> None:
        self._exhausted = True
        self._iterator = None
        self.tally.set_total(self._next_index)

    def prepare(self, index: int, request: Request) -> Item | Refused:
        """The request as an `Item`, its deadline starting now: a `PreparedRequest` as it
        is, any other built (reading its input images) exactly as ``generate`` builds it."""
        if not isinstance(request, PreparedRequest):
            parsed, _ = parse_request(request)
            assert parsed is not None
            try:
                request = prepare(parsed.prompt, parsed.params, parsed.save_to)
            except (RequestValidationError, TypeError) as exc:
                return Refused(index, exc)
        save_to = None if request.save_to is None else os.path.abspath(request.save_to)
        deadline = self._deadlines.pop(index, None) or self.core.deadline(self.timeout)
        return Item(index, request, save_to, deadline)

    # -- lines held by other workers, and account slots --------------------------------------
    def hold(self, item: Item, step: Hold) -> bool:
        """Wait a little for a line another live worker holds (blocking); True when the
        line was put aside instead (take it up later: `take` hands it out again)."""
        if self._fresh_work():
            self._defer(item)
            return True
        assert self.journal is not None
        left = item.deadline.left(self.core.env.clock())
        entry = step.claim.entry
        if entry is None:  # another worker is deciding on it this very moment
            time.sleep(min(LOCKED_RECHECK, left))
        else:
            timeout = min(HELD_RECHECK, left)
            self.journal.wait_for_change(step.claim.fingerprint, timeout=timeout, since=entry)
        with self._take_lock:
            others = bool(self._deferred) and not self.stopping
        if others:  # go round the lines put aside, a second per look
            self._defer(item)
        return others

    def await_slot(self, item: Item, step: AwaitSlot) -> None:
        """Wait a little for an account slot to free (any journal change; blocking)."""
        assert self.journal is not None
        left = item.deadline.left(self.core.env.clock())
        self.journal.wait_for_change(timeout=min(SLOT_RECHECK, left))

    def _fresh_work(self) -> bool:
        with self._take_lock:
            return bool(self._pending) or not (self._exhausted or self._iterator is None)

    def _defer(self, item: Item) -> None:
        with self._take_lock:
            self._deadlines[item.index] = item.deadline
            self._deferred.append((item.index, item.request))

    # -- the flow's local steps --------------------------------------------------------------
    def local(self, item: Item, step: ClaimStep | StartStep | Record | Look | Emit) -> Any:
        """Carry out a journal or counting step (the same for both shells)."""
        if isinstance(step, Emit):
            self.tally.emit(step.kind, item.index, step.task_id, step.cost)
            return None
        if isinstance(step, ClaimStep):
            if self.journal is None:
                return Claim(Decision.SUBMIT, None, 0)
            body, name = item.request.body, name_from_destination(item.save_to)
            # Identical requests of one run: the first occurrence it has not taken yet (the
            # same one again when the request comes back to be claimed again). The name is
            # the file name, not the folder: workers share one batch.
            names = self._names.get(item.index)
            fingerprint: Any = names or (
                lambda occurrence: rules.fingerprint(body, name, occurrence)
            )
            claim = self.journal.claim(
                fingerprint,
                prompt=item.prompt,
                params=item.request.params,
                save_to=item.save_to,
                owner=self._owner,
                resubmit_uncertain=self._resubmit_uncertain,
                retry_failed=self._retry_failed,
                digest=rules.parameters_digest(body),
                begin=False,
            )
            self._names[item.index] = claim.fingerprint
            return claim
        if isinstance(step, StartStep):
            if self.journal is None:
                return Start.STARTED
            claim = step.claim
            return self.journal.start(
                claim.fingerprint,
                claim.attempt,
                owner=self._owner,
                max_in_flight=self.max_in_flight,
            )
        if isinstance(step, Look):
            if self.journal is None:
                return None
            try:
                return self.journal.entry(step.claim.fingerprint)
            except JournalError as exc:  # not knowing only costs a second download
                logger.warning("request %d: %s", item.index, exc)
                return None
        if self.journal is None:
            return True
        try:
            claim = step.claim
            written = self.journal.record(
                claim.fingerprint, claim.attempt, step.event, owner=self._owner
            )
        except JournalError as exc:
            # The outcome goes on; the entry keeps its last state (a submitting entry
            # is then reported as uncertain, never resubmitted).
            logger.warning("request %d: %s", item.index, exc)
            return False
        if not written and not isinstance(step.event, rules.Ready):  # Ready: looked at next
            logger.warning(
                "request %d: the journal entry was changed by another run; %s not recorded",
                item.index,
                type(step.event).__name__,
            )
        return written

    def lost(self, claims: Mapping[int, Claim], why: str) -> None:
        """Record the POSTs of ``claims`` (by request index) as sent without an answer: they
        are uncertain from now on (a task may exist), even if the answer comes later."""
        if self.journal is None:
            return
        event = rules.Lost(f"The run stopped before the submission was answered: {why}.", "Lost")
        for index, claim in claims.items():
            try:
                self.journal.record(claim.fingerprint, claim.attempt, event, owner=self._owner)
            except JournalError as exc:
                logger.warning("request %d: %s", index, exc)

    def conclude(self, item: Item | Refused, end: End) -> tuple[int, R | BaseException]:
        """The request's outcome (the client's result, or the error), counted and reported."""
        if end.error is not None:
            outcome: R | BaseException = end.error
        else:
            assert end.finished is not None
            outcome = self._result(end.finished, end.path)
        task_id = end.finished.id if end.finished is not None else None
        task_id = task_id or getattr(end.error, "task_id", None)
        self.tally.finish(item.index, end.kind, outcome, task_id, end.extra_credits, end.by)
        return item.index, outcome


def crashed(item: Item | Refused, exc: Exception) -> End:
    """The end of a request whose run broke on something unexpected (logged: a bug)."""
    logger.exception("request %d ended with an unexpected error", item.index)
    return End("failed", error=exc)


# -- generate_many: every outcome, in the order of the requests --------------------------------


class Outcomes(Generic[R]):
    """The outcomes of a run as they come, handed to ``on_result``, then in request order."""

    def __init__(self, on_result: Callable[[int, R | BaseException], object] | None) -> None:
        self._on_result = on_result
        self._outcomes: list[R | BaseException | None] = []

    def add(self, index: int, outcome: R | BaseException) -> None:
        """Keep ``outcome`` of request ``index``, and tell ``on_result`` (whose failures are
        logged: a broken callback must not cancel the other requests)."""
        if index >= len(self._outcomes):
            self._outcomes.extend([None] * (index + 1 - len(self._outcomes)))
        self._outcomes[index] = outcome
        if self._on_result is not None:
            try:
                self._on_result(index, outcome)
            except Exception:
                logger.exception("on_result callback failed for item %d", index)

    def in_order(self) -> list[R | BaseException]:
        """Every outcome, in the order of the requests."""
        missing = [index for index, outcome in enumerate(self._outcomes) if outcome is None]
        if missing:  # every request ends with an outcome unless the run was stopped
            raise RuntimeError(f"the batch ended without outcomes for requests {missing[:10]}")
        return [outcome for outcome in self._outcomes if outcome is not None]
