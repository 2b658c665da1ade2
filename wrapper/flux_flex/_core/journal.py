"""The task journal's rules, without I/O: states, the events that move an entry between
them, what a run does with an entry it finds, and the fingerprint that names a request.

`flux_flex.journal.Journal` keeps one entry per request in SQLite and applies these rules
inside its transactions; `flux_flex._batch` turns what happened to a request into events.

    (none) ──Begin──▶ submitting ──Accepted──▶ submitted ──Saved──▶ saved
                      │  ▲   │ Lost (stays)     │ Stopped (stays)    │ Saved (fetched again)
                      │  └ Begin (resubmit)     │ Ended              │ Stopped (stays)
                      │                          ▼                    │ Ended
                      ├──Refused──▶ failed ◀─────┴────────────────────┘
                      │            └─Begin (retry)──▶ submitting
                      └──Abandoned──▶ (none)

``submitting`` is written before the POST is sent; it stays so only when the answer never
came (the process died, or a 5xx / lost connection after the request left): the task may
exist and be billed, so it is never resubmitted unless the user asks.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
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
    "Refused",
    "Saved",
    "Seen",
    "State",
    "Stopped",
    "apply",
    "fingerprint",
    "plan",
    "submit_failure",
    "wait_failure",
]

FINGERPRINT_VERSION = 1
MAX_ERROR_CHARS = 2000


class State(enum.StrEnum):
    """Where a request stands. Stored as these strings."""

    SUBMITTING = "submitting"
    """The POST was (about to be) sent and no answer with a task id was recorded."""
    SUBMITTED = "submitted"
    """The API accepted it: the task id is known, the task is billed, the image not saved."""
    SAVED = "saved"
    """Done: the image was saved (or, without a destination, the result was returned)."""
    FAILED = "failed"
    """It ended without an image; ``retryable`` says whether a task was ever created."""


class Decision(enum.StrEnum):
    """What a run does with a request, given what the journal holds for it."""

    SUBMIT = "submit"
    """Nothing recorded (or a retry / resubmission was asked for): write submitting, POST."""
    RESUME = "resume"
    """A task exists: wait for it by id and save it. Never resubmitted."""
    REDOWNLOAD = "redownload"
    """Saved earlier but the file is missing or empty: fetch the image again by id (free)."""
    SKIP = "skip"
    """Saved earlier and the file is there: nothing to do."""
    UNCERTAIN = "uncertain"
    """A POST whose answer never arrived: the task may exist and be billed. Reported."""
    FAILED = "failed"
    """Failed earlier: reported with its reason, not retried."""


@attrs.frozen
class Seen:
    """What a run finds for a request: the entry's state and the facts the store checked."""

    state: State
    file_ok: bool = True
    """For ``saved``: the saved file (if any) is still there and not empty."""
    owner_live: bool = False
    """Another run that is still alive wrote this entry last (it may be sending it now)."""


def plan(seen: Seen | None, *, resubmit_uncertain: bool, retry_failed: bool) -> Decision:
    """The decision for a request whose journal entry is ``seen`` (None: no entry)."""
    if seen is None:
        return Decision.SUBMIT
    if seen.state is State.SUBMITTED:
        return Decision.RESUME
    if seen.state is State.SAVED:
        return Decision.SKIP if seen.file_ok else Decision.REDOWNLOAD
    if seen.state is State.SUBMITTING:
        # A live run may be waiting for this very POST's answer: resubmitting now would
        # make a second task for sure, so even an explicit request waits for it to end.
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

    ``state``: ``submitting`` (sent, no answer recorded: may be billed), ``submitted`` (task
    id known, not saved yet: a re-run resumes it), ``saved``, ``failed``. ``cost``: credits,
    the settled cost once saved, else the submission's cost when the API gave one.
    ``params``: the request's parameters as given (input images named, not embedded; the
    webhook secret masked). Times are Unix timestamps.
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
    """The sample URL when saved (it expires about 10 minutes after the task was ready)."""
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

    @property
    def uncertain(self) -> bool:
        """Sent but unanswered: a billed task may exist. Never resubmitted unless asked."""
        return self.state is State.SUBMITTING

    @property
    def resumable(self) -> bool:
        """A task exists and its image is not saved: a re-run waits for it and saves it."""
        return self.state is State.SUBMITTED


@attrs.frozen
class Claim:
    """What `Journal.claim` decided, the entry it found (None: new), the attempt to record."""

    decision: Decision
    entry: JournalEntry | None
    attempt: int
    owner_live: bool = False
    """The entry was last written by another run that is still going."""
    fingerprint: str = ""
    """The entry's name (for identical requests of one run: the occurrence's)."""


# -- events ------------------------------------------------------------------------------------


@attrs.frozen
class Begin:
    """A submission starts: the entry is written before the POST leaves."""


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
    """The run stopped before the POST left (e.g. cancelled while backing off a 429)."""


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


Event = Begin | Accepted | Refused | Lost | Abandoned | Ended | Stopped | Saved


class InvalidTransition(ValueError):
    """An event that cannot happen to an entry in that state (a bug or a stale writer)."""


@attrs.frozen
class Change:
    """What applying an event does: the new state (None: the entry is removed) and the
    columns to set. ``next_attempt``: the entry starts a new attempt (its counter + 1)."""

    state: State | None
    values: Mapping[str, Any] = attrs.field(factory=dict)
    next_attempt: bool = False


_FROM: dict[type[Any], frozenset[State | None]] = {
    Begin: frozenset({None, State.SUBMITTING, State.FAILED}),
    Accepted: frozenset({State.SUBMITTING}),
    Refused: frozenset({State.SUBMITTING}),
    Lost: frozenset({State.SUBMITTING}),
    Abandoned: frozenset({State.SUBMITTING}),
    Ended: frozenset({State.SUBMITTED, State.SAVED}),
    Stopped: frozenset({State.SUBMITTED, State.SAVED}),
    Saved: frozenset({State.SUBMITTED, State.SAVED}),
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
    if isinstance(event, Begin):
        return Change(State.SUBMITTING, {**cleared, "task_id": None}, next_attempt=True)
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
        return Change(State.SUBMITTING, _error(event.error, event.error_type, retryable=None))
    if isinstance(event, Abandoned):
        return Change(None)
    if isinstance(event, Ended):
        return Change(State.FAILED, _error(event.error, event.error_type, retryable=False))
    if isinstance(event, Stopped):
        return Change(state, _error(event.error, event.error_type, retryable=None))
    assert isinstance(event, Saved)
    return Change(
        State.SAVED,
        {**cleared, "path": event.path, "url": event.url, "seed": event.seed, "cost": event.cost},
    )


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


# -- fingerprint ---------------------------------------------------------------------------------


def fingerprint(body: Mapping[str, Any], destination: str | None, occurrence: int = 0) -> str:
    """The name of a request in the journal: a digest of its canonical body, where its image
    goes, and which occurrence of an identical request in the batch it is (0 for the first).

    ``body`` is the JSON body exactly as it would be POSTed. Input images are hashed by their
    content (the body carries the encoded bytes or the URL, never a local path); the webhook
    secret is left out (it does not change the image, and a digest of it must not be stored).
    """
    canonical: dict[str, Any] = {}
    for key, value in body.items():
        if key == "webhook_secret":
            continue
        if key in IMAGE_FIELDS and isinstance(value, str):
            value = "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()
        canonical[key] = value
    payload = json.dumps(
        {"v": FINGERPRINT_VERSION, "body": canonical, "to": destination, "n": occurrence},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
