"""What commands print on stdout: a short human answer, or exactly one JSON object."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from flux_flex._core import pricing

__all__ = ["emit_json", "format_cost", "number", "print_fields"]


def emit_json(payload: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """Print ``payload`` as one JSON object on one line (stdout by default)."""
    print(json.dumps(payload, default=str, sort_keys=False), file=stream or sys.stdout, flush=True)


def number(credits: float) -> str:
    """A number of credits as people write it (`flux_flex._core.pricing.format_credits`)."""
    return pricing.format_credits(credits)


def format_cost(credits: float | None) -> str | None:
    """``"5.24 credits (0.05 USD)"`` (`flux_flex._core.pricing.format_cost`); None when the
    API did not say."""
    if credits is None:
        return None
    return pricing.format_cost(credits)


def print_fields(
    headline: str, fields: Sequence[tuple[str, object]], stream: IO[str] | None = None
) -> None:
    """A headline, then ``label  value`` lines for every value that is known."""
    out = stream or sys.stdout
    print(headline, file=out)
    known = [(label, value) for label, value in fields if value is not None and value != ""]
    width = max((len(label) for label, _ in known), default=0)
    for label, value in known:
        print(f"  {label:<{width}}  {value}", file=out)
    out.flush()
