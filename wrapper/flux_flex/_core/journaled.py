"""Calls kept in a task journal, without I/O: ``generate`` and ``submit`` with an
idempotency key, or named by their task id, as flows.

An idempotency key names one request across processes and machines, as Stripe's keys do
on its server; here the client keeps them, in the journal the workers share. A call claims
its key's entry before it sends anything, and a later call with the same key finds it:

=================  ==========================================  ===========================
the entry          ``generate``                                ``submit``
=================  ==========================================  ===========================
none (new key)     submit, wait, save                          submit
task submitted     wait for that task and save it (no POST)    that task's job (no POST)
image saved        the earlier result                          that task's job
held by a live     wait for it (within the call's timeout),    that task's job once it
call elsewhere     then `TaskInProgressError`                  has one, else as generate
POST unanswered    `TaskUncertainError` (never resent on its own)
other parameters   `IdempotencyConflictError`, nothing sent
failed             resent if no task was ever made (nothing billed), else
                   `PreviouslyFailedError`
=================  ==========================================  ===========================

The journal's calls block: flows hand them to the driver as `Local` actions (the sync
driver calls them, the async one runs them in a worker thread) through a `JournalPort`, so
the sync and the async client run the same flow. Each call holds what it claims as a run of
its own (an owner with a lease it renews), ended when the call ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar, cast

import attrs

from flux_flex._core.actions import Action, Answer, HttpResponse, Local, Sleep
from flux_flex._core.deadline import Deadline
from flux_flex._core.journal import (
    PENDING_PREFIX,
    Accepted,
    Claim,
    Decision,
    Event,
    JournalEntry,
    Saved,
    State,
    key_name,
    parameters_digest,
    pending_name,
    submit_failure,
    task_name,
    wait_failure,
)
from flux_flex._core.request import PreparedRequest
from flux_flex._core.status import Acknowledged, Finished
from flux_flex.errors import (
    IdempotencyConflictError,
    PreviouslyFailedError,
    TaskInProgressError,
    TaskUncertainError,
)

__all__ = [
    "HELD_RECHECK",
    "GenerateSteps",
    "JournalPort",
    "JournaledCall",
    "Outcome",
    "Submitted",
    "generate_flow",
    "local",
    "submit_flow",
]

T = TypeVar("T")

HELD_RECHECK = 1.0
"""Seconds between two looks at a key another live call holds. Its writes wake the wait at
once; its death on another machine shows only when its lease runs out, which a look sees."""
LOCKED_RECHECK = 0.05
"""Seconds to let another run finish deciding on the entry (a transaction of a few ms)."""

_DOING = {
    State.CLAIMED: "about to send the request",
    State.SUBMITTING: "sending the request",
    State.SUBMITTED: "waiting for its task",
    State.READY: "saving its image",
}


# -- what a call is, and what the flows need --------------------------------------------------


@attrs.frozen
class JournaledCall:
    """One call as the journal knows it: its entry's ``name`` (``key:<key>``, or for a call
    without a key ``call:<token>`` until the API names its task) and what is stored."""

    name: str
    key: str | None
    prompt: str
    params: Mapping[str, Any] = attrs.field(repr=False)
    """The parameters as given, described (`PreparedRequest.params`: no secret)."""
    save_to: str | None
    """This call's destination (absolute), or None."""
    digest: str = attrs.field(repr=False)
    """The request body's `parameters_digest`: what a reused key must match."""
    method: str = "generate"
    """The public call (``generate`` / ``submit``), as messages name it."""
    resubmit_uncertain: bool = False

    @classmethod
    def of(
        cls,
        request: PreparedRequest,
        *,
        key: str | None,
        token: str,
        method: str,
        save_to: str | None,
        format_given: bool = True,
        resubmit_uncertain: bool = False,
    ) -> JournaledCall:
        """The call sending ``request`` under ``key`` (None: named ``call:<token>``, then by
        its task id). ``format_given`` False: the body's ``output_format`` (if any) came
        from ``save_to``'s extension, which is not a parameter, so it is left out of the
        digest."""
        name = key_name(key) if key is not None else pending_name(token)
        body = request.body
        if not format_given:
            body = {field: value for field, value in body.items() if field != "output_format"}
        return cls(
            name=name,
            key=key,
            prompt=request.prompt,
            params=request.params,
            save_to=save_to,
            digest=parameters_digest(body),
            method=method,
            resubmit_uncertain=resubmit_uncertain,
        )


