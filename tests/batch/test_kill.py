"""kill -9 a real process running ``generate_many(journal=...)`` at points spread over
submit, wait and save; run the batch again; count what the server created and what was
saved. Against `tests.hostile.KillableApi` (standard library), not our fake."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flux_flex import AsyncFluxFlex, Journal, TaskUncertainError, _files
from flux_flex._core.journal import State

from tests.hostile import KillableApi

from . import batch_child
from .batch_child import API_KEY, RETRY, SCHEDULE, requests

COUNT = 6

# (who notices the point, what, which occurrence): spread over submit, wait and save. The
# server's are `KillableApi` kill points, the client's `BatchEvent` kinds.
KILL_POINTS = [
    ("server", "submit", 2),  # POST arrived, no task yet
    ("server", "submit-created", 3),  # task created and billed, answer not sent
    ("client", "submitting", 1),  # journal written, POST leaving
    ("client", "submitted", 1),
    ("client", "submitted", 5),
    ("server", "poll", 3),
    ("server", "poll", 9),
    ("server", "sample-body", 1),  # half the image on disk
    ("server", "sample-body", 4),
    ("client", "done", 1),
    ("client", "done", 4),
]


@pytest.fixture
def api() -> Iterator[KillableApi]:
    # Ready answers settle at 4.5 after a 5.0 submission: the journal keeps both.
    with KillableApi(task_seconds=0.15, key=API_KEY, settled_cost=4.5) as server:
        yield server


def _child(base_url: str, folder: Path, write_fd: int) -> None:
    def report(line: str) -> None:
        os.write(write_fd, (line + "\n").encode())

    batch_child.run(base_url, str(folder / "tasks.sqlite"), str(folder / "out"), COUNT, report)


def kill_mid_run(api: KillableApi, folder: Path, who: str, what: str, nth: int) -> None:
    """Run the batch in a child process (forked: a real process, modules already imported)
    and SIGKILL it at the point."""
    out = folder / "out"
    gate = api.hold(what, nth) if who == "server" else None
    read_fd, write_fd = os.pipe()
    child = multiprocessing.get_context("fork").Process(
        target=_child, args=(api.url, folder, write_fd), daemon=True
    )
    child.start()
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as events:
            if gate is not None:
                gate.wait_reached(30)
                if what == "sample-body":  # kill once the half image is on disk
                    assert _wait_for(lambda: bool(_parts(out)), 10)
            else:
                seen = 0
                for line in events:
                    seen += line.split()[0] == what
                    if seen == nth:
                        break
                assert seen == nth, f"the child ended before {what} #{nth}"
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(30)
    finally:
        child.kill()
        child.join(30)
        if gate is not None:
            gate.drop()  # the held request ends unanswered: its client is dead
    assert child.exitcode == -signal.SIGKILL


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.part")) if folder.exists() else []


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def run_again(api: KillableApi, folder: Path, **options: Any) -> list[Any]:
    async def main() -> list[Any]:
        async with AsyncFluxFlex(
            api_key=API_KEY, base_url=api.url, poll_schedule=SCHEDULE, retry=RETRY
        ) as client:
            return await client.generate_many(
                requests(str(folder / "out"), COUNT),
                concurrency=3,
                journal=folder / "tasks.sqlite",
                **options,
            )

    return asyncio.run(main())


@pytest.mark.parametrize(("who", "what", "nth"), KILL_POINTS, ids=lambda v: str(v))
def test_killed_then_run_again(
    api: KillableApi, tmp_path: Path, who: str, what: str, nth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_mid_run(api, tmp_path, who, what, nth)
    # Run again later: a killed save's .part outlived its writer's deadline (the child's
    # download_timeout), so the next save to the folder may remove it.
    monkeypatch.setattr(_files, "wall_clock", lambda: time.time() + 3600)
    created_by_the_killed_run = api.total_created
    outcomes = run_again(api, tmp_path)
    prompts = [f"fox {i}" for i in range(COUNT)]
    created = api.created

    # Never two tasks for one prompt, and not one more task than the prompts that need one.
    assert all(created[prompt] <= 1 for prompt in prompts), created
    with Journal(tmp_path / "tasks.sqlite") as journal:
        entries = {entry.prompt: entry for entry in journal.entries()}
    uncertain = sorted(p for p, e in entries.items() if e.state is State.SUBMITTING)
    for index, prompt in enumerate(prompts):
        entry = entries[prompt]
        if prompt in uncertain:
            # The answer to its POST never came: reported with its prompt, not repaid.
            assert isinstance(outcomes[index], TaskUncertainError)
            assert outcomes[index].prompt == prompt
            continue
        assert entry.state is State.SAVED, (prompt, entry)
        assert (entry.cost, entry.submit_cost) == (4.5, 5.0)  # the settled cost is kept
        assert created[prompt] == 1
        assert entry.task_id in api.tasks
        assert not isinstance(outcomes[index], BaseException), outcomes[index]
        assert (tmp_path / "out" / f"fox{index}.png").read_bytes() == api.sample
    # Only a POST cut off by the kill can be uncertain; the killed run had 3 at most.
    assert len(uncertain) <= 3
    if (who, what) == ("server", "submit"):
        assert len(uncertain) >= 1
        assert created_by_the_killed_run < COUNT
    if (who, what) == ("server", "submit-created"):
        assert len(uncertain) >= 1
    # Every image saved once: one file per saved prompt.
    files = sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix != ".part")
    assert files == [f"fox{i}.png" for i, p in enumerate(prompts) if p not in uncertain]

    if uncertain:
        # Asked to, each uncertain one is submitted again — exactly once.
        again = run_again(api, tmp_path, resubmit_uncertain=True)
        assert all(not isinstance(outcome, BaseException) for outcome in again)
        assert all(api.created[p] <= 2 for p in uncertain)
        assert api.total_created == sum(created.values()) + len(uncertain)
        run_again(api, tmp_path, resubmit_uncertain=True)
        assert api.total_created == sum(created.values()) + len(uncertain)

    # Nothing half-written left: the re-run's saves removed the killed save's file.
    assert _parts(tmp_path / "out") == []
