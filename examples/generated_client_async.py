"""Submit, poll and save an image with the generated client's async calls (`flux_flex_api`).

python examples/generated_client_async.py          # real API: needs BFL_API_KEY
python examples/generated_client_async.py --mock   # offline, on the built-in fake
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
from _offline import offline_if_requested
from flux_flex_api import AuthenticatedClient
from flux_flex_api.api.account import get_credits
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import (
    AsyncResponse,
    CreditsResponse,
    Flux2FlexInputs,
    OutputFormat,
    ReadyResult,
    ResultResponse,
    ResultWithCostResponse,
)

FINAL = {"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"}


async def main() -> None:
    client = AuthenticatedClient(
        base_url=os.environ.get("BFL_BASE_URL", "https://api.bfl.ai"),
        token=os.environ["BFL_API_KEY"],  # sent as the x-key header
    )
    async with client:
        balance = await get_credits.asyncio(client=client)
        if isinstance(balance, CreditsResponse):
            print(f"balance: {balance.credits_} credits")  # `credits_`: a Python builtin

        body = Flux2FlexInputs(prompt="a snowy owl on a fence post", output_format=OutputFormat.PNG)
        task = await generate_flux_2_flex.asyncio(client=client, body=body)
        if not isinstance(task, AsyncResponse):
            raise SystemExit(f"not submitted: {task}")
        print(f"submitted {task.id}")

        # One poll per call; the schedule is yours. (See the sync example for polling_url
        # on a regional host.)
        while True:
            response = await get_result.asyncio_detailed(client=client, id=task.id)
            state = response.parsed
            if not isinstance(state, ResultResponse | ResultWithCostResponse):
                raise SystemExit(f"poll failed ({response.status_code}): {response.content!r}")
            print(f"  {state.status}")
            if str(state.status) in FINAL:
                break
            await asyncio.sleep(0.5)

        if str(state.status) != "Ready" or not isinstance(state.result, dict):
            raise SystemExit(f"task {task.id} ended {state.status}")
        ready = ReadyResult.from_dict(state.result)
        async with httpx.AsyncClient(timeout=60.0) as download:  # no key for the sample host
            image = await download.get(ready.sample)
        image.raise_for_status()
        await asyncio.to_thread(Path("out/generated-owl.png").write_bytes, image.content)
        print(f"saved out/generated-owl.png (seed {ready.seed})")


if __name__ == "__main__":
    Path("out").mkdir(exist_ok=True)  # the examples save their images in ./out/
    with offline_if_requested(task_seconds=0.5):
        asyncio.run(main())