class JournalPort(Protocol):
    """What the flows need of a task journal. Every method but `abandon` may block: flows
    call them through `local` only."""

    @property
    def where(self) -> str:
        """The journal as messages name it (a path, or a URL without its password)."""
        ...

    def open_run(self) -> str:
        """Start the call's run (an owner holding a renewed lease); its id."""
        ...

    def claim(self, call: JournaledCall, owner: str, *, retry_failed: bool) -> Claim:
        """`Journal.claim` for ``call``. Its SUBMIT leaves the entry ``claimed``: nothing is
        sent yet, and if the call dies the key is free again."""
        ...

    def start(self, name: str, attempt: int, owner: str) -> bool:
        """`Journal.start`: the claimed entry is ``submitting`` (the POST leaves next);
        False if the claim is no longer this call's."""
        ...

    def wait_for_change(self, name: str, since: JournalEntry, timeout: float) -> bool:
        """Block until the entry ``name`` is no longer ``since``, or ``timeout`` passes."""
        ...

    def record(self, name: str, attempt: int, event: Event, owner: str) -> bool:
        """`Journal.record`; a failure to write is reported (logged) and returns False:
        the call goes on, the entry keeps its last state."""
        ...

    def saved_elsewhere(self, name: str, owner: str, timeout: float) -> JournalEntry | None:
        """The entry ``name`` if another run (a webhook receiver) saved its image already,
        waiting up to ``timeout`` for a live one that is saving it now; else None (this
        call downloads it)."""
        ...

    def end_run(self, owner: str, unsent: tuple[str, int] | None) -> None:
        """End the run; first remove ``unsent`` (name, attempt), an entry claimed for a POST
        that never left. Never raises."""
        ...

    def abandon(self, owner: str, unsent: tuple[str, int] | None) -> None:
        """`end_run` without blocking (in the background): the call was stopped and its
        flow can ask for nothing more."""
        ...


@attrs.frozen
class GenerateSteps:
    """The pieces of one ``generate`` call (its deadline and secrets bound in), built by the
    client's core: the flows of its I/O, and the blocking local work it needs."""

    submit: Callable[[], Generator[Action, Answer, Acknowledged]]
    wait: Callable[[str, str | None, float | None], Generator[Action, Answer, Finished]]
    """Wait for a task: ``(task_id, polling_url, submitted_at)``."""
    download: Callable[[Finished], Generator[Action, Answer, HttpResponse]]
    save: Callable[[HttpResponse, str], str]
    """Blocking: move a download into place, ``(response, task_id)``; the path written."""
    has_image: Callable[[str], bool]
    """Blocking: whether an image file is at that path on this machine."""
    clock: Callable[[], float]


@attrs.frozen
class Outcome:
    """What a journaled ``generate`` returns: the ready task, and the file (or None)."""

    finished: Finished
    path: str | None


@attrs.frozen
class Submitted:
    """What a journaled ``submit`` returns: the acknowledgement of the task it created
    (``fresh``), or one rebuilt from the journal for an earlier call's task."""

    ack: Acknowledged
    fresh: bool


@attrs.define
class _Unsent:
    """The entry a call claimed for a POST that has not left yet (removed if it stops)."""

    entry: tuple[str, int] | None = None


@attrs.frozen
class _Raised:
    error: Exception


def local(function: Callable[[], T]) -> Generator[Action, Answer, T]:
    """Run the blocking ``function`` through the driver (`Local`): its value, or its
    exception raised here, in the flow (the driver never sees it)."""

    def call() -> T | _Raised:
        try:
            return function()
        except Exception as exc:
            return _Raised(exc)

    outcome = yield Local(call)
    if isinstance(outcome, _Raised):
        raise outcome.error
    return cast(T, outcome)


# -- the flows -------------------------------------------------------------------------------


def generate_flow(
    call: JournaledCall, port: JournalPort, steps: GenerateSteps, deadline: Deadline
) -> Generator[Action, Answer, Outcome]:
    """``generate`` kept in the journal: claim, then submit or resume or return the earlier
    result (see the module's table), all within ``deadline``."""
    return (yield from _in_run(port, partial(_generate, call, port, steps, deadline)))


