"""What an answer means: submission acks, poll results and webhook payloads, interpreted.

Parsing is done by the generated models (`flux_flex_api`); this module decides what each
status means: ready, keep waiting, or which typed error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urljoin

import attrs
from flux_flex_api.models.async_response import AsyncResponse
from flux_flex_api.models.async_webhook_response import AsyncWebhookResponse
from flux_flex_api.models.ready_result import ReadyResult
from flux_flex_api.models.result_response import ResultResponse
from flux_flex_api.types import Unset

from flux_flex.errors import (
    ModerationError,
    ProtocolError,
    TaskError,
    TaskFailedError,
    TaskNotFoundError,
)

__all__ = [
    "Acknowledged",
    "Finished",
    "Polled",
    "default_polling_url",
    "interpret_poll",
    "interpret_submit",
    "interpret_webhook",
    "ready_from",
]


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
    """A ready task: the sample URL and what came with it."""

    id: str
    url: str
    seed: int | None
    prompt: str | None
    raw: Mapping[str, Any]


@attrs.frozen
class Polled:
    """One poll's answer: ``progress`` as the API sent it (fraction or percentage)."""

    id: str
    status: str
    progress: float | None
    result: Any
    raw: Mapping[str, Any]
    finished: Finished | None  # set when status is Ready


def default_polling_url(base_url: str, task_id: str) -> str:
    """``{base_url}/v1/get_result?id=...``: where to poll a task resumed without its URL."""
    # Percent-encoding (not "+" for spaces): unambiguous for any server.
    return urljoin(base_url.rstrip("/") + "/", "v1/get_result") + "?id=" + quote(task_id, safe="")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def interpret_submit(payload: Any, *, base_url: str) -> Acknowledged:
    """The 200 answer to a submission (AsyncResponse or AsyncWebhookResponse)."""
    if not isinstance(payload, Mapping):
        raise ProtocolError(
            "The API accepted the submission but its answer is not a JSON object; the task "
            "may exist. Report this payload.",
            raw=payload,
        )
    data = dict(payload)
    parsed: AsyncResponse | AsyncWebhookResponse | None = None
    for model in (AsyncResponse, AsyncWebhookResponse):
        try:
            parsed = model.from_dict(data)
            break
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    task_id = data.get("id")
    if parsed is None or not isinstance(task_id, str) or not task_id:
        raise ProtocolError(
            "The API accepted the submission but its answer has no task id (or no "
            "polling_url); the task may exist and be billed. Report this payload.",
            raw=payload,
            task_id=task_id if isinstance(task_id, str) else None,
        )
    if isinstance(parsed, AsyncResponse):
        if not isinstance(parsed.polling_url, str) or not parsed.polling_url:
            raise ProtocolError(
                "The submission's answer has a bad polling_url.", raw=payload, task_id=task_id
            )
        polling_url = urljoin(base_url.rstrip("/") + "/", parsed.polling_url)
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


def ready_from(task_id: str, result: Any, raw: Mapping[str, Any]) -> Finished:
    """The `Finished` of a Ready answer; `ProtocolError` when ``result`` has no sample URL."""
    if not isinstance(result, Mapping):
        raise ProtocolError(
            "The task is Ready but its result is not an object with a sample URL.",
            raw=raw,
            task_id=task_id,
        )
    try:
        ready = ReadyResult.from_dict(result)
    except (KeyError, TypeError, ValueError, AttributeError):
        ready = None
    if ready is None or not isinstance(ready.sample, str) or not ready.sample:
        raise ProtocolError(
            "The task is Ready but its result has no sample URL.", raw=raw, task_id=task_id
        )
    seed = ready.seed if isinstance(ready.seed, int) and not isinstance(ready.seed, bool) else None
    prompt = ready.prompt if isinstance(ready.prompt, str) else None
    return Finished(id=task_id, url=ready.sample, seed=seed, prompt=prompt, raw=raw)


def interpret_poll(payload: Any, *, expected_id: str | None = None) -> Polled:
    """A poll's answer (ResultResponse), parsed; `ProtocolError` when it breaks the spec."""
    if not isinstance(payload, Mapping):
        raise ProtocolError(
            "The poll's answer is not a JSON object.", raw=payload, task_id=expected_id
        )
    try:
        parsed = ResultResponse.from_dict(payload)
    except KeyError as exc:
        raise ProtocolError(
            f"The poll's answer lacks the required field {exc}.", raw=payload, task_id=expected_id
        ) from None
    except ValueError:
        raise ProtocolError(
            f"The poll's answer has an unknown status {payload.get('status')!r}; this client "
            "may be out of date.",
            raw=payload,
            task_id=expected_id,
        ) from None
    if not isinstance(parsed.id, str):
        raise ProtocolError("The poll's answer has no valid id.", raw=payload, task_id=expected_id)
    result = None if isinstance(parsed.result, Unset) else parsed.result
    progress = _number(parsed.progress)
    status = str(parsed.status)
    finished = ready_from(parsed.id, result, payload) if status == "Ready" else None
    return Polled(parsed.id, status, progress, result, dict(payload), finished)


def task_error(task_id: str, status: str, payload: Mapping[str, Any]) -> TaskError | None:
    """The typed error for a final status other than Ready; None for Pending/Ready."""
    said = ""
    for key in ("error", "message"):
        if isinstance(payload.get(key), str):
            said += f" {payload[key]}."
    details = payload.get("details")
    if isinstance(details, Mapping) and details:
        said += f" Details: {json.dumps(dict(details), ensure_ascii=False, default=str)}."
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
    if status == "Task not found":
        return TaskNotFoundError(
            "The API does not know this task: check the id and the region (poll the "
            "polling_url returned at submission), or it has expired.",
            task_id=task_id,
            status=status,
            payload=payload,
        )
    return None


def interpret_webhook(payload: Mapping[str, Any], *, task_id: str) -> Finished:
    """A delivered webhook payload: the result, or the typed error it carries."""
    status = payload.get("status")
    if status == "Ready":
        return ready_from(task_id, payload.get("result"), payload)
    if not isinstance(status, str):
        raise ProtocolError("The webhook payload has no status.", raw=payload, task_id=task_id)
    error = task_error(task_id, status, payload)
    if error is None:
        raise ProtocolError(
            f"The webhook payload has an unexpected status {status!r}.",
            raw=payload,
            task_id=task_id,
        )
    raise error
