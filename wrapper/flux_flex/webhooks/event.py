"""The typed, read-only view of a webhook delivery's body (the spec's ``WebhookPayload``)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs
from flux_flex_api.models import ReadyResult, WebhookErrorPayload, WebhookReadyPayload
from flux_flex_api.types import Unset

from flux_flex._core.status import is_final
from flux_flex.errors import WebhookVerificationError

__all__ = ["MODERATED_STATUSES", "WebhookEvent", "parse_event"]

MODERATED_STATUSES = frozenset({"Request Moderated", "Content Moderated"})


def _bad_payload(what: str, task_id: str | None = None) -> WebhookVerificationError:
    where = f" (task id: {task_id})" if task_id else ""
    return WebhookVerificationError(
        f"The delivery is authentic but its payload is unusable: {what}{where}. "
        "Nothing was recorded; fetch the result by polling instead.",
        reason="bad_payload",
    )


def _optional(value: Any) -> Any:
    """``None`` for UNSET (the generated models' "absent") and JSON null alike."""
    return None if isinstance(value, Unset) else value


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _check_type(
    payload: Mapping[str, Any], key: str, kind: type | tuple[type, ...], task_id: str | None
) -> None:
    value = payload.get(key)
    # bool is an int subclass in Python, but `true` is no seed.
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise _bad_payload(f"'{key}' is {type(value).__name__}, not {_kind_name(kind)}", task_id)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


@attrs.frozen
class WebhookEvent:
    """One verified delivery: a task that finished.

    ``result`` is set for a ``Ready`` task (the generated ``ReadyResult``: ``sample``, and
    usually ``prompt`` and ``seed``); ``error``/``message`` for a failed one. ``raw`` is the
    whole JSON body, unknown keys included (read-only; ``to_dict()`` gives a mutable copy).
    ``timestamp`` is whatever the sender put there
    (number or string), or None.
    """

    id: str
    status: str
    # The generated ReadyResult is mutable, hence unhashable: left out of the hash.
    result: ReadyResult | None = attrs.field(default=None, hash=False)
    error: str | None = None
    message: str | None = None
    timestamp: Any = None
    raw: Mapping[str, Any] = attrs.field(factory=lambda: MappingProxyType({}), repr=False, eq=False)

    @property
    def is_ready(self) -> bool:
        """The task produced an image (``result.sample``)."""
        return self.status == "Ready"

    @property
    def is_error(self) -> bool:
        """The task ended in status ``Error``."""
        return self.status == "Error"

    @property
    def is_moderated(self) -> bool:
        """The request or the generated content was moderated."""
        return self.status in MODERATED_STATUSES

    @property
    def is_final(self) -> bool:
        """The task will not change any more: one of `flux_flex.FINAL_STATUSES` (not
        ``Pending``, ``Reasoning``, ``Generating`` nor a status added later)."""
        return is_final(self.status)

    @property
    def sample(self) -> str | None:
        """The signed image URL (expires about 10 minutes after the task is ready), or None."""
        return None if self.result is None else self.result.sample

    @property
    def seed(self) -> int | None:
        """The seed the image was made with, when the sender told it."""
        return None if self.result is None else _optional(self.result.seed)

    @property
    def prompt(self) -> str | None:
        """The prompt as the model used it, when the sender told it."""
        return None if self.result is None else _optional(self.result.prompt)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the JSON body, exactly as delivered."""
        return copy.deepcopy(dict(self.raw))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> WebhookEvent:
        """From a decoded JSON body; ``WebhookVerificationError`` ("bad_payload") if unusable."""
        return parse_event(payload)


def _copy_tree(value: Any) -> Any:
    """A deep copy of a decoded JSON value: dicts and lists rebuilt, scalars shared (they are
    immutable), anything else through ``copy.deepcopy``. Hand-written because deepcopy's
    generic machinery was the largest cost of receiving a delivery (issue 14)."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_tree(item) for key, item in value.items()}
    if kind is list:
        return [_copy_tree(item) for item in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return copy.deepcopy(value)


def parse_event(payload: Any) -> WebhookEvent:
    """Check a decoded body against the spec's ``WebhookPayload`` and type it.

    The fields the spec types must have their types: ``id`` and ``status`` strings; for
    ``Ready``, a ``result`` object with a string ``sample`` (and a string ``prompt``, an
    integer ``seed`` when present); for other statuses, string ``error``/``message`` when
    present. Stricter than the spec in one way only: ``id``/``status`` must not be empty and
    a ``Ready`` delivery must carry a usable ``result`` (the spec's anyOf would let one
    through as an "error" payload). Null counts as absent for optional fields; unknown keys
    are kept in ``raw`` and otherwise ignored.
    """
    if not isinstance(payload, Mapping):
        raise _bad_payload(f"the body is a JSON {type(payload).__name__}, not an object")
    task_id = payload.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise _bad_payload("'id' is missing or not a non-empty string")
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise _bad_payload("'status' is missing or not a non-empty string", task_id)
    raw = MappingProxyType(_copy_tree(dict(payload)))
    # Absent, not null, for the generated models (which would otherwise keep the None).
    # A separate copy for the typed models, so that nothing reachable from them aliases raw.
    present = {key: value for key, value in _copy_tree(dict(raw)).items() if value is not None}

    if status == "Ready":
        result = present.get("result")
        if not isinstance(result, Mapping):
            raise _bad_payload("a Ready delivery without a 'result' object", task_id)
        if not isinstance(result.get("sample"), str) or not result["sample"]:
            raise _bad_payload("'result.sample' is missing or not a non-empty string", task_id)
        _check_type(result, "prompt", str, task_id)
        _check_type(result, "seed", int, task_id)
        result = {key: value for key, value in result.items() if value is not None}
        ready = WebhookReadyPayload.from_dict({**present, "result": result})
        return WebhookEvent(
            id=ready.id,
            status=ready.status,
            result=ready.result,
            # Not in the spec's Ready payload: extra keys, typed here only when strings.
            error=_string_or_none(present.get("error")),
            message=_string_or_none(present.get("message")),
            timestamp=_optional(ready.timestamp),
            raw=raw,
        )

    _check_type(payload, "error", str, task_id)
    _check_type(payload, "message", str, task_id)
    failed = WebhookErrorPayload.from_dict(present)
    return WebhookEvent(
        id=failed.id,
        status=failed.status,
        result=None,
        error=_optional(failed.error),
        message=_optional(failed.message),
        timestamp=_optional(failed.timestamp),
        raw=raw,
    )


def decode_json(body: bytes) -> Any:
    """The JSON value of ``body``; ``WebhookVerificationError("bad_json")`` if it is none."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise WebhookVerificationError(
            f"The delivery is authentic but its body is not JSON ({type(exc).__name__}). "
            "Nothing was recorded; fetch the result by polling instead.",
            reason="bad_json",
        ) from None