def submit_flow(
    call: JournaledCall,
    port: JournalPort,
    submit: Callable[[], Generator[Action, Answer, Acknowledged]],
    *,
    held: Deadline,
    clock: Callable[[], float],
) -> Generator[Action, Answer, Submitted]:
    """``submit`` kept in the journal: claim, then submit, or hand out the task an earlier
    call with the key made. A live call sending the same key is waited for until ``held``."""
    return (yield from _in_run(port, partial(_submit, call, port, submit, held, clock)))


def _in_run(
    port: JournalPort, body: Callable[[str, _Unsent], Generator[Action, Answer, T]]
) -> Generator[Action, Answer, T]:
    """Run ``body`` as a run of its own, ended however it ends."""
    owner = yield from local(port.open_run)
    unsent = _Unsent()
    try:
        value = yield from body(owner, unsent)
    except BaseException as exc:
        yield from _end_run(port, owner, unsent.entry, stopped=isinstance(exc, GeneratorExit))
        raise
    yield from _end_run(port, owner, None, stopped=False)
    return value


def _end_run(
    port: JournalPort, owner: str, unsent: tuple[str, int] | None, *, stopped: bool
) -> Generator[Action, Answer, None]:
    """End the call's run through the driver; in the background when the driver stopped
    the call (cancelled, interrupted): the flow may yield nothing more then, and blocking
    here could block an event loop."""
    if stopped:
        port.abandon(owner, unsent)
        return
    try:
        yield from local(partial(port.end_run, owner, unsent))
    except GeneratorExit:
        port.abandon(owner, unsent)
        raise


def _generate(
    call: JournaledCall,
    port: JournalPort,
    steps: GenerateSteps,
    deadline: Deadline,
    owner: str,
    unsent: _Unsent,
) -> Generator[Action, Answer, Outcome]:
    claim = yield from _claim(call, port, owner, unsent, deadline, steps.clock, task_will_do=False)
    entry = claim.entry
    if claim.decision is Decision.SKIP:
        assert entry is not None
        return (yield from _earlier(call, entry, steps))
    name, attempt = claim.fingerprint, claim.attempt
    submitted_at: float | None = None
    if claim.decision is Decision.SUBMIT:
        sent = yield from _send(port, steps.submit, owner, claim, unsent, named_is_enough=True)
        name, submitted_at = sent.name, steps.clock()
        task_id, polling_url, submit_cost = sent.task_id, sent.polling_url, sent.cost
    else:  # RESUME, REDOWNLOAD: the task exists; it is never submitted again
        assert entry is not None
        assert entry.task_id is not None
        task_id, polling_url, submit_cost = entry.task_id, entry.polling_url, entry.submit_cost
    try:
        finished = yield from steps.wait(task_id, polling_url, submitted_at)
        path = None
        # A REDOWNLOAD's entry was saved already (its file is gone): fetch it again.
        if call.save_to is not None and claim.decision is not Decision.REDOWNLOAD:
            left = max(0.0, deadline.at - steps.clock())
            elsewhere = yield from local(partial(port.saved_elsewhere, name, owner, left))
            if elsewhere is not None:  # a receiver saved it: not downloaded twice
                return Outcome(finished, elsewhere.path)
        if call.save_to is not None:
            response = yield from steps.download(finished)
            path = yield from local(partial(steps.save, response, finished.id))
    except Exception as exc:
        yield from _record(port, name, attempt, wait_failure(exc), owner)
        raise
    cost = finished.cost if finished.cost is not None else submit_cost
    where = None if path is None else os.path.abspath(path)
    saved = Saved(where, finished.url, finished.seed, cost)
    yield from _record(port, name, attempt, saved, owner)
    return Outcome(finished, path)


def _submit(
    call: JournaledCall,
    port: JournalPort,
    submit: Callable[[], Generator[Action, Answer, Acknowledged]],
    held: Deadline,
    clock: Callable[[], float],
    owner: str,
    unsent: _Unsent,
) -> Generator[Action, Answer, Submitted]:
    claim = yield from _claim(call, port, owner, unsent, held, clock, task_will_do=True)
    if claim.decision is not Decision.SUBMIT:  # an earlier call's task: hand it out
        assert claim.entry is not None
        return Submitted(_acknowledged(claim.entry), fresh=False)
    sent = yield from _send(port, submit, owner, claim, unsent, named_is_enough=False)
    assert sent.ack is not None
    return Submitted(sent.ack, fresh=True)


