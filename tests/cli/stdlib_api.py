"""The hostile toolkit's stdlib API (`tests.hostile`), with deterministic kill points.

`KillableApi` is `tests.hostile`'s well-behaved API (not our fake, which agrees with the
client by construction) plus what killing a real CLI needs: tasks counted per prompt,
a 502 answered *after* creating the task for prompts carrying `BAD_GATEWAY_MARKER`, and
gates that hold the n-th request of a kind until the test has killed the client: ``submit``
(before the task is created), ``poll``, ``sample`` (before any byte of the answer) and
``sample-body`` (after the headers and half the image: the client is writing its ``.part``)::

    with KillableApi(task_seconds=0.05) as api:
        gate = api.hold("poll", 3)          # the 3rd poll from now blocks ...
        ...start the CLI...
        gate.wait_reached()                 # ... the client is waiting for its answer
        process.kill()
        gate.drop()                         # answer nothing, create nothing
"""

from __future__ import annotations

import threading
from collections import Counter
from types import TracebackType
from typing import Any

from tests.hostile import POLL, SAMPLES, SUBMIT, Exchange, Handler, HostileServer, raw_response

__all__ = ["BAD_GATEWAY_MARKER", "Gate", "KillableApi"]

BAD_GATEWAY_MARKER = "[502-after-create]"
KEY = "kill-test-key"


class Gate:
    """Holds one request until `drop` (answer nothing, do nothing) or `release`."""

    def __init__(self, kind: str, nth: int) -> None:
        self.kind = kind
        self.nth = nth
        self.seen = 0
        self.reached = threading.Event()
        self._opened = threading.Event()
        self._dropped = False

    def wait_reached(self, timeout: float = 20.0) -> None:
        """Block until the held request has arrived (AssertionError after ``timeout``)."""
        assert self.reached.wait(timeout), f"the {self.kind} #{self.nth} never came"

    def drop(self) -> None:
        """Let the handler go without answering or doing anything (the client is gone)."""
        self._dropped = True
        self._opened.set()

    def release(self) -> None:
        """Let the held request be processed and answered normally."""
        self._opened.set()

    def hold(self) -> bool:
        """In the handler: wait for the test; True when the request should go on."""
        self.reached.set()
        self._opened.wait(60)
        return not self._dropped


class KillableApi:
    """`tests.hostile`'s API on a `HostileServer`, gated. See the module docstring."""

    def __init__(self, *, task_seconds: float = 0.05) -> None:
        self.key = KEY
        self.server = HostileServer()
        self.api = self.server.api(key=KEY, task_seconds=task_seconds)
        self._lock = threading.Lock()
        self._gates: list[Gate] = []
        self.server.route("POST", SUBMIT, self._gated("submit", self._submit))
        self.server.route("GET", POLL, self._gated("poll", self.api.poll))
        self.server.route("GET", SAMPLES + "*", self._gated("sample", self._sample))

    def __enter__(self) -> KillableApi:
        self.server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for gate in self._gates:
            gate.drop()
        self.server.close()

    @property
    def url(self) -> str:
        """The base URL to point ``BFL_BASE_URL`` at."""
        return self.server.url

    @property
    def task_seconds(self) -> Any:
        """How long each new task runs."""
        return self.api.task_seconds

    @task_seconds.setter
    def task_seconds(self, value: float) -> None:
        self.api.task_seconds = value

    def hold(self, kind: str, nth: int) -> Gate:
        """Hold the ``nth`` request of ``kind`` from now on (a submit: before creating)."""
        gate = Gate(kind, nth)
        with self._lock:
            self._gates.append(gate)
        return gate

    def finish_all(self) -> None:
        """Make every task created so far Ready now."""
        for task in list(self.api.tasks.values()):
            task.ready_at = 0.0

    @property
    def created(self) -> Counter[str]:
        """prompt -> how many (billed) tasks were created for it."""
        return Counter(str(task.body.get("prompt")) for task in list(self.api.tasks.values()))

    @property
    def total_created(self) -> int:
        """Tasks created (billed) so far."""
        return len(self.server.created_tasks)

    def _gate_for(self, kind: str) -> Gate | None:
        """Count a request of ``kind``; the gate it reaches, if any."""
        with self._lock:
            for candidate in self._gates:
                if candidate.kind == kind and not candidate.reached.is_set():
                    candidate.seen += 1
                    if candidate.seen == candidate.nth:
                        return candidate
        return None

    def _gated(self, kind: str, inner: Handler) -> Handler:
        def handler(exchange: Exchange) -> None:
            gate = self._gate_for(kind)
            if gate is not None and not gate.hold():
                return  # dropped: the connection closes, nothing was done
            inner(exchange)

        return handler

    def _sample(self, exchange: Exchange) -> None:
        gate = self._gate_for("sample-body")
        if gate is None:
            self.api.download(exchange)
            return
        answer = raw_response(200, self.api.sample, content_type="image/png")
        cut = len(answer) - len(self.api.sample) // 2  # headers and half the image
        exchange.write(answer[:cut])
        if gate.hold():
            exchange.write(answer[cut:])
            exchange.keep_alive = True

    def _submit(self, exchange: Exchange) -> None:
        try:
            prompt = str(exchange.request.json().get("prompt"))
        except ValueError:
            prompt = ""
        if BAD_GATEWAY_MARKER in prompt:  # create (and bill) the task, then answer 502
            answer = exchange.respond_json

            def bad_gateway(data: Any, status: int = 200, headers: Any = None) -> None:
                answer({"detail": "Bad Gateway"}, 502)

            exchange.respond_json = bad_gateway  # type: ignore[method-assign]
        self.api.submit(exchange)
