"""`KillableApi`: the toolkit's well-behaved API with kill points, to kill a real client at
an exact moment and count what it was billed for.

Not our fake (which agrees with the client by construction): `Api` on a `HostileServer`,
plus what killing a client needs. A gate holds the n-th request (from the gate's creation)
reaching one of the `KILL_POINTS` until the test has killed the client:

``submit``
    a POST arrived; its task does not exist yet (a kill here costs nothing).
``submit-created``
    a POST created (and billed) its task; the answer naming it is not sent yet.
``poll``
    a poll arrived, before any byte of its answer.
``sample``
    a sample download arrived, before any byte of its answer.
``sample-body``
    a sample download got its headers and half the image (the client writes its ``.part``).

Prompts carrying `BAD_GATEWAY_MARKER` have their task created (and billed), then get a 502.
``created`` counts the tasks per prompt, ``total_created`` all of them::

    with KillableApi(task_seconds=0.05) as api:
        gate = api.hold("poll", 3)          # the 3rd poll from now is held ...
        ...start the client (api.url, api.key)...
        gate.wait_reached()                 # ... the client waits for its answer
        process.kill()
        gate.drop()                         # the held request ends, unanswered
        assert max(api.created.values()) <= 1
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from tests.hostile.api import POLL, SAMPLES, SUBMIT, Api, Task
from tests.hostile.images import png
from tests.hostile.server import Exchange, HostileServer, raw_response

__all__ = ["BAD_GATEWAY_MARKER", "KILL_POINTS", "Gate", "KillableApi"]

KILL_POINTS = ("submit", "submit-created", "poll", "sample", "sample-body")
BAD_GATEWAY_MARKER = "[502-after-create]"
KEY = "kill-test-key"


class Gate:
    """Holds the ``nth`` request reaching the kill point ``kind``, once.

    The test waits for it (`wait_reached`, or the `reached` event), kills the client, then
    lets the request go: `drop` (it ends unanswered, nothing more done) or `release` (it
    goes on as if never held). A gate dropped or released before it was reached holds
    nothing.
    """

    def __init__(self, kind: str, nth: int) -> None:
        self.kind = kind
        self.nth = nth
        self.seen = 0
        self.reached = threading.Event()
        """Set when the held request has arrived."""
        self._opened = threading.Event()
        self._dropped = False

    def wait_reached(self, timeout: float = 20.0) -> None:
        """Block until the held request has arrived (AssertionError after ``timeout``)."""
        assert self.reached.wait(timeout), f"the {self.kind} #{self.nth} never came"

    def drop(self) -> None:
        """Let the held request end without an answer or anything more (the client is gone)."""
        self._dropped = True
        self._opened.set()

    def release(self) -> None:
        """Let the held request be processed and answered normally."""
        self._opened.set()

    @property
    def waiting(self) -> bool:
        """Still counting requests: neither reached nor let go."""
        return not self.reached.is_set() and not self._opened.is_set()

    def block(self) -> bool:
        """In the server: hold this request until the test lets it go; True when it should go
        on (`release`), False when it ends here (`drop`)."""
        self.reached.set()
        self._opened.wait(60)
        return not self._dropped


class KillableApi:
    """`tests.hostile`'s `Api` on a `HostileServer`, with kill points. See the module docstring.

    ``key``: the API key required. ``settled_cost``: the cost Ready answers report
    (submissions say 5.0). ``sample``: the image every task makes (default: 96x96 random
    pixels, about 28 KB, so a download streams in several chunks).
    """

    def __init__(
        self,
        *,
        task_seconds: float = 0.05,
        key: str = KEY,
        settled_cost: float = 5.0,
        sample: bytes | None = None,
    ) -> None:
        self.key = key
        self.server = HostileServer()
        self.api: Api = self.server.api(
            key=key,
            task_seconds=task_seconds,
            settled_cost=settled_cost,
            sample=sample if sample is not None else png(96, 96, noise=True),
        )
        self._lock = threading.Lock()
        self._gates: list[Gate] = []
        self.server.route("POST", SUBMIT, self._submit)
        self.server.route("GET", POLL, self._poll)
        self.server.route("GET", SAMPLES + "*", self._sample)

    def __enter__(self) -> KillableApi:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for gate in self._gates:
            gate.drop()
        self.server.close()

    # -- where it is, what it does ------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL (``BFL_BASE_URL``)."""
        return self.server.url

    @property
    def sample(self) -> bytes:
        """The image bytes every task makes."""
        return self.api.sample

    @property
    def task_seconds(self) -> Any:
        """How long each new task runs."""
        return self.api.task_seconds

    @task_seconds.setter
    def task_seconds(self, value: float) -> None:
        self.api.task_seconds = value

    def finish_all(self) -> None:
        """Make every task created so far Ready now."""
        for task in list(self.api.tasks.values()):
            task.ready_at = 0.0

    # -- kill points --------------------------------------------------------------------------
    def hold(self, kind: str, nth: int) -> Gate:
        """A gate holding the ``nth`` request from now on that reaches ``kind`` (one of
        `KILL_POINTS`)."""
        assert kind in KILL_POINTS, f"{kind!r} is not one of {KILL_POINTS}"
        assert nth >= 1
        gate = Gate(kind, nth)
        with self._lock:
            self._gates.append(gate)
        return gate

    # -- what was billed ----------------------------------------------------------------------
    @property
    def tasks(self) -> dict[str, Task]:
        """The tasks created so far, by id."""
        return dict(self.api.tasks)

    @property
    def created(self) -> Counter[str]:
        """prompt -> how many (billed) tasks were created for it."""
        return Counter(str(task.body.get("prompt")) for task in self.tasks.values())

    @property
    def total_created(self) -> int:
        """Tasks created (billed) so far."""
        return len(self.server.created_tasks)

    # -- the routes ---------------------------------------------------------------------------
    def _passes(self, kind: str) -> bool:
        """Count a request reaching ``kind``; if it is a gate's, hold it there. False when
        the request ends here (its gate was dropped)."""
        held = None
        with self._lock:
            for gate in self._gates:
                if gate.kind == kind and gate.waiting:
                    gate.seen += 1
                    if gate.seen == gate.nth and held is None:
                        held = gate
        return held is None or held.block()

    def _submit(self, exchange: Exchange) -> None:
        if not self._passes("submit"):
            return
        task = self.api.create(exchange)
        if task is None or not self._passes("submit-created"):
            return
        if BAD_GATEWAY_MARKER in str(task.body.get("prompt")):
            exchange.respond_json({"detail": "Bad Gateway"}, 502)  # created, billed, unnamed
        else:
            exchange.respond_json(self.api.accepted(task))

    def _poll(self, exchange: Exchange) -> None:
        if self._passes("poll"):
            self.api.poll(exchange)

    def _sample(self, exchange: Exchange) -> None:
        if not self._passes("sample"):
            return
        answer = raw_response(200, self.sample, content_type="image/png")
        cut = len(answer) - len(self.sample) // 2  # the headers and half the image
        if not exchange.write(answer[:cut]) or not self._passes("sample-body"):
            return
        if exchange.write(answer[cut:]):
            exchange.keep_alive = True
