"""`KillableApi` holds what it says where it says, checked with plain httpx (no flux-flex)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.hostile import BAD_GATEWAY_MARKER, POLL, SUBMIT, KillableApi


@pytest.fixture
def api() -> Iterator[KillableApi]:
    with KillableApi(task_seconds=0.0) as server:
        yield server


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def client(api: KillableApi) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"x-key": api.key}, timeout=10)


def submit(api: KillableApi, prompt: str) -> httpx.Response:
    with client(api) as http:
        return http.post(SUBMIT, json={"prompt": prompt})


def in_thread(pool: ThreadPoolExecutor, call: Callable[[], Any]) -> Future[Any]:
    return pool.submit(call)


def test_a_dropped_submit_creates_nothing_and_answers_nothing(
    api: KillableApi, pool: ThreadPoolExecutor
) -> None:
    assert submit(api, "first").status_code == 200
    gate = api.hold("submit", 2)  # counted from now: the 2nd POST after this one
    assert submit(api, "second").status_code == 200
    held = in_thread(pool, lambda: submit(api, "third"))
    gate.wait_reached(5)
    assert api.created == {"first": 1, "second": 1}
    gate.drop()
    with pytest.raises(httpx.RemoteProtocolError):
        held.result(5)
    assert api.created == {"first": 1, "second": 1}  # never created
    assert api.total_created == 2


def test_a_dropped_submit_created_is_billed_but_never_named(
    api: KillableApi, pool: ThreadPoolExecutor
) -> None:
    gate = api.hold("submit-created", 1)
    held = in_thread(pool, lambda: submit(api, "a billed fox"))
    gate.wait_reached(5)
    assert api.created == {"a billed fox": 1}  # created before the answer
    gate.drop()
    with pytest.raises(httpx.RemoteProtocolError):
        held.result(5)
    assert api.total_created == 1
    assert list(api.tasks) == api.server.created_tasks


def test_a_released_poll_is_answered(api: KillableApi, pool: ThreadPoolExecutor) -> None:
    task_id = submit(api, "a polled fox").json()["id"]
    gate = api.hold("poll", 2)

    def poll() -> httpx.Response:
        with client(api) as http:
            return http.get(POLL, params={"id": task_id})

    assert poll().json()["status"] == "Ready"
    held = in_thread(pool, poll)
    gate.wait_reached(5)
    assert not held.done()
    gate.release()
    assert held.result(5).json()["status"] == "Ready"


@pytest.mark.parametrize(("kind", "half"), [("sample", False), ("sample-body", True)])
def test_a_dropped_sample_sends_nothing_or_half_the_image(
    api: KillableApi, pool: ThreadPoolExecutor, kind: str, half: bool
) -> None:
    task_id = submit(api, "a downloaded fox").json()["id"]
    with client(api) as http:
        sample_url = http.get(POLL, params={"id": task_id}).json()["result"]["sample"]
    assert len(api.sample) > 20_000  # random pixels: a download of several chunks
    gate = api.hold(kind, 1)
    chunks: list[bytes] = []

    def download() -> None:
        with httpx.stream("GET", sample_url, timeout=10) as answer:
            chunks.extend(answer.iter_raw())

    held = in_thread(pool, download)
    gate.wait_reached(5)
    gate.drop()
    with pytest.raises(httpx.RemoteProtocolError):
        held.result(5)
    expected = api.sample[: (len(api.sample) + 1) // 2] if half else b""
    assert b"".join(chunks) == expected
    with httpx.Client() as http:
        assert http.get(sample_url).content == api.sample  # the gate held one request


def test_the_marker_is_billed_then_answered_502(api: KillableApi) -> None:
    answer = submit(api, f"a fox {BAD_GATEWAY_MARKER}")
    assert answer.status_code == 502
    assert "id" not in answer.json()
    assert api.created == {f"a fox {BAD_GATEWAY_MARKER}": 1}


def test_a_gate_let_go_before_it_was_reached_holds_nothing(api: KillableApi) -> None:
    gate = api.hold("submit", 1)
    gate.drop()
    assert submit(api, "a free fox").status_code == 200
    assert not gate.reached.is_set()
    with pytest.raises(AssertionError, match="not one of"):
        api.hold("download", 1)
