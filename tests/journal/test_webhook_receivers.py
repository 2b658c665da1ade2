"""`WebhookReceiver(journal=..., out_dir=...)` on both stores: a delivery is handled once
across receivers and its image downloaded once; 503 while the journal cannot be reached;
`JournalDeliveries` wakes a waiter in another process."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flux_flex import Journal
from flux_flex._core import journal as rules
from flux_flex._core.journal import State
from flux_flex.webhooks import WebhookEvent, WebhookReceiver, journaled, sign
from flux_flex.webhooks.journaled import JournalDeliveries

from tests.hostile import HostileServer
from tests.postgres import PostgresServer, free_port

from .conftest import claim

SECRET = "whsec-journal-test-0123"


@pytest.fixture
def samples() -> Iterator[HostileServer]:
    """A server handing out sample images at /samples/<id>.png (counted)."""
    with HostileServer() as server:
        server.api(key="unused-key-0123")
        yield server


def ready(server: HostileServer, task_id: str) -> dict[str, Any]:
    sample = f"{server.url}/samples/{task_id}.png?signature=abc"
    return {"id": task_id, "status": "Ready", "result": {"sample": sample, "seed": 3}}


async def deliver(receiver: WebhookReceiver, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"X-BFL-Signature": sign(body, SECRET), "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as client:
        return await client.post("/", content=body, headers=headers)


def images(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.iterdir() if not p.name.startswith("."))


def test_two_receivers_handle_a_delivery_once_and_download_it_once(
    target: str, tmp_path: Path, samples: HostileServer
) -> None:
    with Journal(target) as journal:  # a worker's batch line, submitted, then its owner gone
        worker = journal.open_run()
        claim(journal, "line", worker)
        journal.record("line", 1, rules.Accepted("t1"), owner=worker)
        journal.close_run(worker)
    handled: list[str] = []
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    receivers = [
        WebhookReceiver(SECRET, on_event=lambda e: handled.append(e.id), journal=target, out_dir=d)
        for d in (out_a, out_b)
    ]

    async def scenario() -> list[int]:
        codes = []
        for receiver in receivers * 2:  # each receiver gets the delivery twice
            codes.append((await deliver(receiver, ready(samples, "t1"))).status_code)
            codes.append((await deliver(receiver, ready(samples, "t2"))).status_code)
        for receiver in receivers:
            await receiver.drain()
        return codes

    try:
        assert asyncio.run(scenario()) == [200] * 8
    finally:
        for receiver in receivers:
            assert receiver.recorder is not None
            receiver.recorder.close()
    assert sorted(handled) == ["t1", "t2"]  # each final event handled once
    assert samples.count("GET", "/samples/*") == 2  # each image downloaded once
    assert sum(r.stats.saved for r in receivers) == 2
    assert sum(r.stats.duplicates for r in receivers) == 6
    assert [p.name for p in images(out_a, out_b)] == ["t1.png", "t2.png"]
    with Journal(target) as journal:
        for task_id in ("t1", "t2"):
            got = journal.entry_for_task(task_id)
            assert got is not None
            assert (got.state, got.host) == (State.SAVED, journal.host)
            assert got.path is not None
            assert Path(got.path).is_file()
            assert Path(got.path).parent in (out_a, out_b)


def test_the_image_is_named_after_the_request_when_the_journal_knows_it(
    target: str, tmp_path: Path, samples: HostileServer
) -> None:
    with Journal(target) as journal:
        worker = journal.open_run()
        journal.claim(
            "line", prompt="a fox", params={}, save_to="/w1/out/fox-12ab.jpg", owner=worker
        )
        journal.record("line", 1, rules.Accepted("t1"), owner=worker)
        journal.close_run(worker)
    receiver = WebhookReceiver(SECRET, journal=target, out_dir=tmp_path / "r")

    async def scenario() -> None:
        assert (await deliver(receiver, ready(samples, "t1"))).status_code == 200
        assert (await deliver(receiver, ready(samples, "t9"))).status_code == 200
        await receiver.drain()

    try:
        asyncio.run(scenario())
    finally:
        assert receiver.recorder is not None
        receiver.recorder.close()
    # The extension follows the image's real format (the samples are PNGs).
    assert [p.name for p in images(tmp_path / "r")] == ["fox-12ab.png", "t9.png"]


def test_a_journal_that_cannot_be_reached_gets_503(tmp_path: Path, samples: HostileServer) -> None:
    closed = f"postgresql://flux@127.0.0.1:{free_port()}/flux"
    handled: list[WebhookEvent] = []
    receiver = WebhookReceiver(
        SECRET, on_event=handled.append, journal=closed, out_dir=tmp_path / "r"
    )

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        first = await deliver(receiver, ready(samples, "t1"))
        again = await deliver(receiver, ready(samples, "t1"))
        await receiver.drain()
        return first, again

    try:
        first, again = asyncio.run(scenario())
    finally:
        assert receiver.recorder is not None
        receiver.recorder.close()
    assert (first.status_code, again.status_code) == (503, 503)  # the API delivers it again
    assert first.headers["retry-after"] == "1"
    assert handled == []
    assert receiver.stats.unavailable == 2
    assert samples.count("GET", "/samples/*") == 0
    # Not remembered as handled: once the journal is back, the retried delivery counts.
    assert receiver.delivered("t1") is None


def _wait_in_child(target: str, task_id: str, out: Any) -> None:
    # One blocking wait far longer than the test allows: only the journal's change
    # notification (LISTEN/NOTIFY, the SQLite file's change counter) can end it in time.
    journaled.WAIT_SLICE = 60.0
    source = JournalDeliveries(target)
    started = time.monotonic()
    out.put("waiting")
    payload = source.wait_delivered(task_id, 60)
    out.put((payload, time.monotonic() - started))
    source.close()


def test_a_waiter_in_another_process_wakes_on_the_delivery(
    target: str, tmp_path: Path, samples: HostileServer
) -> None:
    Journal(target).close()  # created before the waiter opens it
    context = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    out = context.Queue()
    child = context.Process(target=_wait_in_child, args=(target, "t7", out))
    child.start()
    try:
        assert out.get(timeout=60) == "waiting"
        time.sleep(0.3)
        receiver = WebhookReceiver(SECRET, journal=target)

        async def scenario() -> int:
            return (await deliver(receiver, ready(samples, "t7"))).status_code

        assert asyncio.run(scenario()) == 200
        assert receiver.recorder is not None
        receiver.recorder.close()
        payload, waited = out.get(timeout=60)
    finally:
        child.join(30)
    assert payload["status"] == "Ready"
    assert payload["result"]["sample"] == ready(samples, "t7")["result"]["sample"]
    assert waited < 30  # woken by the delivery, not by the end of its 60 s wait


def test_job_wait_completes_from_a_delivery_recorded_by_another_receiver(
    target: str, samples: HostileServer
) -> None:
    from flux_flex import AsyncFluxFlex, FluxFlex

    receiver = WebhookReceiver(SECRET, journal=target)
    other = WebhookReceiver(SECRET, journal=target)  # where this process's waiter looks

    async def scenario() -> None:
        assert (await deliver(receiver, ready(samples, "t8"))).status_code == 200

    asyncio.run(scenario())
    base = samples.url
    with FluxFlex(api_key="k" * 12, base_url=base) as client:
        result = client.job("t8").wait(timeout=10, webhook=other, webhook_grace=5)
        assert result.url == ready(samples, "t8")["result"]["sample"]

    async def wait_async() -> str:
        async with AsyncFluxFlex(api_key="k" * 12, base_url=base) as client:
            result = await client.job("t8").wait(timeout=10, webhook=other, webhook_grace=5)
            return result.url

    assert asyncio.run(wait_async()) == ready(samples, "t8")["result"]["sample"]
    assert samples.count("GET", "/v1/get_result") == 0  # no poll: the journal had it
    for r in (receiver, other):
        assert r.recorder is not None
        r.recorder.close()


def test_a_download_cut_short_is_finished_by_reconcile(
    target: str, tmp_path: Path, samples: HostileServer
) -> None:
    from flux_flex import FluxFlex, reconcile

    with FluxFlex(api_key="unused-key-0123", base_url=samples.url) as client:
        job = client.submit("a fox")
        broken = {  # the sample host refuses: the receiver's download fails
            "id": job.id,
            "status": "Ready",
            "result": {"sample": f"http://127.0.0.1:{free_port()}/gone.png"},
        }
        quick = client.with_options(max_retries=0)
        receiver = WebhookReceiver(SECRET, journal=target, out_dir=tmp_path / "r", client=quick)

        async def scenario() -> int:
            code = (await deliver(receiver, broken)).status_code
            await receiver.drain()
            return code

        try:
            assert asyncio.run(scenario()) == 200  # recorded: the API must not resend it
        finally:
            assert receiver.recorder is not None
            receiver.recorder.close()
        assert receiver.stats.saved == 0
        with Journal(target) as journal:
            left = journal.entry_for_task(job.id)
            assert left is not None
            assert left.state is State.READY  # kept for whoever finishes it
            report = reconcile(journal, tmp_path / "recovered", client=client, timeout=30)
            assert report.ok
            done = journal.entry_for_task(job.id)
        assert done is not None
        assert (done.state, done.path) == (
            State.SAVED,
            str(tmp_path / "recovered" / f"{job.id}.png"),
        )


def test_while_postgres_is_stopped_deliveries_get_503_then_count_once_it_is_back(
    pg: PostgresServer, samples: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flux_flex.journal import _postgres

    monkeypatch.setattr(_postgres, "CONNECT_TIMEOUT", 1.0)  # the pool's wait for a connection
    with Journal(pg.new_schema(), reconnect_timeout=0.5) as journal:
        handled: list[str] = []
        receiver = WebhookReceiver(SECRET, on_event=lambda e: handled.append(e.id), journal=journal)

        async def post_once() -> int:
            return (await deliver(receiver, ready(samples, "t1"))).status_code

        assert asyncio.run(post_once()) == 200
        pg.stop()
        try:
            down = asyncio.run(post_once())
        finally:
            pg.start()
        journal.reconnect_timeout = 30.0
        back = asyncio.run(post_once())
        receiver.close()
    assert down == 503  # the API delivers it again
    assert back == 200  # a duplicate now: recorded once, handled once
    assert handled == ["t1"]
    assert receiver.stats.unavailable == 1
