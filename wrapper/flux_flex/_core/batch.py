"""One request of a batch, without I/O: the steps of its life as a generator, and the
checks and descriptions of requests that need no I/O.

`item_flow` yields steps — journal and counting steps (`ClaimStep`, `StartStep`, `Record`,
`Emit`), waits on other workers (`Hold`, `AwaitSlot`) and I/O steps (`Submit`, `Wait`,
`Save`) — and receives their answers, like `flows` does with HTTP actions;
`flux_flex._batch` carries them out, the same engine for the sync and the async client.
Errors of I/O steps are thrown in.

Workers on several machines share one batch through one journal: a line is claimed
(``claimed``, nothing sent), then started only while the account has a free slot across
every worker (``submitting``), then sent. A line another live worker holds is waited for
(or put aside while other lines are left); when that worker's lease runs out, the journal's
rules hand the line over (`flux_flex._core.journal.plan`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Literal

import attrs

from flux_flex._core import journal as rules
from flux_flex._core.deadline import Deadline
from flux_flex._core.journal import Claim, Decision, JournalEntry
from flux_flex._core.request import PreparedRequest
from flux_flex._core.status import Acknowledged, Finished
from flux_flex.errors import (
    BatchValidationError,
    FieldError,
    PreviouslyFailedError,
    RateLimitError,
    TaskInProgressError,
    TaskUncertainError,
)

__all__ = [
    "LOCAL_STEPS",
    "Abandon",
    "AwaitSlot",
    "ClaimStep",
    "Emit",
    "End",
    "EndKind",
    "EventKind",
    "Hold",
    "Item",
    "Look",
    "Parsed",
    "Record",
    "Request",
    "Save",
    "StartStep",
    "Step",
    "Submit",
    "Wait",
    "batch_error",
    "item_flow",
    "parse_request",
]

Request = str | Mapping[str, Any] | PreparedRequest
"""A prompt, a dict of ``generate`` arguments (``prompt``, submit parameters, ``save_to``),
or a `PreparedRequest`."""

EventKind = Literal[
    "submitting",
    "submitted",
    "resumed",
    "done",
    "skipped",
    "failed",
    "uncertain",
    "unfinished",
    "held",
]
EndKind = Literal["done", "skipped", "failed", "uncertain", "unfinished", "held"]
MAX_LISTED_ERRORS = 20


@attrs.frozen
class Item:
    """A checked request, ready to run: what its flow and the journal need. ``deadline``:
    the request's submission, wait and save all end by it (the batch's ``timeout``,
    counted from when the request started)."""

    index: int
    request: PreparedRequest = attrs.field(repr=False)
    save_to: str | None
    deadline: Deadline

    @property
    def prompt(self) -> str:
        return self.request.prompt


@attrs.frozen
class ClaimStep:
    """Ask the journal what to do (answer: a `Claim`)."""


@attrs.frozen
class StartStep:
    """Move the claim to ``submitting`` if the account has a free slot (answer: ``started``,
    ``no_slot`` or ``lost``, the values of `flux_flex.journal.Start`)."""

    claim: Claim


@attrs.frozen
class Hold:
    """Another live worker holds the line (``claim`` is `Decision.HELD`): wait a little for
    its entry to change, then claim again (answer: ignored). A runner may instead put the
    line aside while other lines are left, and take it up again later."""

    claim: Claim


@attrs.frozen
class AwaitSlot:
    """Every account slot is taken (across workers): wait a little for one to free, then
    start again (answer: ignored)."""


@attrs.frozen
class Record:
    """Write ``event`` to the entry ``claim`` took, if still at its attempt (answer: whether
    it was written; always True without a journal)."""

    event: rules.Event
    claim: Claim


@attrs.frozen
class Look:
    """Read the entry ``claim`` took as it is now (answer: a `JournalEntry`, or None)."""

    claim: Claim


@attrs.frozen
class Emit:
    """Count and report progress (answer: None)."""

    kind: EventKind
    task_id: str | None = None
    cost: float | None = None


@attrs.frozen
class Submit:
    """Send the item's request (answer: `Acknowledged`, or the error thrown in)."""


