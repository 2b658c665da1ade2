"""Stopping a run gives up on a POST that never gets its answer after ``timeout``: the same
for `BatchRun.close(timeout=)` and `AsyncBatchRun.aclose(timeout=)` (one engine)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from flux_flex import AsyncFluxFlex, FluxFlex, Journal
from flux_flex._core.journal import State

from tests.hostile import HostileServer, handlers

from .conftest import FAST_RETRY, FAST_SCHEDULE, SUBMIT

STOP_AFTER = 0.5


def _posted(server: HostileServer) -> None:
    deadline = time.monotonic() + 20
    while server.count("POST", SUBMIT) < 1:
        assert time.monotonic() < deadline, "the POST never arrived"
        time.sleep(0.02)


def _stop_during_a_post(kind: str, server: HostileServer, journal: Path) -> tuple[int, ...]:
    """Start a one-line run, and stop it (``timeout=STOP_AFTER``) once its POST hangs."""
    options = {
        "api_key": "stop-test-key",
        "base_url": server.url,
        "poll_schedule": FAST_SCHEDULE,
        "retry": FAST_RETRY,
        "timeout": 120.0,  # each exchange: stopping must not wait for this
    }
    if kind == "sync":
        with FluxFlex(**options) as client:
            run = client.generate_as_completed(["a fox"], journal=journal)
            consumer = threading.Thread(target=lambda: next(run, None), daemon=True)
            consumer.start()
            _posted(server)
            run.close(timeout=STOP_AFTER)
            consumer.join(10)
            assert not consumer.is_alive()  # closing from another thread ends the loop
            return run.unanswered

    async def main() -> tuple[int, ...]:
        async with AsyncFluxFlex(**options) as client:
            run = client.generate_as_completed(["a fox"], journal=journal)
            consumer = asyncio.ensure_future(run.__anext__())
            await asyncio.to_thread(_posted, server)
            await run.aclose(timeout=STOP_AFTER)
            consumer.cancel()
            return run.unanswered

    return asyncio.run(main())


def test_stopping_gives_up_on_an_unanswered_post_after_its_timeout(
    kind: str, tmp_path: Path
) -> None:
    journal = tmp_path / "tasks.sqlite"
    with HostileServer() as server:
        server.route("POST", SUBMIT, handlers.stall(120))  # never answers
        started = time.monotonic()
        unanswered = _stop_during_a_post(kind, server, journal)
        took = time.monotonic() - started
    assert unanswered == (0,)
    assert took < 30  # generous (a loaded machine); the client's own bound is 120 s
    assert server.count("POST", SUBMIT) == 1
    with Journal(journal) as opened:
        (entry,) = opened.entries()
        assert entry.state is State.SUBMITTING  # sent, no answer: uncertain, never resent
        assert entry.holder is None  # nobody waits for its answer any more
        assert [e.fingerprint for e in opened.uncertain()] == [entry.fingerprint]
    assert "within 0.5 s of stopping" in (entry.error or "")
