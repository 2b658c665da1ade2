"""The fake API in a child process, for the cluster tests and benches (`FakeApi` drives it).

``python -m tests.cluster.fake_child '{"max_in_flight": 24, ...}'``: the JSON holds
`FakeBFL`'s keyword arguments (``task_seconds`` a number). A prompt carrying
``[seconds=2.5]`` runs that long instead. The child prints one JSON line
``{"base_url", "api_key"}``, then answers each JSON command line on stdin with one line:

``{"cmd": "stats"}``
    what the fake saw: POSTs, created (billed) tasks, polls and downloads per prompt, 429
    answers, the peak of tasks running at once, webhook deliveries per task, and requests
    not answered (yet), by method and path (``GET /delivery/<token>`` counts as
    ``GET /delivery``).
``{"cmd": "stall", "method": "GET", "path": "/v1/get_result", "seconds": 5, "times": 1}``
    hold the next matching requests that long (the fake's stall fault).
``{"cmd": "spans"}``
    the tasks' count, the first one's creation and the last one's final status
    (``time.monotonic`` seconds).
``{"cmd": "clear"}``
    drop the stalls not used yet.
``{"cmd": "set", "name": "task_seconds", "value": 0.1}``
    change a setting of the running fake.

EOF on stdin stops the fake. The peak is computed from the tasks' own times: a task runs
from its creation until its final status (``FakeTask.in_flight_at``), which is what the
fake's in-flight limit counts too.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

SECONDS_MARK = re.compile(r"\[seconds=([0-9.]+)\]")
SUBMIT = "/v1/flux-2-flex"


def prompt_lasting(seconds: float, text: str) -> str:
    """A prompt whose task runs ``seconds`` on this fake."""
    return f"{text} [seconds={seconds:g}]"


def _seconds(default: float) -> Any:
    def task_seconds(body: Mapping[str, Any]) -> float:
        prompt = body.get("prompt")
        found = SECONDS_MARK.search(prompt) if isinstance(prompt, str) else None
        return float(found.group(1)) if found else default

    return task_seconds


def peak_running(intervals: list[tuple[float, float]]) -> int:
    """The most intervals ``[start, end)`` overlapping at one moment."""
    events = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    peak = running = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
        running += step
        peak = max(peak, running)
    return peak


def stats(fake: Any) -> dict[str, Any]:
    """What the fake has seen so far (see the module docstring)."""
    posts: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    for record in fake.requests:
        if record.method == "POST" and record.path == SUBMIT:
            prompt = record.json.get("prompt") if isinstance(record.json, dict) else None
            posts[str(prompt)] += 1
        if record.status is None:
            path = "/delivery" if record.path.startswith("/delivery/") else record.path
            unanswered[f"{record.method} {path}"] += 1
    tasks = list(fake.tasks.values())
    created: Counter[str] = Counter(str(t.body.get("prompt")) for t in tasks)
    downloads: Counter[str] = Counter()
    polls: Counter[str] = Counter()
    for task in tasks:
        downloads[str(task.body.get("prompt"))] += task.downloads
        polls[str(task.body.get("prompt"))] += task.polls
    deliveries: Counter[str] = Counter(d.task_id for d in fake.deliveries)
    return {
        "posts": dict(posts),
        "created": dict(created),
        "task_ids": {t.id: str(t.body.get("prompt")) for t in tasks},
        "rate_limited": fake.rate_limited,
        "peak_running": peak_running([(t.created_at, t.ready_at) for t in tasks]),
        "downloads": dict(downloads),
        "polls": dict(polls),
        "deliveries": dict(deliveries),
        "unanswered": dict(unanswered),
    }


def main() -> int:
    """Serve the fake until stdin closes."""
    from flux_flex.testing import FakeBFL

    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    config["task_seconds"] = _seconds(float(config.get("task_seconds", 0.2)))
    with FakeBFL(**config) as fake:
        print(json.dumps({"base_url": fake.base_url, "api_key": fake.api_key}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            answer: dict[str, Any] = {"ok": True}
            if command["cmd"] == "stats":
                answer = stats(fake)
            elif command["cmd"] == "stall":
                fake.stall_next(
                    command["method"], command["path"], command["seconds"], command.get("times", 1)
                )
            elif command["cmd"] == "spans":
                times = [(t.created_at, t.ready_at) for t in fake.tasks.values()]
                answer = {
                    "count": len(times),
                    "first_created": min((c for c, _ in times), default=None),
                    "last_final": max((r for _, r in times), default=None),
                }
            elif command["cmd"] == "clear":
                fake.clear_faults()
            elif command["cmd"] == "set":
                value = command["value"]
                if command["name"] == "task_seconds":
                    value = _seconds(float(value))
                setattr(fake.config, command["name"], value)
            else:
                answer = {"error": f"unknown command {command['cmd']!r}"}
            print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
