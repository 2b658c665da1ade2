"""A request checked and built once, ready to send: `PreparedRequest`.

`flux_flex.prepare_request` builds it (it reads input images, so it lives above the core);
everything downstream — the submission, the cost estimate, the batch engine, the journal,
the CLI — uses the one prepared request instead of checking and encoding again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from flux_flex._core import pricing

__all__ = ["PreparedRequest", "describe_params"]


@attrs.frozen
class PreparedRequest:
    """A request that passed every check, with its input images read and encoded once.

    Built by `flux_flex.prepare_request`; nothing has been sent. ``body`` is exactly the JSON
    that a submission POSTs (treat it as read-only). ``params`` are the parameters as given,
    fit to store and show (input images named, never embedded; the webhook secret masked).
    A `PreparedRequest` may be given to ``generate_many``/``generate_as_completed`` as a
    request, so a batch that was checked (or estimated) up front is not prepared again.
    """

    prompt: str
    body: dict[str, Any] = attrs.field(repr=False)
    """The JSON body of ``POST /v1/flux-2-flex`` (input images encoded)."""
    save_to: str | None = None
    """Where the image goes (its extension chose ``output_format``), or None."""
    params: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The parameters as given, described: images named, the webhook secret masked."""
    input_sizes: tuple[tuple[int, int] | None, ...] = attrs.field(default=(), repr=False)
    """Each input image's (width, height); None where it is not known (a URL)."""
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)
    """What this request adds to the secrets never shown: its webhook secret."""
    path: str = attrs.field(default="/v1/flux-2-flex", repr=False)
    """The submission's path on the API host."""

    def estimate(self) -> pricing.Estimate:
        """What the task should cost, from the published pricing (nothing is sent): input
        images by their real size; a URL's size, and the output size when left to the model,
        are assumed (see ``Estimate.assumptions``)."""
        return pricing.estimate(self.body.get("width"), self.body.get("height"), self.input_sizes)


def describe_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as the journal keeps them: images named, never embedded; no secret."""
    described: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if key == "webhook_secret":
            described[key] = "***"
        elif key == "input_images":
            images = [value] if isinstance(value, str | bytes | os.PathLike) else list(value)
            described[key] = [_describe_image(image) for image in images]
        else:
            described[key] = value
    return described


def _describe_image(image: Any) -> str:
    if isinstance(image, bytes | bytearray | memoryview):
        return f"<{len(image)} bytes>"
    if isinstance(image, os.PathLike):
        return str(os.fspath(image))
    text = str(image)
    if len(text) <= 1024 or text[:8].lower().startswith(("http://", "https://")):
        return text
    return f"<base64 or data URI, {len(text)} characters>"