# -- the steps --------------------------------------------------------------------------------


def _claim(
    call: JournaledCall,
    port: JournalPort,
    owner: str,
    unsent: _Unsent,
    deadline: Deadline,
    clock: Callable[[], float],
    *,
    task_will_do: bool,
) -> Generator[Action, Answer, Claim]:
    """The claim this call goes on with (SUBMIT, started: the POST is next; RESUME,
    REDOWNLOAD, SKIP; HELD only with ``task_will_do``, for an entry whose task exists);
    the others raise their error."""
    retry_failed = False
    while True:
        claim = yield from local(partial(port.claim, call, owner, retry_failed=retry_failed))
        decision, entry = claim.decision, claim.entry
        retry_failed = False  # asked for the very next claim only: the entry may change
        if decision is Decision.CONFLICT:
            raise _conflict(call, port.where, entry)
        if decision is Decision.UNCERTAIN:
            raise _uncertain(call, port.where, claim)
        if decision is Decision.FAILED:
            assert entry is not None
            if entry.retryable:
                retry_failed = True  # refused before any task existed: nothing was billed
                continue
            raise _failed_before(call, port.where, entry)
        if decision is Decision.SUBMIT:
            unsent.entry = (claim.fingerprint, claim.attempt)
            start = partial(port.start, claim.fingerprint, claim.attempt, owner)
            if (yield from local(start)):
                return claim
            unsent.entry = None
            continue  # the claim was taken over meanwhile (its lease ran out): decide again
        if decision is not Decision.HELD:
            return claim
        if task_will_do and entry is not None and entry.task_id and entry.resumable:
            return claim
        left = deadline.at - clock()
        if left <= 0:
            raise _in_progress(call, port.where, claim, deadline)
        if entry is None:  # another run is deciding on it this very moment
            yield Sleep(min(LOCKED_RECHECK, left))
        else:
            wait = partial(port.wait_for_change, call.name, entry, min(HELD_RECHECK, left))
            yield from local(wait)


@attrs.frozen
class _Sent:
    """A POST the API answered with a task (``ack`` None: only an error named it)."""

    name: str
    task_id: str
    polling_url: str | None
    cost: float | None
    ack: Acknowledged | None


def _send(
    port: JournalPort,
    submit: Callable[[], Generator[Action, Answer, Acknowledged]],
    owner: str,
    claim: Claim,
    unsent: _Unsent,
    *,
    named_is_enough: bool,
) -> Generator[Action, Answer, _Sent]:
    """POST the claimed request and record what came of it. Refused or lost: recorded, and
    raised. An error that named the task (a cut-off acknowledgement) is recorded as
    accepted and, with ``named_is_enough``, the task is waited for instead of raised."""
    name, attempt = claim.fingerprint, claim.attempt
    unsent.entry = None  # from here on the POST may have left
    try:
        ack = yield from submit()
    except Exception as exc:
        event = submit_failure(exc)
        yield from _record(port, name, attempt, event, owner)
        if not (isinstance(event, Accepted) and named_is_enough):
            raise
        return _Sent(_renamed(name, event), event.task_id, None, None, None)
    accepted = Accepted(ack.id, ack.polling_url, ack.cost)
    yield from _record(port, name, attempt, accepted, owner)
    return _Sent(_renamed(name, accepted), ack.id, ack.polling_url, ack.cost, ack)


def _record(
    port: JournalPort, name: str, attempt: int, event: Event, owner: str
) -> Generator[Action, Answer, bool]:
    return (yield from local(partial(port.record, name, attempt, event, owner)))


def _renamed(name: str, accepted: Accepted) -> str:
    """The entry's name once ``accepted`` is recorded: a call without a key goes by its task."""
    return task_name(accepted.task_id) if name.startswith(PENDING_PREFIX) else name