@attrs.frozen
class Wait:
    """Wait for the task (answer: `Finished`, or the error thrown in); ``secrets``: what
    the task's errors must never show besides the API key (its webhook secret)."""

    task_id: str
    polling_url: str | None
    submitted_at: float | None
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)


@attrs.frozen
class Save:
    """Download the image to the item's ``save_to`` (answer: the path written)."""

    finished: Finished


Step = ClaimStep | StartStep | Record | Look | Emit | Hold | AwaitSlot | Submit | Wait | Save
LOCAL_STEPS = (ClaimStep, StartStep, Record, Look, Emit)


@attrs.frozen
class End:
    """How a request ended: a result (``finished``) or an error."""

    kind: EndKind
    finished: Finished | None = None
    path: str | None = None
    error: BaseException | None = None
    extra_credits: float = 0.0
    """Settled cost minus the submission's, for a task created by this run."""
    by: str | None = None
    """For ``held``: the worker holding it; for ``skipped``: the worker that saved it, when
    that was another run (``pid@host``)."""


class Abandon(Exception):
    """The run stopped before the submission's POST left (internal)."""


def item_flow(item: Item, clock: Callable[[], float]) -> Generator[Step, Any, End]:
    """One request: claim it in the journal, submit or resume, wait, save, record each step.

    Errors of the I/O steps are thrown in; every outcome is returned as an `End`, never
    raised. `Abandon` thrown into `Submit` is recorded (nothing was sent) and re-raised.
    """
    claim = yield from _claimed(item, clock)
    if isinstance(claim, End):
        return claim
    entry, decision = claim.entry, claim.decision
    if decision is Decision.SKIP:
        assert entry is not None
        assert entry.task_id is not None
        stored = Finished(
            entry.task_id, entry.url or "", entry.seed, entry.prompt, {}, cost=entry.cost
        )
        return End("skipped", finished=stored, path=entry.path, by=_saved_by(entry, item))
    if decision is Decision.UNCERTAIN:
        return End("uncertain", error=_uncertain(item, claim))
    if decision is Decision.FAILED:
        assert entry is not None
        return End("failed", error=_failed_before(item, entry, claim.fingerprint))

    submitted_at: float | None = None
    submit_cost: float | None = None
    created = decision is Decision.SUBMIT
    if created:
        yield Emit("submitting")
        try:
            ack: Acknowledged = yield Submit()
        except Abandon:
            yield Record(rules.Abandoned(), claim)
            raise
        except Exception as exc:
            event = rules.submit_failure(exc)
            yield Record(event, claim)
            if not isinstance(event, rules.Accepted):
                return End("uncertain" if isinstance(event, rules.Lost) else "failed", error=exc)
            task_id, polling_url = event.task_id, None  # the error named the task: wait for it
        else:
            task_id, polling_url, submit_cost = ack.id, ack.polling_url, ack.cost
            submitted_at = clock()
            yield Record(rules.Accepted(task_id, polling_url, submit_cost), claim)
        yield Emit("submitted", task_id, submit_cost)
    else:  # RESUME or REDOWNLOAD: the task exists, never submit it again
        assert entry is not None
        assert entry.task_id is not None
        task_id, polling_url, submit_cost = entry.task_id, entry.polling_url, entry.submit_cost
        yield Emit("resumed", task_id)

    try:
        finished: Finished = yield Wait(
            task_id, polling_url, submitted_at, secrets=item.request.secrets
        )
        final_news = entry is None or entry.state not in (rules.State.READY, rules.State.SAVED)
        if item.save_to is not None and final_news:
            # Final on the API: its account slot is free for every worker before the download.
            ready = rules.Ready(finished.url, finished.seed, finished.cost)
            if not (yield Record(ready, claim)):
                now: JournalEntry | None = yield Look(claim)
                if now is not None and now.state is rules.State.SAVED and now.path:
                    # A webhook receiver saved the image first: not downloaded twice.
                    return _saved_elsewhere(finished, now, created, submit_cost)
        path: str | None = None
        if item.save_to is not None:
            path = yield Save(finished)
    except Exception as exc:
        ended = rules.wait_failure(exc)
        if decision is Decision.REDOWNLOAD and isinstance(ended, rules.Ended):
            assert entry is not None
            ended = rules.Ended(
                f"The image saved earlier at {entry.path} is missing or damaged, and it "
                f"cannot be fetched again: {ended.error}",
                ended.error_type,
            )
        yield Record(ended, claim)
        return End("failed" if isinstance(ended, rules.Ended) else "unfinished", error=exc)
    if finished.prompt == item.prompt and finished.prompt is not item.prompt:
        finished = attrs.evolve(finished, prompt=item.prompt)  # one string for both, not two
    settled = finished.cost  # the settled cost, when the Ready answer gave one
    cost = settled if settled is not None else submit_cost
    yield Record(rules.Saved(path, finished.url, finished.seed, cost), claim)
    extra = settled - (submit_cost or 0.0) if created and settled is not None else 0.0
    return End("done", finished=finished, path=path, extra_credits=extra)


