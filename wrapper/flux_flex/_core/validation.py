"""Checking a submission against the spec before anything is sent.

The rules come from the request body's JSON Schema in the packaged spec
(`flux_flex.spec.request_body_schema`), interpreted by `flux_flex._core.schema`; only the
checks the schema cannot express (image count, webhook URL scheme, text JSON cannot carry
to the API) are added here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from flux_flex._core.schema import check, vet
from flux_flex.errors import FieldError, RequestValidationError
from flux_flex.spec import request_body_schema

__all__ = [
    "IMAGE_FIELDS",
    "MAX_INPUT_IMAGES",
    "body_errors",
    "raise_if_invalid",
    "text_errors",
]

IMAGE_FIELDS = ("input_image", *(f"input_image_{n}" for n in range(2, 9)))
MAX_INPUT_IMAGES = len(IMAGE_FIELDS)


@cache
def _schema() -> dict[str, Any]:
    schema = request_body_schema()
    vet(schema)  # once: every check of a body may then skip that test
    return schema


def body_errors(body: Mapping[str, Any]) -> list[FieldError]:
    """Every rule of the spec (plus the client's own) that ``body`` breaks."""
    errors = text_errors(body)
    errors += [FieldError(v.path, v.rule, v.message) for v in check(body, _schema(), vetted=True)]
    url = body.get("webhook_url")
    if isinstance(url, str) and not any(e.field == "webhook_url" for e in errors):
        # Reached only once the spec's `format: uri` (RFC 3986) accepted the URL, which
        # urlsplit never refuses (no unbalanced brackets, no non-ASCII host).
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            errors.append(
                FieldError(
                    "webhook_url",
                    "scheme",
                    f"webhook_url must be an http(s) URL (https in production), not {url!r}",
                )
            )
        elif not parts.hostname:
            errors.append(FieldError("webhook_url", "format", f"webhook_url has no host: {url!r}"))
    return errors


def text_errors(value: Any, field: str = "") -> list[FieldError]:
    """A `FieldError` for each string in ``value`` (a body, at any depth) that the API cannot
    take: a lone surrogate (UTF-8 cannot encode it; ``surrogateescape`` makes them from
    bytes read with the wrong encoding) or a NUL (nothing says the API accepts one)."""
    if isinstance(value, str):
        problem = _bad_text(value)
        if problem is None:
            return []
        rule, message = problem
        return [FieldError(field, rule, f"{field} {message}")]
    found: list[FieldError] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found += text_errors(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += text_errors(item, f"{field}[{index}]")
    return found


def _bad_text(text: str) -> tuple[str, str] | None:
    """(rule, message after the field's name) for text the API cannot take, else None."""
    if "\x00" in text:
        at = text.index("\x00")
        return "nul", (
            f"holds a NUL character (at position {at}), which is refused: nothing says the "
            "API accepts one. Remove it"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return "encoding", (
            f"holds a lone surrogate ({text[exc.start]!a} at position {exc.start}), which "
            "UTF-8 cannot encode, so the API cannot receive it. It usually comes from text "
            "read with the wrong encoding (a file or argument that is not UTF-8): re-encode "
            "it as UTF-8"
        )
    return None


def image_count_error(count: int) -> FieldError | None:
    """The error for more input images than the API takes; None when within the limit."""
    if count <= MAX_INPUT_IMAGES:
        return None
    return FieldError(
        "input_images",
        "maxItems",
        f"input_images takes at most {MAX_INPUT_IMAGES} images, not {count}",
    )


def raise_if_invalid(errors: list[FieldError]) -> None:
    """Raise `RequestValidationError` listing ``errors`` (nothing was sent)."""
    if errors:
        listed = "; ".join(e.message for e in errors)
        raise RequestValidationError(
            f"Invalid request, nothing was sent: {listed}. Fix these fields and try again.",
            errors=errors,
        )
