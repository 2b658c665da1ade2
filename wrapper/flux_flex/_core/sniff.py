"""Image format from magic bytes, and the file name a download should get."""

from __future__ import annotations

import os

__all__ = ["EXTENSIONS", "sniff_format", "target_path"]

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
_SAME = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def sniff_format(head: bytes) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"webp"`` from the first bytes of a file; None if unknown."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def target_path(requested: str, fmt: str | None, task_id: str, *, is_dir: bool) -> str:
    """Where to write: ``requested`` with the extension of ``fmt``.

    A directory gets ``<task_id><ext>``; a suffix that already matches the format is kept
    (``.jpeg`` stays ``.jpeg``); another image suffix is replaced; none is appended. An
    unknown format keeps the requested name as is.
    """
    if is_dir:
        return os.path.join(requested, task_id + EXTENSIONS.get(fmt or "", ".bin"))
    if fmt is None:
        return requested
    root, ext = os.path.splitext(requested)
    if _SAME.get(ext.lower()) == fmt:
        return requested
    if ext.lower() in _SAME:
        return root + EXTENSIONS[fmt]
    return requested + EXTENSIONS[fmt]
