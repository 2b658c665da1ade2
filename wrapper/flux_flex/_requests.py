"""Checking and building a request, sending nothing: `prepare_request`.

No key and no client are needed: checking a request is the spec's business, not the
account's. The clients, the batch engine and the CLI all prepare through `prepare`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from flux_flex import _inputs
from flux_flex._core.body import body_fields, submit_request_kwargs
from flux_flex._core.redact import mask_error
from flux_flex._core.request import PreparedRequest, describe_params
from flux_flex._core.sniff import format_for_path
from flux_flex._core.validation import body_errors, image_count_error, raise_if_invalid
from flux_flex.errors import FieldError, RequestValidationError
from flux_flex.params import SubmitParams

__all__ = ["SUBMIT_KEYS", "prepare", "prepare_request", "target_format"]

SUBMIT_KEYS = frozenset(SubmitParams.__annotations__)


def prepare_request(
    prompt: str, *, save_to: str | os.PathLike[str] | None = None, **params: Any
) -> PreparedRequest:
    """Check a request exactly as ``generate`` would and build it, sending nothing.

    Raises one `RequestValidationError` listing every refused field: the body against the
    spec, input images (read once, here), ``save_to``'s extension, and unknown parameters
    (``sead`` → "did you mean 'seed'?"). No API key or client is needed. ``save_to``'s
    extension chooses ``output_format`` when that is not given. The result's ``body`` is
    what a submission POSTs and ``estimate()`` its expected cost; give it to
    ``generate_many`` as a request to send it without preparing it again.
    """
    return prepare(prompt, params, save_to)


def prepare(
    prompt: Any,
    params: Mapping[str, Any],
    save_to: str | os.PathLike[str] | None = None,
    *,
    call: str | None = None,
) -> PreparedRequest:
    """`prepare_request` for callers holding the parameters as a mapping.

    With ``call`` (a method's name), an unknown parameter is a `TypeError` as for any
    Python call; without, it is one more refused field (a request given as data, say a
    batch item, has typos rather than wrong calls). Secrets are masked in every error.
    """
    try:
        return _prepare(prompt, params, save_to, call)
    except Exception as error:  # a refused webhook_url may spell out the secret
        mask_error(error, _secrets_of(params))
        raise


def _secrets_of(params: Mapping[str, Any]) -> tuple[str, ...]:
    secret = params.get("webhook_secret")
    return (secret,) if isinstance(secret, str) and secret else ()


def _prepare(
    prompt: Any,
    params: Mapping[str, Any],
    save_to: str | os.PathLike[str] | None,
    call: str | None,
) -> PreparedRequest:
    unknown = [name for name in params if name not in SUBMIT_KEYS]
    if unknown and call is not None:
        raise TypeError(f"{call}() got unexpected keyword arguments: {sorted(unknown)}")
    problems = [_unknown_parameter(name) for name in unknown]
    known = {name: value for name, value in params.items() if name in SUBMIT_KEYS}
    target: str | None = None
    target_problems: list[FieldError] = []  # listed after the body's, as they come last
    if save_to is not None:
        target = os.fspath(save_to)
        try:
            chosen = target_format(target, known.get("output_format"), field="save_to")
        except RequestValidationError as error:
            target_problems = error.errors
        else:
            if chosen is not None:
                known["output_format"] = chosen
    images = known.get("input_images") or ()
    if isinstance(images, str | bytes | os.PathLike) or not isinstance(images, Sequence):
        images = [images]  # one image given where a list was expected
    encoded: list[_inputs.Encoded] = []
    count_error = image_count_error(len(images))
    if count_error is not None:
        problems.append(count_error)
    else:
        encoded, image_errors = _inputs.encode_images(images)
        problems.extend(image_errors)
    fields = body_fields(prompt, known, [image for image, _ in encoded])
    problems.extend(body_errors(fields))
    raise_if_invalid(problems + target_problems)
    kwargs = submit_request_kwargs(fields)
    return PreparedRequest(
        prompt=str(prompt),
        body=kwargs["json"],
        save_to=target,
        params=describe_params(params),
        input_sizes=_sizes(encoded, known),
        secrets=_secrets_of(params),
        path=kwargs["url"],
    )


def _sizes(
    encoded: Sequence[_inputs.Encoded], params: Mapping[str, Any]
) -> tuple[tuple[int, int] | None, ...]:
    sizes = [size for _, size in encoded]
    if params.get("input_image_blob_path"):
        sizes.append(None)  # an image the API fetches itself: its size is not known here
    return tuple(sizes)


def target_format(
    path: str | os.PathLike[str], output_format: str | None, *, field: str
) -> str | None:
    """The output format that saving to ``path`` means (`format_for_path`), or
    `RequestValidationError` on ``field`` for a contradicting or unknown extension."""
    target = os.fspath(path)
    try:
        return format_for_path(target, output_format, is_dir=os.path.isdir(target))
    except ValueError as exc:
        raise_if_invalid([FieldError(field, "extension", f"{field}: {exc}")])
        raise  # pragma: no cover - raise_if_invalid raised


def _unknown_parameter(name: str) -> FieldError:
    import difflib  # only on this rare path: it is not free to import

    close = difflib.get_close_matches(name, sorted(SUBMIT_KEYS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return FieldError(name, "unknown", f"{name} is not a parameter of a request{hint}")
