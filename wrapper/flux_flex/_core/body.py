"""The request body from the user's keyword arguments, built with the generated model.

The generated package is imported on the first submission, not with this module, so that
importing flux-flex does not load it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from flux_flex._core.validation import IMAGE_FIELDS

__all__ = ["SCALAR_FIELDS", "body_fields", "submit_request_kwargs"]

SCALAR_FIELDS = (
    "width",
    "height",
    "seed",
    "steps",
    "guidance",
    "safety_tolerance",
    "output_format",
    "prompt_upsampling",
    "input_image_blob_path",
    "webhook_url",
    "webhook_secret",
    "user",
)


_MODEL_FIELDS = frozenset((*SCALAR_FIELDS, *IMAGE_FIELDS))


@functools.cache
def _all_unset() -> dict[str, Any]:
    from flux_flex_api.types import UNSET

    return dict.fromkeys((*SCALAR_FIELDS, *IMAGE_FIELDS), UNSET)


def body_fields(prompt: Any, params: Mapping[str, Any], images: Sequence[str]) -> dict[str, Any]:
    """The fields to send: only what the user set (None and width/height 0 are left out,
    since 0 means "the model chooses"), images as ``input_image`` … ``input_image_8``."""
    fields: dict[str, Any] = {"prompt": prompt}
    for name in SCALAR_FIELDS:
        value = params.get(name)
        if value is None or (name in ("width", "height") and value == 0 and value is not False):
            continue
        fields[name] = value
    for name, image in zip(IMAGE_FIELDS, images, strict=False):
        fields[name] = image
    return fields


def submit_request_kwargs(fields: Mapping[str, Any]) -> dict[str, Any]:
    """method/url/json for ``POST /v1/flux-2-flex``, from `generate_flux_2_flex` itself.

    Every field the user did not set is `UNSET`, so the model's defaults are never sent.
    """
    from flux_flex_api.api.generation import generate_flux_2_flex
    from flux_flex_api.models.flux_2_flex_inputs import Flux2FlexInputs
    from flux_flex_api.models.output_format import OutputFormat

    values = _all_unset() | {name: v for name, v in fields.items() if name in _MODEL_FIELDS}
    if isinstance(values["output_format"], str):
        values["output_format"] = OutputFormat(values["output_format"])
    inputs = Flux2FlexInputs(prompt=fields["prompt"], **values)
    return generate_flux_2_flex._get_kwargs(body=inputs)
