"""What an answer means: submission acks, poll results and webhook payloads, interpreted.

Parsing is done by the generated models (`flux_flex_api`, whose enums are open: an unknown
value is data, never an error); this module decides what each status means. Only the five
`FINAL_STATUSES` end a wait; every other status, known or not, means "still running".
Errors built here carry the task id whenever the answer named one, and mask ``secrets``.

Polls and acks are read on every request, so `interpret_poll` and `interpret_submit` read
the common well-formed answer straight from the dict (`_plain_poll`, `_plain_ack`) and
hand every other one to the generated models; tests hold the plain and the model readers
to the same result on answers drawn from the spec, near misses included, and check that an
answer lacking any property the models require never takes the plain path. The generated models are
imported on first use, not with this module: importing flux-flex need not load them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args
from urllib.parse import quote, urljoin

import attrs

from flux_flex._core.redact import mask_answer, mask_secrets
from flux_flex.errors import (
    ModerationError,
    ProtocolError,
    TaskError,
    TaskFailedError,
    TaskNotFoundError,
)

__all__ = [
    "FINAL_STATUSES",
    "KNOWN_STATUSES",
    "Acknowledged",
    "Finished",
    "Polled",
    "Status",
    "default_polling_url",
    "interpret_poll",
    "interpret_submit",
    "interpret_submit_body",
    "interpret_webhook",
    "is_final",
    "ready_from",
    "salvage_task_id",
    "task_error",
]

Status = Literal[
    "Task not found",
    "Pending",
    "Reasoning",
    "Generating",
    "Request Moderated",
    "Content Moderated",
    "Ready",
    "Error",
]
"""The task statuses the spec names. A status the API adds later is still a plain ``str``
wherever a status is given (``TaskSnapshot.status``): never an error, and "still running"."""

KNOWN_STATUSES: tuple[str, ...] = get_args(Status)
FINAL_STATUSES: frozenset[str] = frozenset(
    {"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"}
)
"""The statuses that end a wait; every other one means the task is still running."""


def is_final(status: str) -> bool:
    """True when ``status`` ends the task (`FINAL_STATUSES`); False for any other value,
    including one this client does not know."""
    return status in FINAL_STATUSES


@attrs.frozen
class Acknowledged:
    """A submission the API accepted."""

    id: str
    polling_url: str
    cost: float | None
    input_mp: float | None
    output_mp: float | None
    webhook_url: str | None
    raw: Mapping[str, Any]


@attrs.frozen
class Finished:
    """A ready task: the sample URL and what came with it (``cost``: the settled cost)."""

    id: str
    url: str
    seed: int | None
    prompt: str | None
    raw: Mapping[str, Any]
    cost: float | None = None


@attrs.frozen
class Polled:
    """One poll's answer: ``progress`` as the API sent it (fraction or percentage)."""

    id: str
    status: str
    progress: float | None
    result: Any
    raw: Mapping[str, Any]
    finished: Finished | None  # set when status is Ready
    cost: float | None = None


def default_polling_url(base_url: str, task_id: str) -> str:
    """``{base_url}/v1/get_result?id=...``: where to poll a task resumed without its URL."""
    # Percent-encoding (not "+" for spaces): unambiguous for any server.
    return urljoin(base_url.rstrip("/") + "/", "v1/get_result") + "?id=" + quote(task_id, safe="")


def _number(value: Any) -> float | None:
    if value is None:  # the usual case, first
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float (JSON allows any length)
        return None


def _protocol_error(
    message: str,
    raw: Any,
    task_id: str | None,
    secrets: Sequence[str | None],
    *,
    task_may_exist: bool = False,
) -> ProtocolError:
    return ProtocolError(
        mask_secrets(message, secrets),
        raw=mask_secrets(raw, secrets),
        task_id=task_id,
        task_may_exist=task_may_exist,
    )


# --- submission --------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def salvage_task_id(content: str | bytes) -> str | None:
    """The top-level ``id`` of a JSON object whose text is cut off or broken further on.

    Reads the object's members in order with the JSON decoder and stops at the first one
    that does not parse: ``{"id": "abc-123", "polling_u`` gives ``"abc-123"``, while an id
    string that is itself cut off gives None (never a guess).
    """
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    at = _SPACE.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("{", at):
        return None
    at += 1
    while True:
        try:
            at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
            key, at = _DECODER.raw_decode(text, at)
            at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
            if not isinstance(key, str) or not text.startswith(":", at):
                return None
            at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
            value, at = _DECODER.raw_decode(text, at)
        except ValueError:
            return None
        if key == "id":
            return value if isinstance(value, str) and value else None
        at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
        if not text.startswith(",", at):
            return None
        at += 1


