"""Submit, poll and save an image with the generated client alone (`flux_flex_api`).

No polling policy, retries or checks of the wrapper: every call is one HTTP request.

python examples/generated_client_sync.py          # real API: needs BFL_API_KEY
python examples/generated_client_sync.py --mock   # offline, on the built-in fake
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from _offline import offline_if_requested
from flux_flex_api import AuthenticatedClient
from flux_flex_api.api.generation import generate_flux_2_flex
from flux_flex_api.api.results import get_result
from flux_flex_api.models import (
    AsyncResponse,
    Flux2FlexInputs,
    OutputFormat,
    ReadyResult,
    ResultResponse,
    ResultWithCostResponse,
    StatusResponse,
)

# A wait ends on these; any other status (Pending, Reasoning, Generating, or one the API
# adds later, which parses as StatusResponse with .is_known False) means "still running".
FINAL = {"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"}


def regional_client(polling_url: str, base_url: str, key: str) -> AuthenticatedClient | None:
    """A client for the host ``polling_url`` names when it is not ``base_url``'s (the API
    may answer a regional host); the key goes only to the vendor's hosts (https, bfl.ai)."""
    url, base = httpx.URL(polling_url), httpx.URL(base_url)
    if (url.scheme, url.netloc) == (base.scheme, base.netloc):
        return None
    if url.scheme != "https" or not url.host.endswith(".bfl.ai"):
        raise SystemExit(f"polling_url names {url.host}: not sending the key there")
    return AuthenticatedClient(base_url=f"https://{url.netloc.decode()}", token=key)


def main() -> None:
    base_url = os.environ.get("BFL_BASE_URL", "https://api.bfl.ai")
    key = os.environ["BFL_API_KEY"]
    client = AuthenticatedClient(
        base_url=base_url,
        token=key,  # sent as the x-key header
        timeout=httpx.Timeout(30.0),
        raise_on_unexpected_status=True,  # a status the spec does not list raises
    )
    with ExitStack() as stack:
        stack.enter_context(client)
        # Submit (billed). *_detailed gives the HTTP status and headers too.
        body = Flux2FlexInputs(
            prompt="a red fox in fresh snow", width=1024, height=768, output_format=OutputFormat.PNG
        )
        submitted = generate_flux_2_flex.sync_detailed(client=client, body=body)
        task = submitted.parsed
        if not isinstance(task, AsyncResponse):  # ErrorResponse, HTTPValidationError, ...
            raise SystemExit(f"not submitted ({submitted.status_code}): {task}")
        print(f"submitted {task.id} ({submitted.status_code}), cost {task.cost} credits")

        # Poll (free) where polling_url points, until a final status.
        regional = regional_client(task.polling_url, base_url, key)
        poller = stack.enter_context(regional) if regional else client
        while True:
            state = get_result.sync(client=poller, id=task.id)
            if not isinstance(state, ResultResponse | ResultWithCostResponse):
                raise SystemExit(f"poll failed: {state}")
            print(f"  {state.status}")
            if str(state.status) in FINAL:
                break
            time.sleep(0.5)

        # Read the result: a signed URL on a delivery host. Download it at once (it expires
        # in about 10 minutes), and without the key.
        if state.status != StatusResponse.READY or not isinstance(state.result, dict):
            raise SystemExit(f"task {task.id} ended {state.status}: {state.to_dict()}")
        ready = ReadyResult.from_dict(state.result)
        image = httpx.get(ready.sample, timeout=60.0)
        image.raise_for_status()
        Path("out/generated-fox.png").write_bytes(image.content)
        settled = state.cost if isinstance(state, ResultWithCostResponse) else task.cost
        print(f"saved out/generated-fox.png (seed {ready.seed}, {settled} credits)")


if __name__ == "__main__":
    Path("out").mkdir(exist_ok=True)  # the examples save their images in ./out/
    with offline_if_requested(task_seconds=0.5):
        main()
