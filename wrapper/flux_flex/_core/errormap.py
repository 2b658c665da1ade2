"""HTTP answers and transport failures → the right `flux_flex.errors` class, with advice."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flux_flex._core.redact import mask_secrets, safe_url
from flux_flex._core.retry import FailureKind, parse_retry_after
from flux_flex._core.status import salvage_task_id
from flux_flex.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    FieldError,
    InsufficientCreditsError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
)

__all__ = ["connection_error", "error_from_response", "field_errors_from_422", "parse_body"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id", "cf-ray")


def parse_body(content: bytes) -> Any:
    """The body as JSON when it is JSON, else as text."""
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content.decode("utf-8", errors="replace")


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _server_says(body: Any) -> str:
    """The server's own explanation, from `{"detail": ...}` or `{"error", "message"}`."""
    if isinstance(body, Mapping):
        parts = [str(body[k]) for k in ("error", "message") if isinstance(body.get(k), str)]
        detail = body.get("detail")
        if isinstance(detail, str):
            parts.append(detail)
        elif detail is not None and not parts:
            parts.append(json.dumps(detail)[:300])
        return ": ".join(parts)
    if isinstance(body, str):
        return body.strip()[:300]
    return ""


def field_errors_from_422(body: Any) -> list[FieldError]:
    """FastAPI's 422 body ``{"detail": [{"loc", "msg", "type"}]}`` as `FieldError`s."""
    if not isinstance(body, Mapping) or not isinstance(body.get("detail"), list):
        return []
    # Imported here, on this rare path: importing flux-flex need not load the models.
    from flux_flex_api.models.http_validation_error import HTTPValidationError

    try:
        parsed = HTTPValidationError.from_dict(body)
    except (KeyError, TypeError, ValueError, AttributeError):
        return []
    errors = []
    for item in parsed.detail or []:
        loc = [str(part) for part in item.loc if part != "body"]
        field = ".".join(loc) or "body"
        errors.append(FieldError(field=field, rule=item.type_, message=f"{field}: {item.msg}"))
    return errors


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    submit: bool,
    task_id: str | None = None,
    secrets: Sequence[str | None] = (),
) -> APIError:
    """The typed error for an HTTP error answer. ``submit``: it answered a (billed) POST.

    ``secrets`` are masked in the message, ``body`` and ``headers``; the task id is
    ``task_id``, else the ``id`` the answer itself carried (even in a cut-off body).
    """
    body = mask_secrets(body, secrets)
    h = mask_secrets(_lower(headers), secrets)
    if task_id is None:
        task_id = _task_id_in(body)
    said = _server_says(body)
    said_part = f" The server said: {said.rstrip('.')}." if said else ""
    common: dict[str, Any] = {
        "status_code": status,
        "body": body,
        "request_id": next((h[k] for k in _REQUEST_ID_HEADERS if k in h), None),
        "headers": {k: v for k, v in h.items() if k not in ("x-key", "set-cookie")},
        "task_id": task_id,
    }
    if status == 401:
        return AuthenticationError(
            f"HTTP 401: the API refused the API key.{said_part} Check BFL_API_KEY (or the "
            "api_key argument) and that the key may use FLUX.2 [FLEX].",
            **common,
        )
    if status == 403:
        return PermissionDeniedError(
            f"HTTP 403: the API refused this request with this key.{said_part} Check "
            "BFL_API_KEY (or the api_key argument) and that the key may use FLUX.2 [FLEX].",
            **common,
        )
    if status == 402:
        return InsufficientCreditsError(
            f"HTTP 402: not enough credits for this task.{said_part} Add credits to the "
            "account, then submit again.",
            **common,
        )
    if status == 429:
        retry_after = parse_retry_after(h.get("retry-after"))
        wait = f"after {retry_after:g} s" if retry_after is not None else "later"
        return RateLimitError(
            f"HTTP 429: too many tasks in flight (the limit is 24 per account).{said_part} "
            f"Nothing was billed; retry {wait}, or lower the concurrency.",
            retry_after=retry_after,
            **common,
        )
    if status == 422:
        errors = field_errors_from_422(body)
        listed = "; ".join(e.message for e in errors) or said or "no details"
        return RequestValidationError(
            f"HTTP 422: the API refused the request: {listed}. Fix these fields and submit again.",
            errors=errors,
            **common,
        )
    if status >= 500:
        if submit:
            return ServerError(
                f"HTTP {status}: server error while submitting.{said_part} A billed task may "
                "have been created anyway, so this was not resent automatically. Check your "
                "recent tasks (or wait for your webhook) before submitting again.",
                task_may_exist=True,
                **common,
            )
        return ServerError(
            f"HTTP {status}: server error, still failing after retries.{said_part} Try again "
            "in a moment.",
            **common,
        )
    return APIError(
        f"HTTP {status}: unexpected answer from the API.{said_part} Check the request and "
        "the base URL.",
        **common,
    )


def _task_id_in(body: Any) -> str | None:
    if isinstance(body, Mapping):
        named = body.get("id")
        return named if isinstance(named, str) and named else None
    if isinstance(body, str):
        return salvage_task_id(body)
    return None


def connection_error(
    failure: FailureKind,
    detail: str,
    *,
    submit: bool,
    task_id: str | None = None,
    url: str | None = None,
    secrets: Sequence[str | None] = (),
) -> APIConnectionError:
    """The typed error for a request that got no HTTP answer. ``url``, the one tried, is
    named without its query string (which may carry signatures) or user info."""
    where = f" {safe_url(url)}" if url is not None else ""
    detail = mask_secrets(detail, secrets)
    if submit and failure is not FailureKind.CONNECT:
        advice = (
            " The request may have reached the API, so a billed task may exist: it was not "
            "resent. Check your recent tasks (or wait for your webhook) before submitting again."
        )
        may_exist = True
    else:
        advice = " Check the network and the base URL, then try again."
        may_exist = False
    if failure is FailureKind.TIMEOUT:
        what = f"No answer in time from{where}" if where else "No answer in time"
    elif failure is FailureKind.CONNECT:
        what = f"Could not connect to{where}" if where else "Could not connect"
    else:
        what = f"The connection to{where} broke" if where else "The connection broke"
    cls = APITimeoutError if failure is FailureKind.TIMEOUT else APIConnectionError
    return cls(f"{what} ({detail}).{advice}", task_may_exist=may_exist, task_id=task_id)
