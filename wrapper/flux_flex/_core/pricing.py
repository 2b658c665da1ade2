"""What a FLUX.2 [FLEX] task costs, from its size: the one pricing rule of the project.

The client's estimates (`estimate_cost`, `flux-flex batch --dry-run`) and the offline fake's
billing both use this module. The rule (docs/api-facts.md, from the vendor's pricing page
and its worked examples):

* a megapixel (MP) is width × height / 1,000,000 pixels; the API reports ``input_mp`` and
  ``output_mp`` rounded to 2 decimals (1024×1024 is 1.05 MP);
* 5 credits for the first output megapixel, 5 for each further one, and 5 per input
  megapixel, computed linearly on the exact pixel count, as the vendor's examples do
  (first MP price + (MP − 1) × per-MP price + input MP × per-MP price): 1024×1024 costs
  5.24 credits. Below 1 MP the same formula gives less than 5 credits; the vendor does not
  say whether a floor applies, so none is assumed;
* 1 credit is 0.01 USD.

The ``cost`` the API answers is the authority; an estimate is only a guide.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = [
    "CREDITS_PER_MP",
    "DEFAULT_OUTPUT_SIZE",
    "UNKNOWN_INPUT_MP",
    "USD_PER_CREDIT",
    "Estimate",
    "credits",
    "estimate",
    "megapixels",
    "reported_mp",
]

CREDITS_PER_MP = 5.0
USD_PER_CREDIT = 0.01
DEFAULT_OUTPUT_SIZE = (1024, 1024)
"""Size assumed for an estimate when width/height are left to the model (no input image)."""
UNKNOWN_INPUT_MP = 1.0
"""Megapixels assumed for an input image whose size cannot be read (a URL, say)."""
# Dimensions are unbounded in the spec; cap the arithmetic so a silly size stays finite.
_MAX_PIXELS = 10**15


def megapixels(width: int, height: int) -> float:
    """Exact megapixels of a ``width`` × ``height`` image (capped for absurd sizes)."""
    return min(max(width, 0) * max(height, 0), _MAX_PIXELS) / 1_000_000


def reported_mp(width: int, height: int) -> float:
    """Megapixels as the API reports them (``input_mp``/``output_mp``): 2 decimals."""
    return round(megapixels(width, height), 2)


def credits(output_mp: float, input_mps: Sequence[float] = ()) -> float:
    """Credits for one task from its exact output and input megapixels (2 decimals)."""
    return round(CREDITS_PER_MP * (output_mp + sum(input_mps)), 2)


@attrs.frozen
class Estimate:
    """An estimated cost: ``credits`` (and ``usd``), the megapixels it was computed from,
    and the ``assumptions`` made where a size was not known (empty when exact)."""

    credits: float
    output_mp: float
    input_mp: float
    assumptions: tuple[str, ...] = ()

    @property
    def usd(self) -> float:
        """The estimate in US dollars."""
        return round(self.credits * USD_PER_CREDIT, 4)

    @property
    def exact(self) -> bool:
        """True when every size was known (the estimate follows the pricing rule exactly)."""
        return not self.assumptions


def estimate(
    width: int | None,
    height: int | None,
    input_sizes: Sequence[tuple[int, int] | None] = (),
) -> Estimate:
    """The estimated cost of a task of ``width`` × ``height`` with these input images.

    ``input_sizes`` holds each input image's (width, height), or None where it cannot be
    read (counted as `UNKNOWN_INPUT_MP`). Width/height None or 0 let the model choose: the
    first input image's size is assumed for an edit, `DEFAULT_OUTPUT_SIZE` otherwise.
    """
    assumptions: list[str] = []
    if width and height:
        out_w, out_h = width, height
    else:
        first = input_sizes[0] if input_sizes else None
        if first is not None:
            out_w, out_h = first
            assumptions.append(f"output size taken from the first input image ({out_w}x{out_h})")
        else:
            out_w, out_h = DEFAULT_OUTPUT_SIZE
            assumptions.append(f"output size left to the model, assumed {out_w}x{out_h}")
    input_mps: list[float] = []
    unknown = 0
    for size in input_sizes:
        if size is None:
            unknown += 1
            input_mps.append(UNKNOWN_INPUT_MP)
        else:
            input_mps.append(megapixels(*size))
    if unknown:
        assumptions.append(
            f"{unknown} input image(s) of unknown size counted as {UNKNOWN_INPUT_MP:g} MP each"
        )
    output_mp = megapixels(out_w, out_h)
    return Estimate(
        credits=credits(output_mp, input_mps),
        output_mp=round(output_mp, 2),
        input_mp=round(float(sum(input_mps)), 2),
        assumptions=tuple(assumptions),
    )
