"""``generate`` / ``submit`` with ``idempotency_key`` and a task journal: every behaviour of
issue 20's step 2, for both clients (`flavour`) and both stores (a SQLite file, a schema of
the session's PostgreSQL server), against FakeBFL over real sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
from flux_flex import (
    AsyncFluxFlex,
    AuthenticationError,
    ConfigurationError,
    FluxFlex,
    IdempotencyConflictError,
    Journal,
    JournalError,
    ModerationError,
    PreviouslyFailedError,
    RequestValidationError,
    ServerError,
    TaskInProgressError,
    TaskUncertainError,
)
from flux_flex._core.journal import Accepted
from flux_flex.testing import FakeBFL

from tests.clients import Flavour, unwrap
from tests.journal.test_secrets import every_cell, fragments
from tests.postgres import PostgresServer, postgres_server

from .conftest import FAST_RETRY, FAST_SCHEDULE

__all__ = ["postgres_server"]

SUBMIT = "/v1/flux-2-flex"
POLL = "/v1/get_result"
KEY = "order-123"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=0.05) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty journal: a SQLite file, or a fresh PostgreSQL schema."""
    if store == "sqlite":
        return str(tmp_path / "journal" / "tasks.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_schema()


Make = Callable[..., FluxFlex]


@pytest.fixture
def make(fake: FakeBFL, flavour: Flavour, target: str) -> Make:
    """Build the flavour's client on the fake, its journal ``target`` unless told."""
    fake.reset()

    def build(**options: Any) -> FluxFlex:
        options.setdefault("journal", target)
        options.setdefault("poll_schedule", FAST_SCHEDULE)
        return flavour.client(
            api_key=fake.api_key, base_url=fake.base_url, retry=FAST_RETRY, **options
        )

    return build


def posts(fake: FakeBFL) -> int:
    return fake.count("POST", SUBMIT)


def entry(target: str, name: str) -> Any:
    with Journal(target) as journal:
        return journal.entry(name)


def concurrently(flavour: Flavour, client: FluxFlex, calls: list[dict[str, Any]]) -> list[Any]:
    """Run ``client.generate(**call)`` for each call at once: threads, or asyncio tasks."""
    if flavour.is_async:
        raw: AsyncFluxFlex = unwrap(client)

        async def everything() -> list[Any]:
            return await asyncio.gather(
                *(raw.generate(**call) for call in calls), return_exceptions=True
            )

        return flavour.run(everything())
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(client.generate, **call) for call in calls]
        return [f.exception() or f.result() for f in futures]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``condition`` (AssertionError after ``timeout`` s)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{condition} never came true")


# -- the key is new, then known ----------------------------------------------------------------


def test_a_new_key_is_claimed_then_sent_and_its_saved_result_is_returned_again(
    make: Make, fake: FakeBFL, target: str, tmp_path: Path
) -> None:
    client = make()
    first = client.generate("a red fox", save_to=tmp_path / "fox.png", idempotency_key=KEY)
    assert posts(fake) == 1
    saved = entry(target, f"key:{KEY}")
    assert (saved.state, saved.task_id) == ("saved", first.id)
    assert saved.path == str(tmp_path / "fox.png")  # absolute, whatever the call was given
    polls = fake.count("GET", POLL)

    # Another client (another process, in effect): the earlier result, nothing sent or polled.
    again = make().generate(
        "a red fox", save_to=tmp_path / "fox.png", idempotency_key=KEY, timeout=60
    )
    assert (again.id, again.url, again.seed) == (first.id, first.url, first.seed)
    assert again.path == saved.path
    assert (posts(fake), fake.count("GET", POLL)) == (1, polls)


def test_a_submitted_task_is_resumed_not_sent_again(
    make: Make, fake: FakeBFL, target: str, tmp_path: Path
) -> None:
    client = make()
    job = client.submit("a red fox", idempotency_key=KEY, seed=7)
    assert entry(target, f"key:{KEY}").state == "submitted"
    same = make().submit("a red fox", idempotency_key=KEY, seed=7)
    assert (same.id, same.polling_url) == (job.id, job.polling_url)
    # generate with the key waits for that task and saves it: still one POST. save_to's
    # extension chooses output_format, which is not one of the key's parameters.
    result = make().generate("a red fox", save_to=tmp_path / "fox.png", idempotency_key=KEY, seed=7)
    assert result.id == job.id  # the task's image: a JPEG (the API's default), named so
    assert Path(result.path or "").read_bytes()[:3] == b"\xff\xd8\xff"
    assert Path(result.path or "").suffix == ".jpg"
    assert posts(fake) == 1
    assert entry(target, f"key:{KEY}").state == "saved"
    assert make().submit("a red fox", idempotency_key=KEY, seed=7).id == job.id
    assert posts(fake) == 1


