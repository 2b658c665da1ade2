"""The task journal's rules, without I/O: states, the events that move an entry between
them, what a run does with an entry it finds, whether the run that holds an entry is still
alive, how many tasks are in flight, and the names entries go by.

`flux_flex.journal.Journal` keeps one entry per request in a store (a SQLite file or a
PostgreSQL database) and applies these rules inside the store's transactions;
`flux_flex._batch` turns what happened to a request into events.

    (none) ──Take──▶ claimed ──Begin──▶ submitting ──Accepted──▶ submitted ──Ready──▶ ready
      │                │  ▲               │  │ Lost (stays)        │ Stopped (stays)   │
      │                │  └─Take (dead    │  └─Take (resubmit)     │ Saved             │ Saved
      │                │     owner)       │                        ▼                   ▼
      └────Begin───────┼──────────────────┘                      saved ◀──────────────┘
                       └──Abandoned──▶ (none)      submitting ──Refused──▶ failed
                                                   submitted/ready/saved ──Ended──▶ failed
                                                   failed ──Take/Begin (retry)──▶ claimed/submitting

``claimed``: a worker holds the request under its lease and no POST has left: if the worker
dies the request goes back to the pool. ``submitting`` is written right before the POST; it
stays so only when the answer never came (the process died, or a 5xx / lost connection
after the request left): the task may exist and be billed, so it is never resubmitted
unless the user asks. ``ready``: the API said the task is final with an image; it no longer
takes an account slot, and its image is not saved yet.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from flux_flex._core.validation import IMAGE_FIELDS
from flux_flex.errors import (
    APIError,
    DownloadError,
    FluxFlexError,
    ProtocolError,
    TaskError,
    TaskNotFoundError,
)

__all__ = [
    "IN_FLIGHT_HORIZON",
    "KEY_PREFIX",
    "PENDING_PREFIX",
    "TASK_PREFIX",
    "Abandoned",
    "Accepted",
    "Begin",
    "Change",
    "Claim",
    "Decision",
    "Ended",
    "Event",
    "InvalidTransition",
    "JournalEntry",
    "Lost",
    "Ready",
    "Refused",
    "Run",
    "Saved",
    "Seen",
    "State",
    "Stopped",
    "Take",
    "apply",
    "count_in_flight",
    "fingerprint",
    "fingerprint_v1",
    "key_name",
    "owner_live",
    "parameters_digest",
    "pending_name",
    "plan",
    "run_id",
    "run_label",
    "submit_failure",
    "task_name",
    "uniform_change",
    "wait_failure",
]

FINGERPRINT_VERSION = 2
MAX_ERROR_CHARS = 2000
IN_FLIGHT_HORIZON = 900.0
"""Seconds after which a ``submitted`` task that nobody saw end no longer counts as in
flight: FLEX tasks end within minutes, and a slot held for ever by a task whose worker died
unnoticed would block every other worker."""

KEY_PREFIX = "key:"
"""Entries named by an idempotency key: ``key:<the key>``."""
TASK_PREFIX = "task:"
"""Entries of calls made without a key, named by their task id once the API answered."""
PENDING_PREFIX = "call:"
"""A keyless call before the API answered (renamed ``task:<id>`` by its `Accepted`)."""


class State(enum.StrEnum):
    """Where a request stands. Stored as these strings."""

    CLAIMED = "claimed"
    """A worker holds it under its lease; no POST has left (a dead worker's claim is free)."""
    SUBMITTING = "submitting"
    """The POST was (about to be) sent and no answer with a task id was recorded."""
    SUBMITTED = "submitted"
    """The API accepted it: the task id is known, the task is billed, not final yet."""
    READY = "ready"
    """The API said the task is final with an image; the image is not saved yet."""
    SAVED = "saved"
    """Done: the image was saved (or, without a destination, the result was returned)."""
    FAILED = "failed"
    """It ended without an image; ``retryable`` says whether a task was ever created."""


class Decision(enum.StrEnum):
    """What a run does with a request, given what the journal holds for it."""

    SUBMIT = "submit"
    """Nothing recorded, a dead worker's claim, or a retry / resubmission that was asked
    for: the entry is claimed (then started), and the POST sent."""
    RESUME = "resume"
    """A task exists and nobody alive is on it: wait for it by id and save it. Never
    resubmitted."""
    REDOWNLOAD = "redownload"
    """Saved earlier on this host but the file is missing or empty: fetch it again (free)."""
    SKIP = "skip"
    """Saved earlier (the file is there, or it was saved on another host): nothing to do."""
    UNCERTAIN = "uncertain"
    """A POST whose answer never arrived and whose sender is gone: the task may exist and be
    billed. Reported, never resubmitted on its own."""
    FAILED = "failed"
    """Failed earlier: reported with its reason, not retried."""
    HELD = "held"
    """Another live run holds it (claimed, submitting, submitted or ready): wait for it to
    finish or die; never treated as uncertain."""
    CONFLICT = "conflict"
    """The name (an idempotency key) was used before with different parameters."""


# -- owners ------------------------------------------------------------------------------------


@attrs.frozen
class Run:
    """An owner as the journal holds it: one run of one process, alive while its lease is."""

    run_id: str = attrs.field(repr=False)
    host: str
    pid: int
    lease_until: float

    @property
    def label(self) -> str:
        """``pid@host``, how messages name the run."""
        return f"{self.pid}@{self.host}"


def run_id(host: str, pid: int, token: str) -> str:
    """The id a run is recorded under (``token``: unique per run)."""
    return f"{host}|{pid}|{token}"


def run_label(run: str | None) -> str | None:
    """``pid@host`` of the run id ``run`` (as `Run.label` names a live run); None for none."""
    if not run:
        return None
    host, _, rest = run.partition("|")
    pid = rest.partition("|")[0]
    return f"{pid}@{host}" if pid else host


def owner_live(
    run: Run | None, *, now: float, host: str, pid_exists: Callable[[int], bool]
) -> bool:
    """Whether the run ``run`` (None: no run recorded, or it ended) still holds what it wrote.

    A run is live while its lease has not expired (it renews it while it goes). On this
    machine (``host``) a run whose process is gone is dead at once: ``pid_exists`` is asked
    only for runs of this host. A run that ended removed its record, so it is None here.
    """
    if run is None or run.lease_until <= now:
        return False
    return not (run.host == host and not pid_exists(run.pid))


def count_in_flight(
    submitting: Iterable[tuple[Run | None, int]],
    submitted_since: int,
    *,
    now: float,
    host: str,
    pid_exists: Callable[[int], bool],
) -> int:
    """Tasks that take an account slot now: the entries of ``submitting`` whose owner is live
    (given as (owner, how many)) plus ``submitted_since``, the count of tasks that take one
    whoever their owner is. The store (`Transaction.in_flight`) gives ``submitting`` entries,
    and ``submitted`` tasks accepted long enough ago that only a live owner's still count,
    in the first, and recently accepted ``submitted`` tasks in the second (a ``ready`` task
    takes none)."""
    live = sum(
        count
        for run, count in submitting
        if owner_live(run, now=now, host=host, pid_exists=pid_exists)
    )
    return live + submitted_since


# -- deciding ----------------------------------------------------------------------------------


@attrs.frozen
class Seen:
    """What a run finds for a request: the entry's state and the facts the journal checked."""

    state: State
    file_ok: bool = True
    """For ``saved``: the saved file (if any) is still there and not empty (always True
    for a file saved on another host: it cannot be checked from here)."""
    owner_live: bool = False
    """Another run that is still alive holds this entry (it may be sending it now)."""
    same_parameters: bool = True
    """The parameters digest matches the stored one (or either is unknown)."""


_HELD_WHEN_LIVE = frozenset({State.CLAIMED, State.SUBMITTING, State.SUBMITTED, State.READY})


def plan(seen: Seen | None, *, resubmit_uncertain: bool, retry_failed: bool) -> Decision:
    """The decision for a request whose journal entry is ``seen`` (None: no entry)."""
    if seen is None:
        return Decision.SUBMIT
    if not seen.same_parameters:
        return Decision.CONFLICT
    if seen.owner_live and seen.state in _HELD_WHEN_LIVE:
        # A live run is on it (it may be waiting for this very POST's answer): resubmitting
        # or resuming now would make a second task or a second download.
        return Decision.HELD
    if seen.state is State.CLAIMED:
        return Decision.SUBMIT  # its owner died before sending it: back to the pool
    if seen.state in (State.SUBMITTED, State.READY):
        return Decision.RESUME
    if seen.state is State.SAVED:
        return Decision.SKIP if seen.file_ok else Decision.REDOWNLOAD
    if seen.state is State.SUBMITTING:
        if resubmit_uncertain and not seen.owner_live:
            return Decision.SUBMIT
        return Decision.UNCERTAIN
    if seen.state is State.FAILED:
        return Decision.SUBMIT if retry_failed else Decision.FAILED
    raise ValueError(f"unknown journal state {seen.state!r}")


# -- what the journal holds ---------------------------------------------------------------------


@attrs.frozen
class JournalEntry:
    """One request as the journal holds it.

    ``fingerprint`` is the entry's name: a digest of a batch request's parameters and name
    or occurrence, ``key:<key>`` for an idempotency key, ``task:<id>`` for a call journaled
    without a key. ``state``: see `State`. ``cost``: credits, the settled cost once saved,
    else the submission's cost when the API gave one. ``params``: the request's parameters
    as given (input images named, not embedded; the webhook secret masked). ``host``: the
    machine that last wrote it (for ``saved``: where ``path`` is). ``holder``: ``pid@host``
    of the live or dead run that holds it (None: nobody). Times are Unix timestamps.
    """

    fingerprint: str
    state: State
    prompt: str
    params: Mapping[str, Any]
    save_to: str | None
    task_id: str | None
    polling_url: str | None
    path: str | None
    """The file written (its extension follows the image's real format)."""
    url: str | None = attrs.field(repr=False)
    """The sample URL when ready or saved (it expires about 10 minutes after the task was
    ready)."""
    cost: float | None
    submit_cost: float | None
    seed: int | None
    error: str | None
    """Why it failed, or the last thing that stopped it (a timeout, a lost answer)."""
    error_type: str | None
    retryable: bool | None
    """For ``failed``: True when no task was ever created (nothing billed for it)."""
    attempt: int
    owner: str | None = attrs.field(repr=False)
    created_at: float
    updated_at: float
    host: str | None = None
    digest: str | None = attrs.field(default=None, repr=False)
    """The digest of the parameters (`parameters_digest`), to refuse a reused key."""
    submitted_at: float | None = None
    """When the API accepted the task."""
    holder: Run | None = None
    """The run that holds the entry (as recorded; it may have died)."""

    @property
    def name(self) -> str:
        """The entry's name (the same as ``fingerprint``)."""
        return self.fingerprint

    @property
    def uncertain(self) -> bool:
        """Sent but unanswered: a billed task may exist. Never resubmitted unless asked."""
        return self.state is State.SUBMITTING

    @property
    def resumable(self) -> bool:
        """A task exists and its image is not saved: a re-run waits for it and saves it."""
        return self.state in (State.SUBMITTED, State.READY)


@attrs.frozen
class Claim:
    """What `Journal.claim` decided, the entry it found (None: new), the attempt to record."""

    decision: Decision
    entry: JournalEntry | None
    attempt: int
    owner_live: bool = False
    """The entry is held by another run that is still going."""
    fingerprint: str = ""
    """The entry's name (for identical requests of one run: the occurrence's)."""
    holder: str | None = None
    """For `Decision.HELD`: ``pid@host`` of the run holding it."""

    @property
    def name(self) -> str:
        """The entry's name (the same as ``fingerprint``)."""
        return self.fingerprint


# -- events ------------------------------------------------------------------------------------


@attrs.frozen
class Take:
    """A worker claims the request (nothing sent yet); a new attempt starts."""


@attrs.frozen
class Begin:
    """A submission starts: written right before the POST leaves (from ``claimed``, or in
    one step from nothing, ``failed`` or an uncertain ``submitting`` — a new attempt)."""


@attrs.frozen
class Accepted:
    """The API answered with a task id (``polling_url`` None: the default one)."""

    task_id: str
    polling_url: str | None = None
    cost: float | None = None


@attrs.frozen
class Refused:
    """The submission was refused before any task existed (4xx, 429, connect error)."""

    error: str
    error_type: str


@attrs.frozen
class Lost:
    """The POST left but its answer did not come back usable: a task may exist."""

    error: str
    error_type: str


@attrs.frozen
class Abandoned:
    """The run stopped before the POST left (e.g. cancelled while backing off a 429), or it
    gives back a claim it never sent: the entry is removed."""


@attrs.frozen
class Ready:
    """The API said the task is final with an image (frees its account slot)."""

    url: str
    seed: int | None = None
    cost: float | None = None


@attrs.frozen
class Ended:
    """The task ended without an image, or is gone (Task not found, expired sample)."""

    error: str
    error_type: str


@attrs.frozen
class Stopped:
    """The wait or the download stopped (timeout, network, disk); the task is kept."""

    error: str
    error_type: str


@attrs.frozen
class Saved:
    """The image was saved to ``path`` (None: no destination, the result was returned)."""

    path: str | None
    url: str
    seed: int | None = None
    cost: float | None = None


Event = Take | Begin | Accepted | Refused | Lost | Abandoned | Ready | Ended | Stopped | Saved


class InvalidTransition(ValueError):
    """An event that cannot happen to an entry in that state (a bug or a stale writer)."""


@attrs.frozen
class Change:
    """What applying an event does: the new state (None: the entry is removed) and the
    columns to set. ``next_attempt``: the entry starts a new attempt (its counter + 1).
    ``release``: the writer lets go of the entry (nobody holds it afterwards)."""

    state: State | None
    values: Mapping[str, Any] = attrs.field(factory=dict)
    next_attempt: bool = False
    release: bool = False


_FINAL_OR_SAVED = frozenset({State.SUBMITTED, State.READY, State.SAVED})
_FROM: dict[type[Any], frozenset[State | None]] = {
    Take: frozenset({None, State.CLAIMED, State.SUBMITTING, State.FAILED}),
    Begin: frozenset({None, State.CLAIMED, State.SUBMITTING, State.FAILED}),
    Accepted: frozenset({State.SUBMITTING}),
    Refused: frozenset({State.SUBMITTING}),
    Lost: frozenset({State.SUBMITTING}),
    Abandoned: frozenset({State.CLAIMED, State.SUBMITTING}),
    Ready: frozenset({State.SUBMITTED}),
    Ended: _FINAL_OR_SAVED,
    Stopped: _FINAL_OR_SAVED,
    Saved: _FINAL_OR_SAVED,
}


def apply(state: State | None, event: Event) -> Change:
    """The change ``event`` makes to an entry in ``state`` (None: no entry yet).

    Raises `InvalidTransition` for an event that cannot happen in that state: the store
    refuses the write, so a stale writer never moves an entry backwards.
    """
    allowed = _FROM.get(type(event))
    if allowed is None:
        raise TypeError(f"not a journal event: {event!r}")
    if state not in allowed:
        raise InvalidTransition(
            f"{type(event).__name__} cannot happen to an entry in state "
            f"{state.value if state else 'none'}"
        )
    cleared = {"error": None, "error_type": None, "retryable": None}
    if isinstance(event, Take):
        return Change(State.CLAIMED, {**cleared, "task_id": None}, next_attempt=True)
    if isinstance(event, Begin):
        # From a claim: the same attempt goes on; otherwise a new one starts.
        return Change(
            State.SUBMITTING, {**cleared, "task_id": None}, next_attempt=state is not State.CLAIMED
        )
    if isinstance(event, Accepted):
        return Change(
            State.SUBMITTED,
            {
                **cleared,
                "task_id": event.task_id,
                "polling_url": event.polling_url,
                "submit_cost": event.cost,
            },
        )
    if isinstance(event, Refused):
        return Change(State.FAILED, _error(event.error, event.error_type, retryable=True))
    if isinstance(event, Lost):
        # Nobody waits for this answer any more: others see it uncertain at once.
        values = _error(event.error, event.error_type, retryable=None)
        return Change(State.SUBMITTING, values, release=True)
    if isinstance(event, Abandoned):
        return Change(None)
    if isinstance(event, Ready):
        return Change(
            State.READY, {**cleared, "url": event.url, "seed": event.seed, "cost": event.cost}
        )
    if isinstance(event, Ended):
        return Change(State.FAILED, _error(event.error, event.error_type, retryable=False))
    if isinstance(event, Stopped):
        # The task is kept for whoever resumes it next, here or elsewhere.
        values = _error(event.error, event.error_type, retryable=None)
        return Change(state, values, release=True)
    assert isinstance(event, Saved)
    return Change(
        State.SAVED,
        {**cleared, "path": event.path, "url": event.url, "seed": event.seed, "cost": event.cost},
    )


def uniform_change(event: Event) -> tuple[frozenset[State], Change] | None:
    """The states ``event`` may happen in and the change it makes, when that change is the
    same in each of them (so a store can apply it in one compare-and-set: "if the entry is
    in one of these states, set these columns"); None when it depends on the state."""
    allowed = _FROM.get(type(event))
    if allowed is None or None in allowed:
        return None
    changes = {state: apply(state, event) for state in allowed if state is not None}
    first = next(iter(changes.values()))
    if first.state is None or any(change != first for change in changes.values()):
        return None
    return frozenset(changes), first


def _error(error: str, error_type: str, *, retryable: bool | None) -> dict[str, Any]:
    return {"error": error[:MAX_ERROR_CHARS], "error_type": error_type, "retryable": retryable}


# -- what happened, as events ------------------------------------------------------------------


def submit_failure(exc: BaseException) -> Accepted | Refused | Lost:
    """The event for a submission that raised ``exc``.

    An answer that named the task (a truncated acknowledgement) is `Accepted`: the task is
    reachable by its id. A 5xx, a broken or timed-out exchange after the request left, an
    unreadable 200, or anything unexpected is `Lost` (a task may exist). The rest — 4xx
    answers (422, 429 after retries, 401/402/403) and connect errors — were refused before
    any task existed.
    """
    task_id = getattr(exc, "task_id", None)
    if isinstance(task_id, str) and task_id:
        return Accepted(task_id)
    text = _describe(exc)
    kind = type(exc).__name__
    if not isinstance(exc, FluxFlexError) or isinstance(exc, ProtocolError):
        return Lost(text, kind)
    if getattr(exc, "task_may_exist", False):
        return Lost(text, kind)
    if isinstance(exc, APIError) and exc.status_code is not None and exc.status_code >= 500:
        return Lost(text, kind)
    return Refused(text, kind)


def wait_failure(exc: BaseException) -> Ended | Stopped:
    """The event for a wait or download of an existing task that raised ``exc``.

    The task ended without an image, the API no longer knows it, or its sample URL expired:
    `Ended` (reported, never resubmitted silently). Anything else — a wait's timeout, a
    network or server error, a full disk — leaves the task to be resumed: `Stopped`.
    """
    text = _describe(exc)
    kind = type(exc).__name__
    if isinstance(exc, TaskNotFoundError):
        return Ended(
            f"The API no longer knows this task (Task not found): it may have expired. {text}",
            kind,
        )
    if isinstance(exc, TaskError):
        return Ended(text, kind)
    if isinstance(exc, DownloadError) and exc.status_code in (403, 404, 410):
        return Ended(f"The image's sample URL has expired: {text}", kind)
    return Stopped(text, kind)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:MAX_ERROR_CHARS]


