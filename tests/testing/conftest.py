"""Helpers for the fake's own tests: an HTTP client, polling, and a webhook catcher."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from flux_flex.testing import FakeBFL

SUBMIT = "/v1/flux-2-flex"
RESULT = "/v1/get_result"
CREDITS = "/v1/credits"
FINAL = frozenset({"Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"})


def client_for(fake: FakeBFL, timeout: float = 10.0) -> httpx.Client:
    """An httpx client on the fake's API host with the right key."""
    return httpx.Client(base_url=fake.base_url, headers={"x-key": fake.api_key}, timeout=timeout)


def wait_final(client: httpx.Client, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll every 10 ms until the task's status is a final one; the last answer."""
    return poll_statuses(client, task_id, timeout)[-1]


def poll_statuses(
    client: httpx.Client, task_id: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every answer of polls every 10 ms until a final status (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    answers: list[dict[str, Any]] = []
    while True:
        state: dict[str, Any] = client.get(RESULT, params={"id": task_id}).json()
        answers.append(state)
        if state["status"] in FINAL or time.monotonic() > deadline:
            return answers
        time.sleep(0.01)


@dataclass
class Catcher:
    """A loopback webhook receiver: records deliveries, answers the scripted statuses."""

    url: str
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 200 once exhausted."""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    """A webhook receiver on a free 127.0.0.1 port (stdlib server, independent of ours)."""
    state: dict[str, Catcher] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            me = state["catcher"]
            with me.lock:
                me.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = me.statuses.pop(0) if me.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["catcher"] = Catcher(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state["catcher"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def configure(fake: FakeBFL, **options: Any) -> None:
    """Change the running fake's settings for one test (the ``fake`` fixture restores them)."""
    for name, value in options.items():
        if not hasattr(fake.config, name):
            raise AttributeError(f"FakeConfig has no setting {name!r}")
        setattr(fake.config, name, value)


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeBFL]:
    """One fake per test module (starting one per test would cost ~0.15 s each)."""
    with FakeBFL(task_seconds=0.05, webhook_retry_scale=0.01) as fake:
        yield fake


@pytest.fixture
def fake(shared_fake: FakeBFL) -> Iterator[FakeBFL]:
    """The module's fake, reset, with its settings restored after the test."""
    saved = dataclasses.replace(shared_fake.config)
    shared_fake.reset()
    yield shared_fake
    shared_fake.reset()
    for setting in dataclasses.fields(saved):
        setattr(shared_fake.config, setting.name, getattr(saved, setting.name))


@pytest.fixture
def api(fake: FakeBFL) -> Iterator[httpx.Client]:
    """A client of ``fake`` with its key."""
    with client_for(fake) as client:
        yield client
