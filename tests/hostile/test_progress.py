"""Only finite progress in 0..1 reaches ``on_progress``, whatever numbers the server lies with."""

from __future__ import annotations

import math
from typing import Any

from flux_flex import TaskSnapshot

from tests.clients import Flavour
from tests.hostile import POLL, Api, HostileServer, handlers
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE, KEY

# Written as raw JSON text: NaN, Infinity and 1e309 (an overflow to infinity) are what a
# careless server emits; json.loads accepts them all.
LIES = ["NaN", "Infinity", "-Infinity", "-1", '"50%"', "1e309", "-1e309", "150", "true"]
PENDING = '{"id": "task-1", "status": "Pending", "progress": %s}'
READY = '{"id": "task-1", "status": "Ready", "result": {"sample": "%s/samples/task-1.png"}}'


def lying_polls(server: HostileServer) -> None:
    answers = [PENDING % lie for lie in LIES] + [READY % server.url]
    server.route("GET", POLL, handlers.poll_answers(*answers))


def assert_sane(seen: list[TaskSnapshot]) -> None:
    assert len(seen) == len(LIES) + 1  # one report per poll: the lies were not errors
    for snapshot in seen:
        p = snapshot.progress
        assert p is None or (isinstance(p, float) and math.isfinite(p) and 0 <= p <= 1), p
    assert seen[-1].status == "Ready"
    assert seen[-1].progress is None or seen[-1].progress == 1.0


def test_lying_progress_never_reaches_on_progress(
    server: HostileServer, api: Api, flavour: Flavour
) -> None:
    # For both clients (the `flavour` fixture of tests/conftest.py).
    lying_polls(server)
    seen: list[TaskSnapshot] = []
    settings: dict[str, Any] = {"poll_schedule": FAST_SCHEDULE, "retry": FAST_RETRY}
    with flavour.client(api_key=KEY, base_url=server.url, **settings) as c:
        result = c.job("task-1").wait(timeout=10, on_progress=seen.append)
        assert result.id == "task-1"
        server.route("GET", POLL, handlers.raw_json(PENDING % "NaN"))
        assert c.get_result("task-1").progress is None
    assert_sane(seen)
    assert [s.progress for s in seen[:2]] == [None, None]  # NaN and Infinity: no news
