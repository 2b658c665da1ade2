"""What the fake remembers: tasks, requests, webhook deliveries, injected faults.

Pure data and bookkeeping, no web framework: the Starlette app writes here from the server
thread, tests read from theirs, so every shared collection sits behind one lock.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "MASK",
    "SECRET_BODY_FIELDS",
    "SECRET_HEADERS",
    "Delivery",
    "FakeTask",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "Registry",
    "mask_body",
    "mask_headers",
]

MASK = "***"
SECRET_HEADERS = frozenset({"x-key", "x-webhook-secret", "authorization", "cookie"})
SECRET_BODY_FIELDS = frozenset({"webhook_secret"})


@dataclass
class FakeTask:
    """One submitted task. Times are ``time.monotonic()`` seconds; state is computed on read."""

    id: str
    body: dict[str, Any]
    created_at: float
    ready_at: float
    """When the task reaches ``outcome`` (``math.inf`` when the outcome is not final)."""
    outcome: str
    """Where the task ends: Ready, Error, a moderation status, or a scripted status."""
    seed: int
    width: int
    height: int
    output_format: str
    input_mp: float
    output_mp: float
    cost: float
    """Credits charged at submission (and the settled ``cost`` its Ready poll answers)."""
    sample_token: str
    sample_expires_at: float
    message: str | None = None
    """Why the task failed (for ``Error`` and moderation outcomes)."""
    polls: int = 0
    downloads: int = 0
    phases: tuple[tuple[str, float], ...] = ()
    """The running statuses before ``outcome``, in order: (status, monotonic time it ends)."""

    @property
    def duration(self) -> float:
        """Seconds from submission to the final status."""
        return self.ready_at - self.created_at

    @property
    def status(self) -> str:
        """The status a poll would answer now."""
        return self.status_at(time.monotonic())

    @property
    def progress(self) -> float:
        """The progress a poll would answer now (0..1)."""
        return self.progress_at(time.monotonic())

    @property
    def statuses(self) -> list[str]:
        """Every status the task passes through, in order, its outcome last."""
        return [status for status, _ in self.phases] + [self.outcome]

    def status_at(self, now: float) -> str:
        """The running status whose time ``now`` falls in, then the outcome.

        ``ready_at`` is the authority: a test may set it to now to finish a task at once.
        """
        if now >= self.ready_at:
            return self.outcome
        for status, ends_at in self.phases:
            if now < ends_at:
                return status
        return self.outcome

    def progress_at(self, now: float) -> float:
        """Elapsed fraction of the running time, 0..1 (1.0 once past it)."""
        end = self.phases[-1][1] if self.phases else self.ready_at
        span = end - self.created_at
        if now >= min(end, self.ready_at) or span <= 0 or math.isinf(span):
            return 1.0
        return max(0.0, min(1.0, (now - self.created_at) / span))

    def in_flight_at(self, now: float) -> bool:
        """Whether the task counts against the in-flight limit at ``now``."""
        return now < self.ready_at

    @property
    def final(self) -> bool:
        """Whether the task ever reaches a final status."""
        return not math.isinf(self.ready_at)


@dataclass
class RecordedRequest:
    """One request as the fake received it, secrets masked (``x-key`` shows as ``***``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    """Bytes in the body (the raw body is not kept: it would hold the webhook secret)."""
    json: Any
    """The parsed JSON body (secrets masked), or None when absent or unparsable."""
    client: tuple[str, int] | None
    at: float
    status: int | None = None
    """The status answered (None while in progress, or when the connection was dropped)."""
    fault: str | None = None
    """Which injected fault, if any, shaped the answer."""

    @property
    def carried_key(self) -> bool:
        """Whether the request carried an ``x-key`` header (never to the delivery path!)."""
        return "x-key" in self.headers


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery attempt."""

    task_id: str
    url: str
    attempt: int
    """1 for the first attempt, then 2, 3, 4 for the retries (and duplicates)."""
    status_code: int | None
    error: str | None
    at: float
    payload: Mapping[str, Any]
    headers: Mapping[str, str]
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


FaultKind = Literal["status", "drop", "stall", "malformed", "cut"]


@dataclass
class Fault:
    """An injected fault waiting for ``times`` more requests matching method and path."""

    kind: FaultKind
    method: str
    path: str
    times: int
    status: int = 500
    headers: Mapping[str, str] | None = None
    body: Any = None
    create_task: bool = False
    seconds: float = 0.0
    malformed: str = "invalid_json"
    fraction: float = 0.5

    def matches(self, method: str, path: str) -> bool:
        """Method equal (``*`` for any), path equal or matching a ``fnmatch`` glob."""
        method_ok = self.method == "*" or self.method.upper() == method.upper()
        return method_ok and (self.path == path or fnmatch.fnmatchcase(path, self.path))


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased headers with the key and webhook secrets replaced by ``***``."""
    return {k.lower(): (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def mask_body(body: Any) -> Any:
    """The JSON body with ``webhook_secret`` masked (only top-level objects carry secrets)."""
    if isinstance(body, dict):
        return {
            k: (MASK if k in SECRET_BODY_FIELDS and v is not None else v) for k, v in body.items()
        }
    return body


@dataclass
class Registry:
    """The fake's memory, shared between the server thread and the test thread."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    pending: list[FakeTask] = field(default_factory=list)
    """Tasks that may still be in flight (pruned on read, so the limit check stays cheap)."""
    by_token: dict[str, str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    connections: int = 0
    rate_limited: int = 0
    peak_in_flight: int = 0
    """The most tasks in flight at once (counted as each task is created)."""
    spent: float = 0.0
    """Credits charged since the start (or the last reset)."""
    undeliverable: list[str] = field(default_factory=list)
    delivered: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.delivered = threading.Condition(self.lock)

    def add_task(self, task: FakeTask) -> None:
        with self.lock:
            self.tasks[task.id] = task
            self.by_token[task.sample_token] = task.id
            if task.in_flight_at(task.created_at):
                self.pending.append(task)
            now = task.created_at
            self.pending = [t for t in self.pending if t.in_flight_at(now)]
            self.peak_in_flight = max(self.peak_in_flight, len(self.pending))

    def left(self, balance: float) -> float:
        """Credits left of ``balance`` after what was spent (2 decimals, as answered)."""
        with self.lock:
            return round(balance - self.spent, 2)

    def charge(self, cost: float, balance: float) -> bool:
        """Spend ``cost`` if what is left of ``balance`` covers it."""
        with self.lock:
            if cost > self.left(balance) + 1e-9:
                return False
            self.spent += cost
            return True

    def in_flight(self, now: float) -> list[FakeTask]:
        """Tasks still Pending at ``now``."""
        with self.lock:
            self.pending = [t for t in self.pending if t.in_flight_at(now)]
            return list(self.pending)

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def add_delivery(self, delivery: Delivery) -> None:
        with self.delivered:
            self.deliveries.append(delivery)
            self.delivered.notify_all()

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(
        self, method: str, path: str, accept: Callable[[Fault], bool] = lambda f: True
    ) -> Fault | None:
        """Consume one use of the first pending fault that matches, in the order added."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path) and accept(fault):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self.lock:
            self.tasks.clear()
            self.pending.clear()
            self.by_token.clear()
            self.requests.clear()
            self.deliveries.clear()
            self.faults.clear()
            self.undeliverable.clear()
            self.connections = 0
            self.rate_limited = 0
            self.peak_in_flight = 0
            self.spent = 0.0