# -- names -------------------------------------------------------------------------------------


def _canonical(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as names see it: input images by content hash, no webhook secret (it does
    not change the image, and a digest of it must not be stored)."""
    canonical: dict[str, Any] = {}
    for key, value in body.items():
        if key == "webhook_secret":
            continue
        if key in IMAGE_FIELDS and isinstance(value, str):
            value = "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()
        canonical[key] = value
    return canonical


def _digest(payload: Any) -> str:
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parameters_digest(body: Mapping[str, Any]) -> str:
    """A digest of a request's parameters: its canonical body (``body`` is the JSON body
    exactly as it would be POSTed). Where the image goes and how long to wait are not
    parameters. Stored with each entry to refuse an idempotency key reused with others."""
    return _digest({"v": FINGERPRINT_VERSION, "body": _canonical(body)})


def fingerprint(body: Mapping[str, Any], name: str | None = None, occurrence: int = 0) -> str:
    """The name of a batch request in the journal: a digest of its parameters, its name
    (when the request has one, e.g. its file name; None otherwise) and which occurrence of
    an identical request in the batch it is (0 for the first).

    The output folder is not part of it: workers sharing a journal save one batch into
    folders of their own. Input images count by their content, never by a local path.
    """
    return _digest({"p": parameters_digest(body), "name": name, "n": occurrence})


def key_name(key: str) -> str:
    """The entry name of an idempotency key."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"an idempotency key is a non-empty string, not {key!r}")
    return KEY_PREFIX + key


def task_name(task_id: str) -> str:
    """The entry name of a call journaled without a key, once the API named its task."""
    return TASK_PREFIX + task_id


def pending_name(token: str) -> str:
    """The placeholder name of a keyless call before the API answered (``token``: unique
    per call, e.g. a random hex string); `Accepted` renames it to `task_name`."""
    return PENDING_PREFIX + token


def fingerprint_v1(body: Mapping[str, Any], destination: str | None, occurrence: int = 0) -> str:
    """The name schema-1 journals gave a request (its destination was part of it); used
    only to migrate them."""
    return _digest({"v": 1, "body": _canonical(body), "to": destination, "n": occurrence})