def _resume_advice(task_id: str) -> str:
    return (
        f" The task exists and is billed: resume it with client.job({task_id!r}).wait() "
        "instead of submitting again."
    )


def interpret_submit_body(
    content: bytes, *, base_url: str, secrets: Sequence[str | None] = ()
) -> Acknowledged:
    """The raw 200 body of a submission: `interpret_submit` once decoded. A body that is
    not JSON (cut off, garbled) is a `ProtocolError` that still names the task id when the
    body's start carried it (``task_may_exist`` is always True: the API accepted it)."""
    try:
        payload = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raw = content.decode("utf-8", errors="replace")
        task_id = salvage_task_id(raw)
        if task_id is not None:
            raise _protocol_error(
                f"The API accepted the submission as task {task_id}, but its answer was cut "
                f"off or is not valid JSON.{_resume_advice(task_id)}",
                raw,
                task_id,
                secrets,
                task_may_exist=True,
            ) from None
        raise _protocol_error(
            "The API accepted the submission, but its answer is not valid JSON and names no "
            "task id. A billed task may exist: check your recent tasks (or wait for your "
            "webhook) before submitting again.",
            raw,
            None,
            secrets,
            task_may_exist=True,
        ) from None
    payload = mask_answer(payload, content, secrets)  # an echoed secret is kept nowhere
    return interpret_submit(payload, base_url=base_url, secrets=secrets)


def _id_of(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # breaks the spec's type, but still names the task
    return None


def interpret_submit(
    payload: Any, *, base_url: str, secrets: Sequence[str | None] = ()
) -> Acknowledged:
    """The 200 answer to a submission (AsyncResponse or AsyncWebhookResponse)."""
    ack = _plain_ack(payload, base_url)
    if ack is not None:
        return ack
    return _ack_from_model(payload, base_url=base_url, secrets=secrets)


def _plain_ack(payload: Any, base_url: str) -> Acknowledged | None:
    """The usual answer, an AsyncResponse whose ``id`` and ``polling_url`` are non-empty
    strings, read without building the generated model (which would read it the same: a
    test holds the two to it); None for any other answer, left to `_ack_from_model`."""
    if type(payload) is not dict:
        return None
    task_id = payload.get("id")
    polling_url = payload.get("polling_url")
    if not isinstance(task_id, str) or not isinstance(polling_url, str):
        return None
    if not task_id or not polling_url:
        return None
    try:
        absolute = _absolute(base_url, polling_url)
    except ValueError:  # not a URL (an unbalanced "["): the model's reader says so
        return None
    return Acknowledged(
        id=task_id,
        polling_url=absolute,
        cost=_number(payload.get("cost")),
        input_mp=_number(payload.get("input_mp")),
        output_mp=_number(payload.get("output_mp")),
        webhook_url=None,
        raw=dict(payload),
    )


# An absolute http(s) URL that `urljoin` gives back unchanged: no characters it would drop
# or split off (whitespace, ";" params, "#"), no empty query, no brackets it would check.
_PLAIN_ABSOLUTE_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]+)?"
    r"(?:/[A-Za-z0-9._~%!$&'()*+,=:@/\-]*)?"
    r"(?:\?[A-Za-z0-9._~%!$&'()*+,=:@/?\-]*[A-Za-z0-9._~%!$&'()*+,=:@/\-])?"
)


def _absolute(base_url: str, url: str) -> str:
    """``url`` resolved against ``base_url`` (a relative polling URL is the API host's), as
    `urljoin` resolves it; the plain absolute URL the API sends is already that, and is
    returned without urljoin's cost (a test holds the two to the same answers)."""
    if _PLAIN_ABSOLUTE_URL.fullmatch(url):
        return url
    return urljoin(base_url.rstrip("/") + "/", url)


