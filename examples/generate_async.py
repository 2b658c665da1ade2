"""Generate images with the async client, two tasks at once.

python examples/generate_async.py [--mock]
"""

from __future__ import annotations

import asyncio

from _offline import offline_if_requested
from flux_flex import AsyncFluxFlex


async def main() -> None:
    async with AsyncFluxFlex() as client:
        fox, owl = await asyncio.gather(
            client.submit("a red fox in fresh snow", output_format="png"),
            client.submit("a snowy owl on a fence post", output_format="png"),
        )
        print(f"submitted {fox.id} and {owl.id}")
        for job, name in ((fox, "fox"), (owl, "owl")):
            result = await job.wait(timeout=300)
            path = await result.save(f"out/{name}.png")
            print(f"saved {path} (seed {result.seed})")


if __name__ == "__main__":
    with offline_if_requested():
        asyncio.run(main())
