"""Image format from magic bytes, and the file name a download should get."""

from __future__ import annotations

import os

__all__ = ["EXTENSIONS", "EXTENSION_FORMATS", "format_for_path", "sniff_format", "target_path"]

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
EXTENSION_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_SAME = EXTENSION_FORMATS


def format_for_path(path: str, output_format: str | None, *, is_dir: bool = False) -> str | None:
    """The ``output_format`` to ask for when the image will be saved at ``path``.

    ``.png``, ``.jpg``/``.jpeg`` and ``.webp`` (any case) choose the format when
    ``output_format`` is None, and must agree with it otherwise; a path without an extension,
    or a directory, leaves ``output_format`` as it is (the real format's extension is added
    when saving). Raises ValueError, saying why, for a contradicting or unknown extension.
    """
    if is_dir:
        return output_format
    ext = os.path.splitext(os.path.basename(path))[1]
    if not ext:
        return output_format
    wanted = EXTENSION_FORMATS.get(ext.lower())
    if wanted is None:
        known = ", ".join(EXTENSION_FORMATS)
        raise ValueError(
            f"the extension {ext!r} is not an image format the API makes: use one of {known} "
            "(or no extension)"
        )
    if output_format is None:
        return wanted
    # An output_format the API does not know is the body check's to report, not this one's.
    if output_format in EXTENSIONS and output_format != wanted:
        raise ValueError(
            f"the extension {ext!r} means output_format={wanted!r}, but output_format="
            f"{output_format!r} was asked for: make them agree (or leave output_format out)"
        )
    return output_format


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