def _earlier(
    call: JournaledCall, entry: JournalEntry, steps: GenerateSteps
) -> Generator[Action, Answer, Outcome]:
    """The result an earlier call with the key saved. When this call has a destination and
    the image is not on this machine (it was saved on another one, or kept in memory), it
    is fetched again (free: the task exists), into this call's ``save_to``."""
    assert entry.task_id is not None
    earlier = Finished(
        entry.task_id, entry.url or "", entry.seed, entry.prompt, {}, cost=entry.cost
    )
    if call.save_to is None:
        return Outcome(earlier, entry.path)
    if entry.path is not None and (yield from local(partial(steps.has_image, entry.path))):
        return Outcome(earlier, entry.path)
    finished = yield from steps.wait(entry.task_id, entry.polling_url, None)
    response = yield from steps.download(finished)
    path = yield from local(partial(steps.save, response, finished.id))
    return Outcome(finished, path)


def _acknowledged(entry: JournalEntry) -> Acknowledged:
    """An earlier call's task as its acknowledgement (what the journal kept of it)."""
    assert entry.task_id is not None
    webhook_url = entry.params.get("webhook_url")
    return Acknowledged(
        id=entry.task_id,
        polling_url=entry.polling_url or "",
        cost=entry.submit_cost,
        input_mp=None,
        output_mp=None,
        webhook_url=webhook_url if isinstance(webhook_url, str) else None,
        raw={},
    )


# -- what a call cannot go on with --------------------------------------------------------------


def _named(call: JournaledCall) -> str:
    return f"idempotency key {call.key!r}" if call.key is not None else f"entry {call.name}"


def _conflict(call: JournaledCall, where: str, entry: JournalEntry | None) -> Exception:
    task_id = entry.task_id if entry is not None else None
    return IdempotencyConflictError(
        f"The {_named(call)} was used before with other parameters (journal {where}), so "
        "nothing was sent. A key names one request: every call with it must send the same "
        "parameters (save_to and timeout may differ). Use a new key for a different "
        "request.",
        idempotency_key=call.key or call.name,
        name=call.name,
        task_id=task_id,
    )


def _uncertain(call: JournaledCall, where: str, claim: Claim) -> TaskUncertainError:
    entry = claim.entry
    reason = entry.error if entry is not None else None
    why = f" ({reason})" if reason else " (the process stopped while sending it)"
    again = f"client.{call.method}(..., idempotency_key={call.key!r}, resubmit_uncertain=True)"
    return TaskUncertainError(
        f"The call with {_named(call)} sent its request earlier, but the answer never "
        f"arrived{why}: a task may have been created and billed, and its id is unknown. It "
        "is not sent again on its own, so it is not paid twice. Check your account's "
        "tasks; to send it again anyway (paying twice if that task exists), call "
        f"{again}. Journal {where}, entry {claim.fingerprint}.",
        prompt=entry.prompt if entry is not None else call.prompt,
        fingerprint=claim.fingerprint,
        reason=reason,
        idempotency_key=call.key,
    )


def _failed_before(call: JournaledCall, where: str, entry: JournalEntry) -> PreviouslyFailedError:
    reason = entry.error or "no reason was recorded"
    return PreviouslyFailedError(
        f"The call with {_named(call)} failed earlier (journal {where}) and is not tried "
        "again on its own: its task ended without an image, and another try pays for a new "
        f"task. Use a new key to try again. It failed with: {reason}",
        prompt=entry.prompt,
        fingerprint=entry.fingerprint,
        reason=reason,
        error_type=entry.error_type,
        retryable=False,
        task_id=entry.task_id,
    )


def _in_progress(
    call: JournaledCall, where: str, claim: Claim, deadline: Deadline
) -> TaskInProgressError:
    entry = claim.entry
    state = entry.state if entry is not None else None
    holder = claim.holder if claim.holder != "another run" else None
    who = f"another call ({holder})" if holder else "another call"
    doing = _DOING.get(state, "deciding on it") if state is not None else "deciding on it"
    return TaskInProgressError(
        f"The {_named(call)} is held by {who} that is still alive and {doing}; it did not "
        f"finish within this call's {deadline.timeout:g} s. Nothing was sent by this call. "
        "Call again with the same key: it returns that call's result once it is done, or "
        f"takes its task over if that call dies. Journal {where}.",
        idempotency_key=call.key or call.name,
        holder=holder,
        state=state.value if state is not None else None,
        task_id=entry.task_id if entry is not None else None,
    )