def _ack_from_model(payload: Any, *, base_url: str, secrets: Sequence[str | None]) -> Acknowledged:
    """`interpret_submit` through the generated models: any answer, the errors it deserves."""
    from flux_flex_api.models.async_response import AsyncResponse
    from flux_flex_api.models.async_webhook_response import AsyncWebhookResponse

    if not isinstance(payload, Mapping):
        raise _protocol_error(
            "The API accepted the submission, but its answer is not a JSON object. A billed "
            "task may exist: check your recent tasks before submitting again.",
            payload,
            None,
            secrets,
            task_may_exist=True,
        )
    data = dict(payload)
    parsed: AsyncResponse | AsyncWebhookResponse | None = None
    for model in (AsyncResponse, AsyncWebhookResponse):
        try:
            parsed = model.from_dict(data)
            break
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    named = _id_of(data.get("id"))
    if parsed is None or not isinstance(parsed.id, str) or not parsed.id:
        if named is not None:
            message = (
                f"The API accepted the submission as task {named}, but its answer has no "
                f"usable polling_url or webhook_url.{_resume_advice(named)}"
            )
        else:
            message = (
                "The API accepted the submission, but its answer has no task id. A billed "
                "task may exist: check your recent tasks before submitting again."
            )
        raise _protocol_error(message, payload, named, secrets, task_may_exist=True)
    task_id = parsed.id
    if isinstance(parsed, AsyncResponse):
        try:
            if not isinstance(parsed.polling_url, str) or not parsed.polling_url:
                raise ValueError("no polling_url")
            polling_url = _absolute(base_url, parsed.polling_url)
        except ValueError:  # empty, or not a URL at all (urljoin refuses "http://[")
            raise _protocol_error(
                f"The submission's answer has a bad polling_url.{_resume_advice(task_id)}",
                payload,
                task_id,
                secrets,
                task_may_exist=True,
            ) from None
        webhook_url = None
    else:
        polling_url = default_polling_url(base_url, task_id)
        webhook_url = parsed.webhook_url if isinstance(parsed.webhook_url, str) else None
    return Acknowledged(
        id=task_id,
        polling_url=polling_url,
        cost=_number(data.get("cost")),
        input_mp=_number(data.get("input_mp")),
        output_mp=_number(data.get("output_mp")),
        webhook_url=webhook_url,
        raw=data,
    )


# --- polls and deliveries ----------------------------------------------------------------


def ready_from(
    task_id: str,
    result: Any,
    raw: Mapping[str, Any],
    *,
    cost: float | None = None,
    secrets: Sequence[str | None] = (),
) -> Finished:
    """The `Finished` of a Ready answer; `ProtocolError` when ``result`` has no sample URL."""
    from flux_flex_api.models.ready_result import ReadyResult

    if not isinstance(result, Mapping):
        raise _protocol_error(
            "The task is Ready but its result is not an object with a sample URL.",
            raw,
            task_id,
            secrets,
        )
    try:
        ready = ReadyResult.from_dict(result)
    except (KeyError, TypeError, ValueError, AttributeError):
        ready = None
    if ready is None or not isinstance(ready.sample, str) or not ready.sample:
        raise _protocol_error(
            "The task is Ready but its result has no sample URL.", raw, task_id, secrets
        )
    seed = ready.seed if isinstance(ready.seed, int) and not isinstance(ready.seed, bool) else None
    prompt = ready.prompt if isinstance(ready.prompt, str) else None
    return Finished(id=task_id, url=ready.sample, seed=seed, prompt=prompt, raw=raw, cost=cost)


def interpret_poll(
    payload: Any, *, expected_id: str | None = None, secrets: Sequence[str | None] = ()
) -> Polled:
    """A poll's answer (ResultWithCostResponse or ResultResponse), parsed.

    Any status string is accepted (an unknown one means "still running"), as are unknown
    keys; `ProtocolError` only when the answer breaks the spec's shape (not an object, no
    id, a status that is not a string, a Ready without a sample URL).
    """
    polled = _plain_poll(payload)
    if polled is not None:
        return polled
    return _poll_from_model(payload, expected_id=expected_id, secrets=secrets)


def _plain_poll(payload: Any) -> Polled | None:
    """The answer the API sends, read without building the generated model; None when it
    is not plainly that (then `_poll_from_model` decides, errors included).

    Plainly the expected shape: a dict whose ``id`` and ``status`` are strings and, when
    Ready, whose ``result`` is an object with a non-empty ``sample`` string. Everything else
    the model would read is taken as `_poll_from_model` takes it: ``progress`` and
    ``cost`` are numbers or None, ``result`` is any JSON value, other keys stay in ``raw``.
    """
    if type(payload) is not dict:
        return None
    task_id = payload.get("id")
    status = payload.get("status")
    if not isinstance(task_id, str) or not isinstance(status, str):
        return None
    result = payload.get("result")
    cost = _number(payload.get("cost"))
    finished = None
    if status == "Ready":
        if type(result) is not dict:  # another Mapping, or none: the model's reader decides
            return None
        sample = result.get("sample")
        if not isinstance(sample, str) or not sample:
            return None
        seed = result.get("seed")
        prompt = result.get("prompt")
        finished = Finished(
            id=task_id,
            url=sample,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            prompt=prompt if isinstance(prompt, str) else None,
            raw=payload,
            cost=cost,
        )
    progress = _number(payload.get("progress"))
    return Polled(task_id, status, progress, result, dict(payload), finished, cost)


