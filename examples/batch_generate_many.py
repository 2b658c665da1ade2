"""Generate many images with ``generate_many``: at most 24 tasks in flight, one outcome each.

python examples/batch_generate_many.py [--mock]
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from _offline import offline_if_requested
from flux_flex import AsyncFluxFlex, AsyncResult, FluxFlexError

REQUESTS: list[str | dict[str, Any]] = [
    "a red fox in fresh snow",  # a plain prompt
    {"prompt": "a snowy owl at night", "seed": 7, "output_format": "png"},  # or submit kwargs
    {"prompt": "a frozen lake at dawn", "width": 1024, "height": 576, "save_to": "out/lake.png"},
]


async def main() -> int:
    def on_result(index: int, outcome: AsyncResult | BaseException) -> None:
        print(f"  request {index} finished")  # called as each one ends

    async with AsyncFluxFlex() as client:
        outcomes = await client.generate_many(REQUESTS, concurrency=24, on_result=on_result)

    failed = 0
    for request, outcome in zip(REQUESTS, outcomes, strict=True):
        if isinstance(outcome, FluxFlexError):  # one failure never cancels the others
            failed += 1
            print(f"failed: {request!r}: {outcome}")
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            print(f"ready: {outcome.id} seed={outcome.seed} url={outcome.url}")
    return 1 if failed else 0


if __name__ == "__main__":
    with offline_if_requested():
        sys.exit(asyncio.run(main()))