def test_an_image_not_on_this_machine_is_fetched_again_never_paid_again(
    make: Make, fake: FakeBFL, target: str, tmp_path: Path
) -> None:
    client = make()
    first = client.generate("a fox", save_to=tmp_path / "fox.png", idempotency_key="k1")
    os.remove(first.path or "")  # the file is gone: fetched again by the task's id
    again = client.generate("a fox", save_to=tmp_path / "fox.png", idempotency_key="k1")
    assert again.id == first.id
    assert Path(again.path or "").stat().st_size > 0
    # Kept in memory the first time: a later call that wants a file gets one.
    kept = client.generate("an owl", idempotency_key="k2")
    assert kept.path is None
    saved = client.generate("an owl", save_to=tmp_path / "owl.png", idempotency_key="k2")
    assert saved.id == kept.id
    assert Path(saved.path or "").stat().st_size > 0
    # Saved by another machine (its file cannot be seen from here): fetched into save_to.
    client.generate("a hare", idempotency_key="k3")
    with Journal(target) as journal, journal._store.transaction() as tx:
        tx.update("key:k3", {"host": "another-machine", "path": "/elsewhere/hare.png"})
    here = client.generate("a hare", save_to=tmp_path / "hare.png", idempotency_key="k3")
    assert here.path == str(tmp_path / "hare.jpg")
    assert Path(here.path).stat().st_size > 0
    assert posts(fake) == 3


# -- someone else holds the key ------------------------------------------------------------------


def test_two_calls_with_one_key_at_once_make_one_task(
    make: Make, fake: FakeBFL, flavour: Flavour, tmp_path: Path
) -> None:
    client = make()
    fake.stall_next("POST", SUBMIT, 0.4)  # the first call is still sending when the other comes
    calls = [
        {"prompt": "a fox", "idempotency_key": KEY, "save_to": tmp_path / f"{n}.png"}
        for n in range(2)
    ]
    results = concurrently(flavour, client, calls)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert results[0].id == results[1].id
    assert posts(fake) == 1


def test_a_live_holder_is_waited_for_within_the_timeout_then_named(
    make: Make, fake: FakeBFL, target: str
) -> None:
    with Journal(target) as journal:
        holder = journal.open_run()  # another call, alive, sending the request right now
        journal.claim(f"key:{KEY}", prompt="a fox", params={}, save_to=None, owner=holder)
        started = time.monotonic()
        with pytest.raises(TaskInProgressError) as caught:
            make().generate("a fox", idempotency_key=KEY, timeout=0.8)
        waited = time.monotonic() - started
        error = caught.value
        assert (error.idempotency_key, error.state) == (KEY, "submitting")
        assert error.holder == f"{os.getpid()}@{socket.gethostname()}"
        assert KEY in str(error)
        assert error.holder in str(error)
        assert isinstance(error, TimeoutError)
        assert 0.8 <= waited < 15  # generous: a loaded machine
        # submit waits as long as one request may take (the client's timeout).
        with pytest.raises(TaskInProgressError):
            make(timeout=0.5).submit("a fox", idempotency_key=KEY)
        # Once the holder's task exists, submit hands it out; generate still waits for it.
        journal.record(f"key:{KEY}", 1, Accepted("task-held"), owner=holder)
        assert make().submit("a fox", idempotency_key=KEY).id == "task-held"
        with pytest.raises(TaskInProgressError) as caught:
            make().generate("a fox", idempotency_key=KEY, timeout=0.3)
        assert (caught.value.state, caught.value.task_id) == ("submitted", "task-held")
        assert posts(fake) == 0
        journal.close_run(holder)


# -- what cannot go on ---------------------------------------------------------------------------


