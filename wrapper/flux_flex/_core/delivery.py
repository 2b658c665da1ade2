"""Webhook deliveries and the task journal, without I/O: the journal event a final delivery
is, the delivery payload a journal entry stands for, and the file name a receiver or a
reconciler saves a task's image as.

A receiver records a verified final delivery with `delivery_event` (`Journal.deliver`); a
waiter in any process reads it back with `payload_of` (``job.wait(webhook=...)``), so the
wait completes from whichever receiver got it.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from flux_flex._core.journal import Ended, JournalEntry, Ready, State
from flux_flex._core.status import is_final

__all__ = [
    "DELIVERED_FAILURES",
    "DownloadTurn",
    "delivery_event",
    "download_turn",
    "image_stem",
    "payload_of",
]

DELIVERED_FAILURES = frozenset(
    {"Error", "Request Moderated", "Content Moderated", "Task not found"}
)
"""The final statuses other than ``Ready``: a delivery saying one is recorded as `Ended`
with the status as its ``error_type``, so a waiter elsewhere gets the same typed error."""

_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def delivery_event(payload: Mapping[str, Any]) -> Ready | Ended | None:
    """The journal event of a verified delivery's JSON body: `Ready` (its sample URL, seed
    and cost), `Ended` for a failure (``error_type`` is the status), None while the task is
    not final (nothing to record)."""
    status = payload.get("status")
    if not isinstance(status, str) or not is_final(status):
        return None
    if status == "Ready":
        result = payload.get("result")
        result = result if isinstance(result, Mapping) else {}
        sample = result.get("sample")
        seed = result.get("seed")
        cost = payload.get("cost")
        return Ready(
            sample if isinstance(sample, str) else "",
            seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        )
    message = payload.get("message")
    code = payload.get("error")
    parts = [part for part in (code, message) if isinstance(part, str) and part]
    text = ": ".join(parts) if parts else f"the task ended with status {status}"
    kind = status if status in DELIVERED_FAILURES else "Error"
    return Ended(text, kind)


def payload_of(entry: JournalEntry | None) -> dict[str, Any] | None:
    """The delivery payload a journal entry stands for, once its task is final: ``Ready``
    with its sample URL for a ``ready`` or ``saved`` entry, the failure a receiver recorded
    for a ``failed`` one; None otherwise (not final, or failed in a way no delivery says:
    polling tells the waiter what happened)."""
    if entry is None or entry.task_id is None:
        return None
    if entry.state in (State.READY, State.SAVED) and entry.url:
        result: dict[str, Any] = {"sample": entry.url}
        if entry.seed is not None:
            result["seed"] = entry.seed
        payload: dict[str, Any] = {"id": entry.task_id, "status": "Ready", "result": result}
        if entry.cost is not None and entry.state is State.SAVED:
            payload["cost"] = entry.cost
        return payload
    if entry.state is State.FAILED and entry.error_type in DELIVERED_FAILURES:
        return {
            "id": entry.task_id,
            "status": entry.error_type,
            "error": entry.error_type,
            "message": entry.error or "",
        }
    return None


class DownloadTurn(enum.StrEnum):
    """What a run that waited for a task does about its image, given its journal entry."""

    DOWNLOAD = "download"
    """Nobody else saved it or is saving it: download it."""
    SKIP = "skip"
    """Another run (a receiver) saved it already: use that file, download nothing."""
    WAIT = "wait"
    """A live receiver holds its download now: wait for the entry to change, decide again."""


def download_turn(entry: JournalEntry | None, *, owner: str, other_live: bool) -> DownloadTurn:
    """Whether the run ``owner`` downloads a finished task's image: ``entry`` is its journal
    entry now, ``other_live`` whether a live run other than ``owner`` holds it."""
    if entry is None:
        return DownloadTurn.DOWNLOAD
    if entry.state is State.SAVED and entry.path is not None:
        return DownloadTurn.SKIP
    mine = entry.holder is not None and entry.holder.run_id == owner
    if entry.state is State.READY and not mine and other_live:
        return DownloadTurn.WAIT
    return DownloadTurn.DOWNLOAD


def image_stem(entry: JournalEntry | None, task_id: str) -> str:
    """The file name (without extension) a task's image is saved as by a receiver or a
    reconciler: the request's own name (its destination's file name, as a batch names its
    lines) when the journal knows it, else the task id; never a path, never hidden."""
    name = None
    if entry is not None and entry.save_to:
        base = os.path.basename(os.path.normpath(entry.save_to))
        name = os.path.splitext(base)[0]
    for candidate in (name, task_id):
        if candidate and _SAFE_STEM.fullmatch(candidate):
            return candidate
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "task-" + digest
