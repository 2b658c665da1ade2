"""The fake API in its own process, driven over stdin/stdout by the benchmarks.

Running ``FakeBFL`` in a child process keeps the client's process to the client alone: its
CPU time is the client's (benchmark 1), and the fake's server thread never competes with the
client for the GIL (benchmarks 2 and 3). Task timestamps stay comparable across processes
because ``time.monotonic`` is the system-wide ``CLOCK_MONOTONIC`` on Linux.

Protocol: the child prints one JSON line ``{"base_url", "api_key"}``; then for every JSON
command line on stdin it prints one JSON answer line. Commands:
``{"cmd": "mark"}`` -> ``{"mark": n}`` (number of requests recorded so far);
``{"cmd": "snapshot", "since": n, "task_ids": [...]}`` -> request counts since mark ``n``,
GETs of ``/v1/get_result`` per task id, timestamps of the given tasks, connections opened,
webhook deliveries. EOF on stdin stops the fake.

A task's duration comes from its prompt: ``[bench-seconds=0.25]`` anywhere in it (else 0).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

DURATION_MARK = re.compile(r"\[bench-seconds=([0-9.]+)\]")
API_KEY = "bench-key"


def task_seconds_from_prompt(body: Mapping[str, Any]) -> float:
    """The task duration written in the prompt by the benchmark (0 when absent)."""
    prompt = body.get("prompt")
    found = DURATION_MARK.search(prompt) if isinstance(prompt, str) else None
    return float(found.group(1)) if found else 0.0


def prompt_lasting(seconds: float, label: str = "bench") -> str:
    """A prompt that makes the fake take ``seconds`` to finish the task."""
    return f"{label} [bench-seconds={seconds:.6f}]"


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def _task_id_of(record: Any) -> str | None:
    query = _field(record, "query")
    if isinstance(query, Mapping):
        value = query.get("id")
        if isinstance(value, list):
            return str(value[0]) if value else None
        return None if value is None else str(value)
    if isinstance(query, str):
        values = parse_qs(query.lstrip("?")).get("id")
        return values[0] if values else None
    return None


def _tasks_table(fake: Any) -> Mapping[str, Any]:
    tasks = fake.tasks
    return tasks if isinstance(tasks, Mapping) else {_field(t, "id"): t for t in tasks}


def snapshot(fake: Any, since: int, task_ids: list[str]) -> dict[str, Any]:
    """What the fake saw since request number ``since``, and the given tasks' timestamps."""
    records = list(fake.requests)[since:]
    by_route: Counter[str] = Counter()
    gets_by_task: Counter[str] = Counter()
    poll_times: dict[str, list[float]] = {}
    statuses: Counter[str] = Counter()
    for record in records:
        method, path = str(_field(record, "method")).upper(), str(_field(record, "path"))
        by_route[f"{method} {path}"] += 1
        status = _field(record, "status") or _field(record, "status_code")
        if status is not None:
            statuses[str(status)] += 1
        if method == "GET" and path.endswith("/get_result"):
            task_id = _task_id_of(record)
            if task_id is not None:
                gets_by_task[task_id] += 1
                at = _field(record, "at")
                if isinstance(at, int | float):
                    poll_times.setdefault(task_id, []).append(float(at))
    table = _tasks_table(fake)
    tasks = {}
    for task_id in task_ids:
        task = table.get(task_id)
        if task is not None:
            tasks[task_id] = {
                "created_at": _field(task, "created_at"),
                "ready_at": _field(task, "ready_at"),
                "poll_times": poll_times.get(task_id, []),
            }
    deliveries = getattr(fake, "deliveries", None)
    return {
        "requests": len(records),
        "by_route": dict(by_route),
        "statuses": dict(statuses),
        "gets_by_task": dict(gets_by_task),
        "tasks": tasks,
        "task_count": len(table),
        "rate_limited_total": getattr(fake, "rate_limited", None),
        "connections": getattr(fake, "connections", None),
        "deliveries": None if deliveries is None else len(list(deliveries)),
    }


def main() -> int:
    """Serve the fake until stdin closes (see the module docstring)."""
    from flux_flex.testing import FakeBFL

    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    with FakeBFL(
        task_seconds=task_seconds_from_prompt,
        api_key=API_KEY,
        max_in_flight=int(config.get("max_in_flight", 24)),
        webhook_retry_scale=float(config.get("webhook_retry_scale", 0.01)),
    ) as fake:
        print(json.dumps({"base_url": fake.base_url, "api_key": fake.api_key}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command["cmd"] == "mark":
                answer: dict[str, Any] = {"mark": len(fake.requests)}
            elif command["cmd"] == "snapshot":
                answer = snapshot(fake, int(command["since"]), list(command.get("task_ids", [])))
            else:
                answer = {"error": f"unknown command {command['cmd']!r}"}
            print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
