"""A small, well-behaved FLUX.2 [FLEX] API for `HostileServer`, to make hostile one route at a
time: submissions create tasks (counted), polls answer Pending then Ready, samples are PNGs.

    with HostileServer() as server:
        api = server.api(task_seconds=0.2)
        server.route("GET", "/samples/*", handlers.html())   # now the sample lies
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from tests.hostile.images import png
from tests.hostile.server import Exchange, HostileServer

__all__ = ["POLL", "SAMPLES", "SUBMIT", "Api", "Task", "install_api"]

SUBMIT = "/v1/flux-2-flex"
POLL = "/v1/get_result"
SAMPLES = "/samples/"


@attrs.define
class Task:
    """A task the API created."""

    id: str
    body: Mapping[str, Any]
    created_at: float
    ready_at: float


@attrs.define
class Api:
    """The API's state: its tasks, and what it answers (change the fields at will)."""

    server: HostileServer
    key: str | None
    task_seconds: float | Callable[[Mapping[str, Any]], float]
    polling_base: str | None
    sample_base: str | None
    sample: bytes
    settled_cost: float = 5.0
    """The cost a Ready answer reports (a real settlement may differ from the submission's)."""
    tasks: dict[str, Task] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)
    _ids: Any = attrs.field(factory=lambda: itertools.count(1))

    def _refused(self, exchange: Exchange) -> bool:
        if self.key is not None and exchange.request.headers.get("x-key") != self.key:
            exchange.respond_json({"detail": "Invalid API key"}, status=401)
            return True
        return False

    def submit(self, exchange: Exchange) -> None:
        """POST /v1/flux-2-flex: creates (and bills) a task."""
        task = self.create(exchange)
        if task is not None:
            exchange.respond_json(self.accepted(task))

    def create(self, exchange: Exchange) -> Task | None:
        """The first half of `submit`: create (and bill) the task, answer nothing; None (the
        refusal answered) for a wrong key or a body that is not JSON."""
        if self._refused(exchange):
            return None
        try:
            body = exchange.request.json()
        except ValueError:
            exchange.respond_json({"detail": "body is not JSON"}, status=400)
            return None
        seconds = self.task_seconds(body) if callable(self.task_seconds) else self.task_seconds
        now = time.monotonic()
        with self._lock:
            task_id = f"task-{next(self._ids)}"
            task = self.tasks[task_id] = Task(task_id, body, now, now + seconds)
        self.server.create_task(task_id)
        return task

    def accepted(self, task: Task) -> dict[str, Any]:
        """The second half of `submit`: the answer for a created task."""
        base = self.polling_base or self.server.url
        return {"id": task.id, "polling_url": f"{base}{POLL}?id={task.id}", "cost": 5.0}

    def poll(self, exchange: Exchange) -> None:
        """GET /v1/get_result?id=...: Pending (with progress) until ready, then Ready."""
        if self._refused(exchange):
            return
        task_id = exchange.query.get("id", "")
        task = self.tasks.get(task_id)
        if task is None:
            exchange.respond_json({"id": task_id, "status": "Task not found"})
            return
        now = time.monotonic()
        if now < task.ready_at:
            span = task.ready_at - task.created_at
            progress = round((now - task.created_at) / span, 3) if span else 0.0
            exchange.respond_json({"id": task_id, "status": "Pending", "progress": progress})
            return
        base = self.sample_base or self.server.url
        sample = f"{base}{SAMPLES}{task_id}.png?signature=abc"
        result = {"sample": sample, "prompt": task.body.get("prompt"), "seed": 42}
        ready = {"id": task_id, "status": "Ready", "result": result, "cost": self.settled_cost}
        exchange.respond_json(ready)

    def download(self, exchange: Exchange) -> None:
        """GET /samples/<id>.png: the image (no key needed)."""
        exchange.respond(200, self.sample, content_type="image/png")

    def credits(self, exchange: Exchange) -> None:
        """GET /v1/credits."""
        if not self._refused(exchange):
            exchange.respond_json({"credits": 1000.0})


def install_api(
    server: HostileServer,
    *,
    key: str | None = None,
    task_seconds: float | Callable[[Mapping[str, Any]], float] = 0.0,
    polling_base: str | None = None,
    sample_base: str | None = None,
    sample: bytes | None = None,
    settled_cost: float = 5.0,
) -> Api:
    """Route the API's endpoints on ``server``; the `Api` (its state) is returned.

    ``key``: the API key to require (None: any). ``task_seconds``: how long a task runs (or
    a function of the submitted body). ``polling_base``/``sample_base``: the host polling
    and sample URLs point at (default: this server). ``sample``: the image bytes (a PNG).
    ``settled_cost``: the cost Ready answers report (submissions say 5.0).
    """
    api = Api(
        server=server,
        key=key,
        task_seconds=task_seconds,
        polling_base=polling_base,
        sample_base=sample_base,
        sample=sample if sample is not None else png(8, 8),
        settled_cost=settled_cost,
    )
    server.route("POST", SUBMIT, api.submit)
    server.route("GET", POLL, api.poll)
    server.route("GET", SAMPLES + "*", api.download)
    server.route("GET", "/v1/credits", api.credits)
    return api
