"""The one error hierarchy of flux-flex.

Every message says what happened and what to do next, carries the task id when there is
one (also when only part of an answer named it), and never contains the API key or the
webhook secret: the clients mask both in every message and attribute (``body``,
``headers``, ``raw``, ``payload``…) with `flux_flex._core.redact` (the rule is written
there: whole secrets in any encoding, and runs of 8 or more of their characters).

    FluxFlexError
    ├── ConfigurationError          no API key, bad base URL or region
    │   └── UntrustedHostError      the key would have gone to a host not trusted with it
    ├── APIError                    the API answered with an error status
    │   ├── AuthenticationError     401 / 403
    │   │   └── PermissionDeniedError  403
    │   ├── InsufficientCreditsError 402
    │   ├── RateLimitError          429 (retry_after)
    │   ├── ServerError             5xx
    │   └── RequestValidationError  422, or refused locally before anything was sent
    │       └── BatchValidationError  requests of a batch refused before any was sent
    ├── APIConnectionError          the request did not complete (connect error, broken link)
    │   └── APITimeoutError         no answer in time
    ├── TaskError                   the task ended without an image
    │   ├── ModerationError         Request Moderated / Content Moderated
    │   ├── TaskFailedError         Error
    │   └── TaskNotFoundError       Task not found
    ├── WaitTimeoutError            the wait's deadline passed; the task may still finish
    ├── ProtocolError               an answer that breaks the spec (malformed JSON, no id…)
    ├── DownloadError               the sample URL expired or the download broke
    ├── WebhookVerificationError    a webhook delivery failed authentication
    ├── JournalError                a task journal could not be read or written
    ├── TaskUncertainError          a submission's answer was lost: a billed task may exist
    ├── PreviouslyFailedError       failed in an earlier run of a journal; retried when asked
    ├── TaskInProgressError         another live call holds the idempotency key (timed out)
    └── IdempotencyConflictError    an idempotency key reused with other parameters
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ConfigurationError",
    "DownloadError",
    "FieldError",
    "FluxFlexError",
    "InsufficientCreditsError",
    "ModerationError",
    "ProtocolError",
    "RateLimitError",
    "RequestValidationError",
    "ServerError",
    "TaskError",
    "TaskFailedError",
    "TaskNotFoundError",
    "WaitTimeoutError",
    "WebhookVerificationError",
]


class FluxFlexError(Exception):
    """Base of every error flux-flex raises. ``task_id`` is set when a task is concerned."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        if task_id is not None and task_id not in message:
            message = f"{message} (task id: {task_id})"
        super().__init__(message)
        self.message: str = message
        self.task_id: str | None = task_id


class ConfigurationError(FluxFlexError):
    """The client is not set up to make a request (no API key, unknown region…)."""


@attrs.frozen
class FieldError:
    """One refused field: where (``field``), which rule, and a readable message."""

    field: str
    rule: str
    message: str


class APIError(FluxFlexError):
    """The API answered with an error status. ``body`` is the parsed JSON body (or text)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.status_code: int | None = status_code
        self.body: Any = body
        self.request_id: str | None = request_id
        self.headers: dict[str, str] = dict(headers or {})


class AuthenticationError(APIError):
    """401/403: the API key is missing, wrong, or may not use this endpoint."""


class InsufficientCreditsError(APIError):
    """402: the account has not enough credits for this task."""


class RateLimitError(APIError):
    """429: too many tasks in flight; the task was refused (nothing was billed)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after: float | None = retry_after