def _poll_from_model(
    payload: Any, *, expected_id: str | None, secrets: Sequence[str | None]
) -> Polled:
    """`interpret_poll` through the generated models: any answer, the errors it deserves."""
    from flux_flex_api.models.result_response import ResultResponse
    from flux_flex_api.models.result_with_cost_response import ResultWithCostResponse
    from flux_flex_api.types import Unset

    if not isinstance(payload, Mapping):
        raise _protocol_error(
            "The poll's answer is not a JSON object.", payload, expected_id, secrets
        )
    task_id = _id_of(payload.get("id")) or expected_id
    status = payload.get("status")
    if not isinstance(status, str):
        if status is None:
            what = "lacks the required field 'status'"
        else:
            what = f"has a status that is not a string ({type(status).__name__})"
        raise _protocol_error(f"The poll's answer {what}.", payload, task_id, secrets)
    # The spec's anyOf, in its order: the shape with the settled cost, else the plain one.
    model = ResultWithCostResponse if "cost" in payload else ResultResponse
    try:
        parsed = model.from_dict(payload)
    except KeyError as exc:
        raise _protocol_error(
            f"The poll's answer lacks the required field {exc}.", payload, task_id, secrets
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise _protocol_error(
            f"The poll's answer does not follow the spec ({type(exc).__name__}).",
            payload,
            task_id,
            secrets,
        ) from None
    if not isinstance(parsed.id, str):
        raise _protocol_error("The poll's answer has no valid id.", payload, task_id, secrets)
    result = None if isinstance(parsed.result, Unset) else parsed.result
    progress = _number(parsed.progress)
    cost = _number(parsed.cost) if isinstance(parsed, ResultWithCostResponse) else None
    finished = (
        ready_from(parsed.id, result, payload, cost=cost, secrets=secrets)
        if status == "Ready"
        else None
    )
    return Polled(parsed.id, status, progress, result, dict(payload), finished, cost)


def _server_words(payload: Mapping[str, Any]) -> str:
    said = ""
    for key in ("error", "message"):
        if isinstance(payload.get(key), str):
            said += f" {payload[key].rstrip('.')}."
    details = payload.get("details")
    if isinstance(details, Mapping) and details:
        text = json.dumps(details, default=str, ensure_ascii=False)
        said += f" Details: {text if len(text) <= 300 else text[:297] + '...'}."
    elif isinstance(details, str) and details:
        said += f" Details: {details[:300].rstrip('.')}."
    return said


def task_error(
    task_id: str,
    status: str,
    payload: Mapping[str, Any],
    *,
    secrets: Sequence[str | None] = (),
) -> TaskError | None:
    """The typed error for a final status other than Ready; None for Ready and for every
    status that is not final (known or not: the task is still running)."""
    if status not in FINAL_STATUSES or status == "Ready":
        return None
    payload = mask_secrets(payload, secrets)
    said = _server_words(payload)
    if status in ("Request Moderated", "Content Moderated"):
        what = "prompt or input images" if status == "Request Moderated" else "generated image"
        return ModerationError(
            f"{status}: the {what} did not pass moderation.{said} Change the prompt or "
            "images (or raise safety_tolerance) and submit again.",
            task_id=task_id,
            status=status,
            payload=payload,
        )
    if status == "Error":
        return TaskFailedError(
            f"The task failed (status Error).{said} Submit it again; if it keeps failing, "
            "report the task id.",
            task_id=task_id,
            status=status,
            payload=payload,
        )
    return TaskNotFoundError(
        "The API does not know this task: check the id and the region (poll the "
        "polling_url returned at submission), or it has expired.",
        task_id=task_id,
        status=status,
        payload=payload,
    )


def interpret_webhook(
    payload: Mapping[str, Any], *, task_id: str, secrets: Sequence[str | None] = ()
) -> Finished | None:
    """A delivered webhook payload: the result, the typed error it carries, or None when
    its status is not final (the task is not done yet: the delivery is ignored)."""
    status = payload.get("status")
    if not isinstance(status, str):
        raise _protocol_error("The webhook payload has no status.", payload, task_id, secrets)
    if status == "Ready":
        cost = _number(payload.get("cost"))
        return ready_from(task_id, payload.get("result"), payload, cost=cost, secrets=secrets)
    error = task_error(task_id, status, payload, secrets=secrets)
    if error is not None:
        raise error
    return None
