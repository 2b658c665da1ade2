"""Resume a task by id: after a crash, a timeout, or in another process.

python examples/resume_task.py [--mock]     # submits, gives up waiting, resumes by id
python examples/resume_task.py TASK_ID      # resumes a task you submitted earlier
"""

from __future__ import annotations

import sys

from _offline import offline_if_requested
from flux_flex import FluxFlex, WaitTimeoutError


def submit_without_waiting() -> str:
    with FluxFlex() as client:
        job = client.submit("a red fox in fresh snow", output_format="png")
        try:
            job.wait(timeout=0.01)  # far too short, on purpose
        except WaitTimeoutError as exc:
            print(f"not ready yet: {exc}")  # the message names the task id
        return job.id  # keep it (e.g. in your database); it is all you need to resume


def resume(task_id: str) -> None:
    with FluxFlex() as client:
        print(f"status now: {client.get_result(task_id).status}")  # one poll, no waiting
        job = client.job(task_id)  # pass polling_url= too if you kept it (regional hosts)
        result = job.wait(timeout=300)
        print(f"saved {result.save('out/resumed.png')}")


if __name__ == "__main__":
    with offline_if_requested():
        if len(sys.argv) > 1:
            resume(sys.argv[1])  # an id from an earlier run
        else:
            resume(submit_without_waiting())