def _claimed(item: Item, clock: Callable[[], float]) -> Generator[Step, Any, Claim | End]:
    """The claim the request goes on with — for `Decision.SUBMIT` started (``submitting``)
    within the account's slots — or its end: held by another live worker until the
    request's deadline (``held``), or no slot free by then (``unfinished``, nothing sent)."""
    claim: Claim = yield ClaimStep()
    while True:
        if claim.decision is Decision.HELD:
            if item.deadline.left(clock()) <= 0:
                return End("held", error=_held(item, claim), by=claim.holder)
            yield Hold(claim)
            claim = yield ClaimStep()
            continue
        if claim.decision is not Decision.SUBMIT:
            return claim
        started = yield StartStep(claim)
        if started == "started":
            return claim
        if started == "lost":  # the lease ran out and another worker took it: decide again
            claim = yield ClaimStep()
            continue
        if item.deadline.left(clock()) <= 0:
            yield Record(rules.Abandoned(), claim)  # give the claim back: nothing was sent
            return End("unfinished", error=_no_slot(item))
        yield AwaitSlot()


def _saved_elsewhere(
    finished: Finished, entry: JournalEntry, created: bool, submit_cost: float | None
) -> End:
    """The end of a task whose image another run (a webhook receiver) saved: its file."""
    settled = finished.cost
    extra = settled - (submit_cost or 0.0) if created and settled is not None else 0.0
    return End(
        "done",
        finished=finished,
        path=entry.path,
        extra_credits=extra,
        by=rules.run_label(entry.owner) or entry.host,
    )


def _saved_by(entry: JournalEntry, item: Item) -> str | None:
    """Who saved ``entry``, when it was not saved at this item's destination by this run."""
    here = entry.path is not None and item.save_to is not None
    if here and os.path.dirname(str(entry.path)) == os.path.dirname(str(item.save_to)):
        return None
    return rules.run_label(entry.owner) or entry.host


def _held(item: Item, claim: Claim) -> TaskInProgressError:
    who = claim.holder or "another run"
    state = claim.entry.state.value if claim.entry is not None else None
    return TaskInProgressError(
        f"Request {item.index} ({_short(item.prompt)!r}) is being handled by {who}, another "
        "run that is still alive: it submits and saves it, so this run sent nothing for it. "
        "Run again later to see it saved (or to take it over if that run died).",
        idempotency_key=claim.fingerprint,
        holder=claim.holder,
        state=state,
        task_id=claim.entry.task_id if claim.entry is not None else None,
    )


