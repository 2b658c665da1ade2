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

When width/height are left to the model, the size it picks is not documented: `output_size`
is the one rule both the estimates and the fake follow (docs/api-facts.md#size-left-to-the-model).
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
    "format_cost",
    "format_credits",
    "megapixels",
    "output_size",
    "reported_mp",
]

CREDITS_PER_MP = 5.0
USD_PER_CREDIT = 0.01
DEFAULT_OUTPUT_SIZE = (1024, 1024)
"""The size the model is assumed to pick when width/height are left to it and no input image
gives one. Our assumption: neither the endpoint page nor the vendor's document states it
(docs/api-facts.md#size-left-to-the-model). 1024×1024 is the vendor's own pricing example
(1.05 MP, 5.24 credits). Estimates assume it and the fake renders it (``FakeBFL``'s
``default_size``), so an estimate of such a request is what the fake bills for it."""
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


def format_credits(amount: float) -> str:
    """Credits as people write them, the one format of the library and the CLI: at most 2
    decimals, thousands grouped, never an exponent (``1,000,000``, ``10.37``, ``0``)."""
    text = f"{amount:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_cost(amount: float) -> str:
    """A cost in credits and in US dollars to the cent: ``"10.37 credits (0.10 USD)"``."""
    return f"{format_credits(amount)} credits ({amount * USD_PER_CREDIT:,.2f} USD)"


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
        """The estimate in US dollars, unrounded (``str(estimate)`` shows it to the cent)."""
        return round(self.credits * USD_PER_CREDIT, 4)

    def __str__(self) -> str:
        """``"10.37 credits (0.10 USD)"``, as the CLI shows costs (`format_cost`)."""
        return format_cost(self.credits)

    @property
    def exact(self) -> bool:
        """True when every size was known (the estimate follows the pricing rule exactly)."""
        return not self.assumptions


def output_size(
    width: int | None,
    height: int | None,
    input_sizes: Sequence[tuple[int, int] | None] = (),
    default: tuple[int, int] = DEFAULT_OUTPUT_SIZE,
) -> tuple[int, int, str | None]:
    """(width, height) of the output, and the assumption made (None when both were given).

    A width or height that is None or 0 is left to the model: for an edit it takes the
    first input image's (the API's documented rule), otherwise, or when that image's size
    cannot be read (a URL), ``default`` (`DEFAULT_OUTPUT_SIZE`, our assumption). Each side
    is filled on its own, so ``width=512`` alone gives 512 × the assumed height.
    """
    if width and height:
        return width, height, None
    first = input_sizes[0] if input_sizes else None
    if first is not None:
        out_w, out_h = width or first[0], height or first[1]
        return out_w, out_h, f"output size taken from the first input image ({out_w}x{out_h})"
    out_w, out_h = width or default[0], height or default[1]
    return out_w, out_h, f"output size left to the model, assumed {out_w}x{out_h}"


def estimate(
    width: int | None,
    height: int | None,
    input_sizes: Sequence[tuple[int, int] | None] = (),
) -> Estimate:
    """The estimated cost of a task of ``width`` × ``height`` with these input images.

    ``input_sizes`` holds each input image's (width, height), or None where it cannot be
    read (counted as `UNKNOWN_INPUT_MP`). Width/height None or 0 let the model choose
    (`output_size`): the first input image's size for an edit, `DEFAULT_OUTPUT_SIZE`
    otherwise.
    """
    out_w, out_h, assumed = output_size(width, height, input_sizes)
    assumptions = [assumed] if assumed else []
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
