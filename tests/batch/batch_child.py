"""A batch to run in its own process and kill: `run` (forked by the tests), or
``python batch_child.py BASE_URL JOURNAL OUT N`` by hand.

Reports ``<event kind> <index>`` for every `BatchEvent`, then ``end``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from flux_flex import AsyncFluxFlex, BatchEvent, PollSchedule, RetryPolicy

API_KEY = "hostile-key"  # what the tests' `KillableApi` is told to require
SCHEDULE = PollSchedule(initial=0.02, backoff=1.5, max_interval=0.05, min_interval=0.01)
RETRY = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.02, retry_after_max=1)


def requests(out: str, count: int) -> list[dict[str, str]]:
    """The batch: ``fox <i>`` saved as ``<out>/fox<i>.png``."""
    return [{"prompt": f"fox {i}", "save_to": f"{out}/fox{i}.png"} for i in range(count)]


def run(base_url: str, journal: str, out: str, count: int, report: Callable[[str], object]) -> None:
    """The batch, reporting each event's ``kind index`` to ``report``."""

    def on_event(event: BatchEvent) -> None:
        report(f"{event.kind} {event.index}")

    asyncio.run(_main(base_url, journal, out, count, on_event))
    report("end")


async def _main(
    base_url: str, journal: str, out: str, count: int, on_event: Callable[[BatchEvent], object]
) -> None:
    async with AsyncFluxFlex(
        api_key=API_KEY,
        base_url=base_url,
        poll_schedule=SCHEDULE,
        retry=RETRY,
        download_timeout=5.0,
    ) as client:
        await client.generate_many(
            requests(out, count), concurrency=3, journal=journal, on_event=on_event
        )


if __name__ == "__main__":
    run(
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        int(sys.argv[4]),
        lambda line: print(line, flush=True),
    )
