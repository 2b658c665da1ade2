"""The parameters of a submission, as typed keyword arguments."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, TypedDict

__all__ = ["ImageInput", "OutputFormatName", "SubmitParams"]

ImageInput = str | bytes | os.PathLike[str]
"""An input image: a path, raw bytes, an http(s) URL, base64 text or a ``data:`` URI."""

OutputFormatName = Literal["jpeg", "png", "webp"]


class SubmitParams(TypedDict, total=False):
    """Keyword arguments of ``submit`` (all optional; unset ones are not sent)."""

    width: int
    height: int
    seed: int
    steps: int
    guidance: float
    safety_tolerance: int
    output_format: OutputFormatName
    prompt_upsampling: bool
    input_images: Sequence[ImageInput]
    input_image_blob_path: str
    webhook_url: str
    webhook_secret: str
    user: str