class ServerError(APIError):
    """5xx. ``task_may_exist`` is true for a submission: a billed task may have been created."""

    def __init__(self, message: str, *, task_may_exist: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.task_may_exist: bool = task_may_exist


class RequestValidationError(APIError, ValueError):
    """The request was refused: locally before sending (``status_code`` None) or by a 422."""

    def __init__(self, message: str, *, errors: Sequence[FieldError] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors: list[FieldError] = list(errors)

    @property
    def fields(self) -> list[str]:
        """The names of the refused fields, in order."""
        return [error.field for error in self.errors]


class APIConnectionError(FluxFlexError):
    """The request did not complete. ``task_may_exist``: a submission may have been billed."""

    def __init__(
        self, message: str, *, task_may_exist: bool = False, task_id: str | None = None
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.task_may_exist: bool = task_may_exist


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class TaskError(FluxFlexError):
    """The task ended without an image. ``status`` is the API's status, ``payload`` the answer."""

    def __init__(
        self, message: str, *, task_id: str, status: str, payload: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.status: str = status
        self.payload: dict[str, Any] = dict(payload or {})


class ModerationError(TaskError):
    """The request (prompt or input image) or the generated content was moderated."""


class TaskFailedError(TaskError):
    """The task ended in status ``Error``."""


class TaskNotFoundError(TaskError):
    """The API does not know this task id (wrong id, wrong region, or expired)."""


class WaitTimeoutError(FluxFlexError, TimeoutError):
    """The wait's deadline passed. The task may still finish: resume with ``client.job(id)``."""

    def __init__(
        self, message: str, *, task_id: str, waited: float, last_status: str | None = None
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.waited: float = waited
        self.last_status: str | None = last_status
        """The status of the last poll answered before the deadline (None if none was)."""


class ProtocolError(FluxFlexError):
    """An answer that breaks the spec. ``raw`` holds what was received (secrets masked).

    ``task_may_exist`` is True when the broken answer was the API accepting a submission:
    a billed task exists (``task_id`` names it when any part of the answer did) or may exist.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: Any = None,
        task_id: str | None = None,
        task_may_exist: bool = False,
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.raw: Any = raw
        self.task_may_exist: bool = task_may_exist


class DownloadError(FluxFlexError):
    """The image could not be downloaded (expired sample URL, broken transfer)."""

    def __init__(
        self, message: str, *, task_id: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.status_code: int | None = status_code


class WebhookVerificationError(FluxFlexError):
    """A webhook delivery failed authentication. ``reason`` says which check failed."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason: str = reason


class UntrustedHostError(ConfigurationError):
    """A request would have carried the API key to a host that may not receive it.

    Raised before anything is sent there. ``host`` is that host; trust it with the client's
    ``trusted_hosts=[...]``.
    """

    def __init__(self, message: str, *, host: str | None, task_id: str | None = None) -> None:
        super().__init__(message, task_id=task_id)
        self.host: str | None = host


__all__ += ["UntrustedHostError"]


# -- The task journal and batches (flux_flex.journal, generate_many) ----------------------------
# Kept in one block, added by the journal's engineer.

__all__ += [
    "BatchValidationError",
    "IdempotencyConflictError",
    "JournalError",
    "PreviouslyFailedError",
    "TaskInProgressError",
    "TaskUncertainError",
]


class BatchValidationError(RequestValidationError):
    """Requests of a batch were refused before anything was sent.

    ``errors`` name each field as ``requests[<index>].<field>``; ``by_index`` maps each bad
    request's index to its own `FieldError` list (fields as a single request names them).
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        by_index: Mapping[int, Sequence[FieldError]] | None = None,
    ) -> None:
        super().__init__(message, errors=errors)
        self.by_index: dict[int, list[FieldError]] = {
            index: list(found) for index, found in (by_index or {}).items()
        }


class JournalError(FluxFlexError):
    """The task journal could not be read or written. ``path`` is the journal's file."""

    def __init__(self, message: str, *, path: str, task_id: str | None = None) -> None:
        super().__init__(message, task_id=task_id)
        self.path: str = path


class TaskUncertainError(FluxFlexError):
    """A submission whose answer never arrived: a billed task may exist for it.

    The journal holds it as ``submitting``; it is never resubmitted on its own (that could
    pay twice). ``prompt`` and ``fingerprint`` name the request (``idempotency_key`` too,
    for a call made with one); resubmit it on purpose with ``resubmit_uncertain=True``
    (CLI: ``--resubmit-uncertain``).
    """

    task_may_exist = True

    def __init__(
        self,
        message: str,
        *,
        prompt: str,
        fingerprint: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.prompt: str = prompt
        self.fingerprint: str = fingerprint
        self.reason: str | None = reason
        """What was recorded about the lost answer (None: the run stopped mid-POST)."""
        self.idempotency_key: str | None = idempotency_key
        """The call's idempotency key (None: a batch request)."""


class PreviouslyFailedError(FluxFlexError):
    """A request that failed in an earlier run; not retried unless ``retry_failed=True``.

    ``reason`` is the earlier error's message and ``error_type`` its class name.
    ``retryable`` is True when no task was ever created for it (nothing was billed), False
    when a billed task ended without an image or is gone (retrying pays again).
    """

    def __init__(
        self,
        message: str,
        *,
        prompt: str,
        fingerprint: str,
        reason: str,
        error_type: str | None,
        retryable: bool,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.prompt: str = prompt
        self.fingerprint: str = fingerprint
        self.reason: str = reason
        self.error_type: str | None = error_type
        self.retryable: bool = retryable


# -- Idempotency keys (generate / submit with idempotency_key=) ---------------------------------


class TaskInProgressError(FluxFlexError, TimeoutError):
    """Another call that is still alive holds this idempotency key (it is sending the
    request, or waiting for its task), and it did not finish within this call's timeout.

    Nothing was sent by this call. Call again later with the same key: it returns that
    call's result, or takes the task over if that call died. ``holder`` is ``pid@host`` of
    the call holding the key (None when unknown), ``state`` its journal entry's state.

    In a batch sharing its journal with other workers, a request another live worker still
    held when its timeout passed ends with this error ("being handled by ``pid@host``"):
    ``idempotency_key`` is then the request's journal entry name.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str,
        holder: str | None,
        state: str | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.idempotency_key: str = idempotency_key
        self.holder: str | None = holder
        self.state: str | None = state


class IdempotencyConflictError(FluxFlexError, ValueError):
    """The idempotency key was used before with other parameters (another request body).

    Raised before anything is sent. A key names one request: ``save_to`` and ``timeout``
    may differ between its calls, the parameters may not. ``name`` is the journal entry
    (``key:<key>``); ``task_id`` the earlier call's task, when it has one.
    """

    def __init__(
        self, message: str, *, idempotency_key: str, name: str, task_id: str | None = None
    ) -> None:
        super().__init__(message, task_id=task_id)
        self.idempotency_key: str = idempotency_key
        self.name: str = name


class PermissionDeniedError(AuthenticationError):
    """403: the API knows the key but refuses it this request (a key that may not use
    FLUX.2 [FLEX], a blocked account). A subclass of `AuthenticationError`, so handlers of
    that still catch it; openai-python users know the name."""


__all__ += ["PermissionDeniedError"]
