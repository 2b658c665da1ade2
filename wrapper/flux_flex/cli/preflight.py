"""What a batch is checked against before anything is sent (nothing here touches the network).

Every line is checked with the client's own validation (`ClientCore.prepare_submission`,
the same rules `submit` applies), and every problem is reported in the user's words:
``line 3: width: must be >= 64 or 0, not 10``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flux_flex.cli.prompts_file import BatchItem

if TYPE_CHECKING:
    from flux_flex._shared import ClientCore
    from flux_flex.errors import FieldError

__all__ = ["check_defaults", "request_problems", "validator", "written_field"]

_IMAGE_FIELD = re.compile(r"^input_image(?:_(\d+))?$")
_LIST_FIELD = re.compile(r"^input_images\[(\d+)\]$")


def validator() -> ClientCore:
    """A client core that only checks requests: checking needs neither a key nor a host,
    so placeholders stand in for both (it never sends anything)."""
    from flux_flex._shared import ClientCore

    return ClientCore(
        "placeholder-key-never-sent",
        "http://127.0.0.1",
        None,
        timeout=30.0,
        max_retries=None,
        retry=None,
        poll_schedule=None,
    )


def written_field(field: str, written: Mapping[str, str]) -> str:
    """How the user wrote the refused API field ``field`` (a JSON key, or an option)."""
    index: int | None = None
    if match := _IMAGE_FIELD.match(field):  # the body's input_image, input_image_2...
        index = int(match.group(1)) - 1 if match.group(1) else 0
    elif match := _LIST_FIELD.match(field):  # input_images[1], as the encoder names them
        index = int(match.group(1))
    key = "input_images" if index is not None or field == "input_images" else field
    name = written.get(key, key)
    if index is not None and not name.startswith("--"):
        return f"{name}[{index}]"
    return name


def _problem(item: BatchItem, error: FieldError) -> str:
    reason = re.sub(rf"^{re.escape(error.field)}:?\s+", "", error.message)
    return f"line {item.line}: {written_field(error.field, item.written)}: {reason}"


def request_problems(items: Sequence[BatchItem], core: ClientCore | None = None) -> list[str]:
    """Every rule any item breaks, one ``line N: key: reason`` per refused field."""
    from flux_flex.errors import RequestValidationError

    core = core or validator()
    problems: list[str] = []
    for item in items:
        try:
            core.prepare_submission(item.prompt, item.params)
        except RequestValidationError as exc:
            problems.extend(_problem(item, error) for error in exc.errors)
    return problems


def check_defaults(defaults: Mapping[str, Any], core: ClientCore | None = None) -> None:
    """Refuse bad option values once, before the lines (they apply to every line).

    Raises `RequestValidationError` naming the API fields (the CLI names the options).
    """
    (core or validator()).prepare_submission("option check", defaults)