def _no_slot(item: Item) -> RateLimitError:
    return RateLimitError(
        f"Request {item.index} ({_short(item.prompt)!r}) found no free account slot within its "
        "timeout (the workers sharing the journal kept max_in_flight tasks running); nothing "
        "was sent for it. Run again to submit it, or raise the timeout or max_in_flight."
    )


def _short(prompt: str, limit: int = 60) -> str:
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


def _uncertain(item: Item, claim: Claim) -> TaskUncertainError:
    reason = claim.entry.error if claim.entry is not None else None
    why = f" ({reason})" if reason else " (the run stopped while sending it)"
    message = (
        f"The request {_short(item.prompt)!r} was sent earlier but its answer never "
        f"arrived{why}: a task may have been created and billed, and its id is unknown. It is "
        "not sent again on its own, so it is not paid twice. To submit it anyway (paying again "
        "if that first task exists), pass resubmit_uncertain=True (CLI: --resubmit-uncertain)."
    )
    if claim.owner_live:
        message += " Another run that is still going may be sending it right now."
    return TaskUncertainError(
        message, prompt=item.prompt, fingerprint=claim.fingerprint, reason=reason
    )


def _failed_before(item: Item, entry: JournalEntry, fingerprint: str) -> PreviouslyFailedError:
    retryable = bool(entry.retryable)
    cost_note = (
        "no task was created for it, so a retry is its first billed task"
        if retryable
        else "a task was created and billed; a retry pays for a new one"
    )
    reason = entry.error or "no reason was recorded"
    return PreviouslyFailedError(
        f"The request {_short(item.prompt)!r} failed in an earlier run and is not "
        f"retried on its own ({cost_note}); pass retry_failed=True (CLI: --retry-failed) to "
        f"try again. It failed with: {reason}",
        prompt=item.prompt,
        fingerprint=fingerprint,
        reason=reason,
        error_type=entry.error_type,
        retryable=retryable,
        task_id=entry.task_id,
    )


# -- requests: checking and preparing -----------------------------------------------------------


@attrs.frozen
class Parsed:
    prompt: Any
    params: dict[str, Any]
    save_to: str | os.PathLike[str] | None


def parse_request(request: Any) -> tuple[Parsed | None, list[FieldError]]:
    """A prompt or a dict of ``generate`` arguments, split into prompt, parameters and
    ``save_to``; or the errors that say why it is neither."""
    if isinstance(request, str):
        return Parsed(request, {}, None), []
    if not isinstance(request, Mapping):
        kind = type(request).__name__
        message = f"a request is a prompt or a dict of generate arguments, not {kind}"
        return None, [FieldError("", "type", message)]
    params = dict(request)
    errors: list[FieldError] = []
    if "prompt" not in params:
        errors.append(FieldError("prompt", "required", "prompt is required"))
    prompt = params.pop("prompt", None)
    save_to = params.pop("save_to", None)
    return Parsed(prompt, params, save_to), errors  # unknown keys: the client's validate


def batch_error(by_index: Mapping[int, Sequence[FieldError]]) -> BatchValidationError:
    named: list[FieldError] = []
    for index, found in sorted(by_index.items()):
        for error in found:
            where = f"requests[{index}]" + (f".{error.field}" if error.field else "")
            if error.field and error.message.startswith(error.field):
                message = f"requests[{index}].{error.message}"  # "requests[2].width must be…"
            else:
                message = f"{where}: {error.message}"
            named.append(FieldError(where, error.rule, message))
    listed = "; ".join(error.message for error in named[:MAX_LISTED_ERRORS])
    if len(named) > MAX_LISTED_ERRORS:
        listed += f"; and {len(named) - MAX_LISTED_ERRORS} more"
    count = len(by_index)
    what = "1 request is" if count == 1 else f"{count} requests are"
    return BatchValidationError(
        f"{what} invalid, nothing was sent: {listed}. Fix them and run the batch again.",
        errors=named,
        by_index=by_index,
    )