def test_an_unanswered_submission_is_uncertain_until_resubmitted_on_purpose(
    make: Make, fake: FakeBFL, target: str
) -> None:
    client = make()
    fake.fail_next("POST", SUBMIT, 502, create_task=True)  # billed, its answer lost
    with pytest.raises(ServerError) as lost:
        client.generate("a fox", idempotency_key=KEY)
    assert lost.value.task_may_exist
    assert entry(target, f"key:{KEY}").state == "submitting"
    for call in (make().generate, make().submit):
        with pytest.raises(TaskUncertainError) as caught:
            call("a fox", idempotency_key=KEY)
        error = caught.value
        assert (error.idempotency_key, error.fingerprint) == (KEY, f"key:{KEY}")
        assert "502" in (error.reason or "")
        method = call.__name__
        assert f"client.{method}(..., idempotency_key={KEY!r}, resubmit_uncertain=True)" in str(
            error
        )
    assert posts(fake) == 1
    result = client.generate("a fox", idempotency_key=KEY, resubmit_uncertain=True)
    assert posts(fake) == 2
    assert entry(target, f"key:{KEY}").task_id == result.id


def test_the_key_with_other_parameters_is_refused_before_anything_is_sent(
    make: Make, fake: FakeBFL, tmp_path: Path
) -> None:
    client = make()
    first = client.generate("a fox", idempotency_key=KEY, seed=1, save_to=tmp_path / "a.png")
    for other in ({"prompt": "a fox", "seed": 2}, {"prompt": "a cat", "seed": 1}):
        for call in (client.generate, client.submit):
            with pytest.raises(IdempotencyConflictError) as caught:
                call(idempotency_key=KEY, **other)
            assert caught.value.idempotency_key == KEY
            assert caught.value.task_id == first.id
            assert isinstance(caught.value, ValueError)
    # save_to and timeout are not parameters: the earlier result.
    again = client.generate(
        "a fox", idempotency_key=KEY, seed=1, save_to=tmp_path / "b.png", timeout=42
    )
    assert again.id == first.id
    assert posts(fake) == 1


def test_a_failure_is_sent_again_only_when_nothing_was_billed(
    make: Make, fake: FakeBFL, target: str
) -> None:
    client = make()
    fake.fail_next("POST", SUBMIT, 422)  # refused: no task, nothing billed
    with pytest.raises(RequestValidationError):
        client.generate("a fox", idempotency_key="refused")
    assert entry(target, "key:refused").retryable is True
    assert client.generate("a fox", idempotency_key="refused").id
    with pytest.raises(ModerationError):  # billed, and ended without an image
        client.generate("a fox [moderate-content]", idempotency_key="moderated")
    sent = posts(fake)
    with pytest.raises(PreviouslyFailedError) as caught:
        make().generate("a fox [moderate-content]", idempotency_key="moderated")
    assert caught.value.retryable is False
    assert "Content Moderated" in caught.value.reason
    assert posts(fake) == sent == 3


# -- journaled without a key, or given to the call ------------------------------------------------


def test_every_call_of_a_client_with_a_journal_is_kept_by_its_task_id(
    make: Make, fake: FakeBFL, target: str
) -> None:
    client = make()
    result = client.generate("a fox")
    job = client.submit("a cat")
    fake.fail_next("POST", SUBMIT, 502, create_task=True)
    with pytest.raises(ServerError):
        client.generate("a lost owl")
    with Journal(target) as journal:
        assert journal.entry(f"task:{result.id}").state == "saved"
        assert journal.entry(f"task:{job.id}").state == "submitted"
        # Before its answer a call goes by a name of its own: this one never got one.
        (lost,) = journal.uncertain()
        assert lost.name.startswith("call:")
        assert lost.prompt == "a lost owl"
        assert len(journal.entries()) == 3
    # The client lends its journal to its batches: a re-run pays nothing again.
    assert not any(isinstance(o, BaseException) for o in client.generate_many(["one", "two"]))
    sent = posts(fake)
    client.generate_many(["one", "two"])
    assert posts(fake) == sent


def test_a_journal_given_to_the_call(
    fake: FakeBFL, flavour: Flavour, target: str, tmp_path: Path
) -> None:
    fake.reset()
    client = flavour.client(
        api_key=fake.api_key, base_url=fake.base_url, poll_schedule=FAST_SCHEDULE
    )
    result = client.generate("a fox", idempotency_key=KEY, journal=target)
    assert client.generate("a fox", idempotency_key=KEY, journal=target).id == result.id
    with Journal(target) as journal:  # a Journal given to the call is used, not closed
        assert client.submit("a fox", idempotency_key=KEY, journal=journal).id == result.id
        assert journal.entry(f"key:{KEY}").task_id == result.id
    assert posts(fake) == 1


