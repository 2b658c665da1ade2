"""Schema 1 → 2: today's names from yesterday's entries.

Schema 1 named a request by its body, its destination path and its occurrence; schema 2 by
its parameters and its name (the destination's file name) or occurrence, so that workers
saving one batch into folders of their own share its entries. An entry is renamed only when
its body can be rebuilt *exactly* from the prompt and parameters it stored: the rebuilt body
must reproduce the stored schema-1 name (for some occurrence). Where it cannot — input images
given as bytes or base64 (stored as "<N bytes>"), a local image file since moved or changed,
parameters this version no longer accepts — the entry keeps its old name: it stays readable
and listed, but a re-run of that request does not find it and submits it again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from flux_flex._core.journal import fingerprint, fingerprint_v1, parameters_digest

__all__ = ["MAX_OCCURRENCE", "name_from_destination", "renamed_v1"]

logger = logging.getLogger("flux_flex")

MAX_OCCURRENCE = 64
"""Identical requests of one batch tried when matching a schema-1 name."""


def name_from_destination(save_to: str | os.PathLike[str] | None) -> str | None:
    """A batch request's name: the file name it is saved as (None: no destination)."""
    if save_to is None:
        return None
    return os.path.basename(os.path.normpath(os.fspath(save_to))) or None


def renamed_v1(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """The schema-2 name and parameters digest of a schema-1 entry, or None when its body
    cannot be rebuilt exactly (it then keeps its old name)."""
    body = _rebuilt_body(row)
    if body is None:
        return None
    old, save_to = row["fingerprint"], row["save_to"]
    for occurrence in range(MAX_OCCURRENCE):
        if fingerprint_v1(body, save_to, occurrence) == old:
            return fingerprint(body, name_from_destination(save_to), occurrence), (
                parameters_digest(body)
            )
    return None


def _rebuilt_body(row: Mapping[str, Any]) -> dict[str, Any] | None:
    # The body as it was sent, built as every request is built (reads local input images
    # again; nothing is sent).
    from flux_flex._requests import prepare

    try:
        params = json.loads(row["params"] or "{}")
    except ValueError:
        return None
    if not isinstance(params, dict):
        return None
    images = params.get("input_images")
    if images is not None:
        listed = images if isinstance(images, list) else [images]
        if any(not isinstance(image, str) or image.startswith("<") for image in listed):
            return None  # given as bytes or inline data: only a description was kept
    try:
        return dict(prepare(row["prompt"], params, row["save_to"]).body)
    except Exception as exc:  # a parameter or an image that no longer checks out
        logger.info("journal migration: entry %s keeps its name (%s)", row["fingerprint"], exc)
        return None
