"""Input images (paths, bytes, URLs, base64, data URIs) → the strings the API takes.

Data URIs are sent as their plain base64 payload (the ``data:image/...;base64,`` prefix is
stripped): the API documents "base64 encoded image or URL", not data URIs.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence

from flux_flex._core.imagesize import image_size
from flux_flex.errors import FieldError
from flux_flex.params import ImageInput

__all__ = ["Encoded", "encode_images"]

Encoded = tuple[str, tuple[int, int] | None]
"""An image as the API takes it (URL or base64), and its (width, height) when known."""
# Enough of an image to find its size: JPEG's start-of-frame may follow ~64 KiB of EXIF.
_HEAD = 64 * 1024

_BASE64 = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}$")
_DATA_URI = re.compile(r"^data:[^,]*;base64,(?P<data>.*)$", re.DOTALL | re.IGNORECASE)


def _field(index: int) -> str:
    return f"input_images[{index}]"


def _read(path: str | os.PathLike[str], index: int) -> tuple[Encoded | None, FieldError | None]:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, FieldError(
            _field(index),
            "readable",
            f"{_field(index)}: cannot read file {os.fspath(path)!r}: {reason}",
        )
    if not data:
        return None, FieldError(
            _field(index), "readable", f"{_field(index)}: file {os.fspath(path)!r} is empty"
        )
    return _of_bytes(data), None


def _of_bytes(data: bytes) -> Encoded:
    return base64.b64encode(data).decode("ascii"), image_size(data[:_HEAD])


def _of_base64(text: str) -> Encoded:
    head = text[: _HEAD // 3 * 4]  # whole base64 quanta: decodes to the first _HEAD bytes
    try:
        size = image_size(base64.b64decode(head))
    except (binascii.Error, ValueError):
        size = None
    return text, size


def _looks_base64(text: str) -> bool:
    if len(text) < 16 or not _BASE64.match(text):
        return False
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def encode_one(image: ImageInput, index: int) -> tuple[Encoded | None, FieldError | None]:
    """One image as the API takes it (with its size when known), or the `FieldError`
    saying why it cannot be."""
    if isinstance(image, bytes | bytearray | memoryview):
        if not image:
            return None, FieldError(_field(index), "readable", f"{_field(index)}: empty bytes")
        return _of_bytes(bytes(image)), None
    if isinstance(image, os.PathLike):
        return _read(image, index)
    if not isinstance(image, str):
        return None, FieldError(
            _field(index),
            "type",
            f"{_field(index)}: expected a path, bytes, URL, base64 or "
            f"data URI, not {type(image).__name__}",
        )
    lowered = image[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return (image, None), None
    match = _DATA_URI.match(image)
    if match:
        data = match.group("data")
        if not _looks_base64(data):
            return None, FieldError(
                _field(index),
                "format",
                f"{_field(index)}: the data URI does not carry valid base64",
            )
        return _of_base64("".join(data.split())), None
    if len(image) < 4096 and os.path.exists(image):
        return _read(image, index)
    if _looks_base64(image):
        return _of_base64("".join(image.split())), None
    return None, FieldError(
        _field(index),
        "readable",
        f"{_field(index)}: {image[:80]!r} is not a readable file, an "
        "http(s) URL, base64 or a data URI",
    )


def encode_images(images: Sequence[ImageInput]) -> tuple[list[Encoded], list[FieldError]]:
    """All images encoded (with their sizes), in order, and the errors of those that could
    not be."""
    encoded: list[Encoded] = []
    errors: list[FieldError] = []
    for index, image in enumerate(images):
        value, error = encode_one(image, index)
        if error is not None:
            errors.append(error)
        elif value is not None:
            encoded.append(value)
    return encoded, errors
