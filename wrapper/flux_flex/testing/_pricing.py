"""Megapixels and credits of a FLUX.2 [FLEX] task, as the fake reports them.

FACTS.md: 5 credits for the first output megapixel, 5 for each further output megapixel,
and 5 per input megapixel. The vendor does not say how partial megapixels are rounded, so
the fake decides, and documents it here:

* a megapixel is 1024 × 1024 pixels (the vendor's examples call a 1024² image 1 MP);
* ``input_mp`` / ``output_mp`` are reported rounded to 2 decimals;
* billing counts every *started* megapixel of the exact pixel count (ceil), with at least
  one output megapixel; inputs are summed before rounding up.

So 1024×768 costs 5 credits, 1024×1024 costs 5, 1025×1024 costs 10, 2048×2048 costs 20, and
a 1 MP edit of a 1 MP input image costs 10.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["CREDITS_PER_MP", "PIXELS_PER_MP", "credits", "megapixels"]

PIXELS_PER_MP = 1024 * 1024
CREDITS_PER_MP = 5
# Dimensions are unbounded in the spec; cap the arithmetic so a silly size stays a finite
# JSON number (int / int overflows float past ~1e308).
_MAX_PIXELS = 10**15


def megapixels(width: int, height: int) -> float:
    """Exact megapixels of a ``width`` × ``height`` image (capped for absurd sizes)."""
    return min(width * height, _MAX_PIXELS) / PIXELS_PER_MP


def credits(output_mp: float, input_mps: Iterable[float] = ()) -> int:
    """Credits for one task: every started megapixel costs 5, at least one output MP."""
    output_units = max(1, math.ceil(round(output_mp, 6)))
    input_total = sum(input_mps)
    input_units = math.ceil(round(input_total, 6)) if input_total > 0 else 0
    return CREDITS_PER_MP * (output_units + input_units)
