"""Several workers share one batch through one journal (SQLite and PostgreSQL): each line is
claimed by one worker, paid once and saved once; the account's in-flight limit holds across
them; a line another live worker holds is "being handled by" it, never uncertain; a dead
worker's claims pass to the others when its lease runs out."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flux_flex import (
    AsyncFluxFlex,
    BatchEvent,
    FluxFlex,
    Journal,
    TaskInProgressError,
    TaskUncertainError,
    prepare_request,
)
from flux_flex._core import journal as rules
from flux_flex._core.journal import Accepted
from flux_flex.journal import name_from_destination
from flux_flex.testing import FakeBFL

from tests.batch.conftest import SUBMIT, client_options, run_batch, task_seconds


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=task_seconds) as fake:
        yield fake


@pytest.fixture
def fake(shared_fake: FakeBFL) -> FakeBFL:
    shared_fake.reset()
    shared_fake.config.task_seconds = task_seconds
    shared_fake.config.max_in_flight = 24
    return shared_fake


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def lines(folder: Path, count: int, duration: float) -> list[dict[str, Any]]:
    return [
        {"prompt": f"fox {i} [d={duration}]", "save_to": folder / f"fox{i}.jpg"}
        for i in range(count)
    ]


def images(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.endswith((".sqlite", ".part"))}


def entry_name(request: dict[str, Any]) -> str:
    """The journal name the batch engine gives this request (first occurrence)."""
    prepared = prepare_request(request["prompt"], save_to=request["save_to"])
    destination = name_from_destination(os.path.abspath(request["save_to"]))
    return rules.fingerprint(prepared.body, destination, 0)


def test_two_workers_share_one_batch_within_one_in_flight_limit(
    fake: FakeBFL, target: str, tmp_path: Path
) -> None:
    # A sync and an async worker (both runners of the one engine) on one journal, each into
    # a folder of its own. Tasks outlast the 1 s lease: renewals keep the claims.
    fake.config.max_in_flight = 4  # the fake answers 429 beyond it
    count, folders = 16, {"sync": tmp_path / "a", "async": tmp_path / "b"}
    options = {"journal": target, "concurrency": 6, "max_in_flight": 4, "lease": 1.0}
    outcomes: dict[str, list[Any]] = {}
    events: dict[str, list[BatchEvent]] = {"sync": [], "async": []}

    def sync_worker() -> None:
        with FluxFlex(**client_options(fake)) as client:
            outcomes["sync"] = client.generate_many(
                lines(folders["sync"], count, 1.2), on_event=events["sync"].append, **options
            )

    async def async_worker() -> None:
        async with AsyncFluxFlex(**client_options(fake)) as client:
            outcomes["async"] = await client.generate_many(
                lines(folders["async"], count, 1.2), on_event=events["async"].append, **options
            )

    threads = [
        threading.Thread(target=sync_worker),
        threading.Thread(target=lambda: asyncio.run(async_worker())),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(outcomes) == {"sync", "async"}
    assert fake.count("POST", SUBMIT) == count  # each line paid once
    assert fake.rate_limited == 0
    assert fake.peak_in_flight <= 4
    saved = {kind: images(folder) for kind, folder in folders.items()}
    assert not saved["sync"] & saved["async"]  # each line saved once, by one worker
    assert len(saved["sync"] | saved["async"]) == count
    for kind, found in outcomes.items():
        assert not [o for o in found if isinstance(o, BaseException)], kind
        done = [e for e in events[kind] if e.kind == "done"]
        skipped = [e for e in events[kind] if e.kind == "skipped"]
        assert len(done) == len(saved[kind])
        assert len(done) + len(skipped) == count
        assert all(e.by is not None for e in skipped)  # saved by the other worker
    assert all(saved.values())  # both took part


def claim_as_other_run(
    journal: Journal, request: dict[str, Any], state: str, *, lease: float
) -> str:
    """Another run (this host and pid, so only its lease makes it live) takes the line
    and brings it to ``state``; its owner id."""
    owner = journal.open_run(lease=lease, renew_every=None)
    name = entry_name(request)
    claim = journal.claim(
        name,
        prompt=request["prompt"],
        params={},
        save_to=os.path.abspath(request["save_to"]),
        owner=owner,
        begin=False,
    )
    assert claim.decision is rules.Decision.SUBMIT
    if state in ("submitting", "submitted"):
        assert journal.start(name, claim.attempt, owner=owner) == "started"
    if state == "submitted":
        assert journal.record(name, claim.attempt, Accepted("elsewhere-task"), owner=owner)
    return owner


@pytest.mark.parametrize(
    ("kind", "state"), [("sync", "claimed"), ("async", "submitting"), ("sync", "submitted")]
)
def test_a_line_another_live_run_holds_is_being_handled_by_it(
    kind: str, fake: FakeBFL, target: str, tmp_path: Path, state: str
) -> None:
    requests = lines(tmp_path, 3, 0.05)
    events: list[BatchEvent] = []
    with Journal(target) as journal:
        claim_as_other_run(journal, requests[0], state, lease=60)
        found = run_batch(kind, fake, requests, journal=target, timeout=1.0, on_event=events.append)
    error = found[0]
    assert isinstance(error, TaskInProgressError)
    assert not isinstance(error, TaskUncertainError)
    label = f"{os.getpid()}@{socket.gethostname()}"
    assert f"being handled by {label}" in str(error)
    assert "uncertain" not in str(error)
    held = [e for e in events if e.kind == "held"]
    assert [e.index for e in held] == [0]
    assert held[0].by == label
    assert held[0].counts.held == 1
    assert events[-1].counts.failed == 0
    assert events[-1].counts.uncertain == 0
    assert fake.count("POST", SUBMIT) == 2  # only the two free lines


@pytest.mark.parametrize(
    ("kind", "state", "posts", "outcome"),
    [
        ("async", "claimed", 3, "done"),  # claimed, never sent: back to the pool
        ("sync", "submitting", 2, "uncertain"),  # its POST may have left: never resent
    ],
)
def test_a_dead_runs_claims_pass_on_when_its_lease_runs_out(
    kind: str,
    fake: FakeBFL,
    target: str,
    tmp_path: Path,
    state: str,
    posts: int,
    outcome: str,
) -> None:
    requests = lines(tmp_path, 3, 0.05)
    events: list[BatchEvent] = []
    with Journal(target) as journal:
        claim_as_other_run(journal, requests[0], state, lease=1.0)  # never renewed
        found = run_batch(kind, fake, requests, journal=target, timeout=10, on_event=events.append)
    final = {e.index: e.kind for e in events if e.outcome is not None}
    assert final == {0: outcome, 1: "done", 2: "done"}
    assert fake.count("POST", SUBMIT) == posts
    if outcome == "uncertain":
        assert isinstance(found[0], TaskUncertainError)


def test_an_account_slot_frees_when_the_task_is_final_not_after_its_download(
    kind: str, fake: FakeBFL, target: str, tmp_path: Path
) -> None:
    # One slot; the first image's download hangs 1.5 s: the second task is submitted during
    # that download, since the first task's slot freed when the API said it was Ready.
    fake.stall_next("GET", "/delivery/*", seconds=1.5)
    events: list[BatchEvent] = []
    found = run_batch(
        kind,
        fake,
        lines(tmp_path, 2, 0.05),
        journal=target,
        concurrency=2,
        max_in_flight=1,
        on_event=events.append,
    )
    assert not [o for o in found if isinstance(o, BaseException)]
    order = [(e.kind, e.index) for e in events if e.kind in ("submitted", "done")]
    first_done = next(i for i, (what, _) in enumerate(order) if what == "done")
    assert [what for what, _ in order[:first_done]] == ["submitted", "submitted"]
    assert fake.peak_in_flight == 1


@pytest.mark.parametrize(
    "option", [{"max_in_flight": 0}, {"max_in_flight": True}, {"lease": 0}, {"lease": -1.0}]
)
def test_bad_sharing_options_are_refused_before_anything_is_sent(
    fake: FakeBFL, tmp_path: Path, option: dict[str, Any]
) -> None:
    with FluxFlex(**client_options(fake)) as client, pytest.raises(ValueError, match="must be"):
        client.generate_many(["a fox"], journal=tmp_path / "tasks.sqlite", **option)
    assert fake.requests == []


def test_a_batch_skips_the_download_of_an_image_a_receiver_saved_first(
    kind: str, tmp_path: Path
) -> None:
    from tests.batch.conftest import FAST_RETRY, FAST_SCHEDULE
    from tests.hostile import Exchange, HostileServer
    from tests.hostile.images import png

    key = "hostile-test-key-0123"
    target = str(tmp_path / "tasks.sqlite")
    elsewhere = tmp_path / "receiver" / "fox.png"
    elsewhere.parent.mkdir()
    with HostileServer() as server:
        api = server.api(key=key)

        def poll_after_a_receiver_saved_it(exchange: Exchange) -> None:
            task_id = exchange.query["id"]
            with Journal(target) as journal:  # a webhook receiver, as another run
                receiver = journal.open_run()
                got = journal.deliver(task_id, rules.Ready("https://cdn/x.png"), owner=receiver)
                if got.download:
                    elsewhere.write_bytes(png(2, 2))
                    saved = rules.Saved(str(elsewhere), "https://cdn/x.png")
                    assert journal.record(got.name, got.attempt, saved, owner=receiver)
            api.poll(exchange)

        server.route("GET", "/v1/get_result", poll_after_a_receiver_saved_it)
        options = {"api_key": key, "base_url": server.url, "poll_schedule": FAST_SCHEDULE}
        requests = [{"prompt": "a fox", "save_to": tmp_path / "worker" / "fox.png"}]
        if kind == "sync":
            with FluxFlex(**options, retry=FAST_RETRY) as client:
                found = client.generate_many(requests, journal=target, timeout=30)
        else:

            async def main() -> list[Any]:
                async with AsyncFluxFlex(**options, retry=FAST_RETRY) as client:
                    return await client.generate_many(requests, journal=target, timeout=30)

            found = asyncio.run(main())
        assert server.count("GET", "/samples/*") == 0  # the receiver's file is the image
    assert not isinstance(found[0], BaseException), found[0]
    assert found[0].path == str(elsewhere)
    assert not (tmp_path / "worker" / "fox.png").exists()