def test_a_key_without_a_journal_is_refused_before_anything_is_sent(
    fake: FakeBFL, flavour: Flavour, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake.reset()
    # The library never reads $FLUX_FLEX_JOURNAL on its own.
    monkeypatch.setenv("FLUX_FLEX_JOURNAL", str(tmp_path / "env.sqlite"))
    client = flavour.client(api_key=fake.api_key, base_url=fake.base_url)
    for call in (client.generate, client.submit):
        with pytest.raises(ConfigurationError, match="needs a task journal"):
            call("a fox", idempotency_key=KEY)
        with pytest.raises(RequestValidationError, match="idempotency_key"):
            call("a fox", idempotency_key="", journal=tmp_path / "tasks.sqlite")
    with pytest.raises(JournalError, match="not a task journal"):
        flavour.client(api_key=fake.api_key, base_url=fake.base_url, journal="mysql://db/x")
    assert posts(fake) == 0
    assert not (tmp_path / "env.sqlite").exists()


def test_no_secret_reaches_the_journal(
    make: Make, fake: FakeBFL, target: str, store: str, flavour: Flavour
) -> None:
    secret = "whsec-H3nB8cYd6FjU1eTq"
    hook = {"webhook_url": "https://hooks.example/flux", "webhook_secret": secret}
    client = make()
    client.generate("a fox", idempotency_key="ok", **hook)
    with pytest.raises(ModerationError):
        client.generate("a fox [moderate-request]", idempotency_key="moderated", **hook)
    fake.fail_next("POST", SUBMIT, 502, create_task=True)
    with pytest.raises(ServerError):
        client.generate(f"a fox that says {secret[:3]}", idempotency_key="lost", **hook)
    wrong = flavour.client(
        api_key=fake.api_key[::-1] + "-wrong", base_url=fake.base_url, journal=target
    )
    with pytest.raises(AuthenticationError):
        wrong.submit("another fox", idempotency_key="refused", **hook)
    cells = every_cell(target, store)
    assert len(cells) > 30
    secrets = (fake.api_key, fake.api_key[::-1] + "-wrong", secret)
    leaked = [
        (piece, cell)
        for one in secrets
        for piece in fragments(one)
        for cell in cells
        if piece in cell
    ]
    assert leaked == []


# -- a call stopped halfway ----------------------------------------------------------------------


def test_a_cancelled_call_leaves_its_task_to_the_next_call(
    fake: FakeBFL, target: str, tmp_path: Path
) -> None:
    fake.reset()
    fake.stall_next("GET", POLL, 5.0)  # the first poll hangs: the call is cancelled in it

    async def scenario() -> str:
        async with AsyncFluxFlex(
            api_key=fake.api_key, base_url=fake.base_url, journal=target,
            poll_schedule=FAST_SCHEDULE,
        ) as client:  # fmt: skip
            call = asyncio.create_task(client.generate("a fox", idempotency_key=KEY))
            await until(lambda: fake.count("GET", POLL) > 0)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            started = time.monotonic()
            result = await client.generate("a fox", idempotency_key=KEY, timeout=20)
            assert time.monotonic() - started < 10  # taken over: no wait for a timeout
            return result.id

    task_id = asyncio.run(scenario())
    assert posts(fake) == 1
    assert entry(target, f"key:{KEY}").task_id == task_id


def test_a_cancelled_claim_sends_nothing_and_frees_the_key(fake: FakeBFL, target: str) -> None:
    fake.reset()
    gate = threading.Event()
    release = threading.Event()
    real_start = Journal.start

    def slow_start(self: Journal, *args: Any, **kwargs: Any) -> Any:
        gate.set()
        release.wait(5)
        return real_start(self, *args, **kwargs)

    async def scenario() -> None:
        async with AsyncFluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client:
            with Journal(target) as journal:
                journal.start = slow_start.__get__(journal)  # type: ignore[method-assign]
                call = asyncio.create_task(
                    client.generate("a fox", idempotency_key=KEY, journal=journal)
                )
                await until(gate.is_set)
                call.cancel()  # between the claim and the POST
                release.set()
                with pytest.raises(asyncio.CancelledError):
                    await call
                await until(lambda: journal.entry(f"key:{KEY}") is None)  # given back: free

    asyncio.run(scenario())
    assert posts(fake) == 0
