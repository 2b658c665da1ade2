"""Resume a task by id: after a crash, a timeout, or in another process.

python examples/resume_task.py [--mock]          # submits, then resumes by id
python examples/resume_task.py TASK_ID           # resumes a task you submitted earlier
"""

from __future__ import annotations

import sys

from _offline import offline_if_requested
from flux_flex import FluxFlex, WaitTimeoutError


def main(task_id: str | None) -> None:
    with FluxFlex() as client:
        if task_id is None:
            job = client.submit("a red fox in fresh snow", output_format="png")
            try:
                job.wait(timeout=0.01)  # far too short, on purpose
            except WaitTimeoutError as exc:
                print(f"not ready yet: {exc}")
                task_id = exc.task_id  # keep this (e.g. in your database)

    # Later, maybe in another process: only the id is needed.
    with FluxFlex() as client:
        job = client.job(task_id)  # pass polling_url= too if you kept it (regional hosts)
        print(f"status now: {client.get_result(task_id).status}")
        result = job.wait(timeout=300)
        print(f"saved {result.save('out/resumed.png')}")


if __name__ == "__main__":
    with offline_if_requested():
        main(sys.argv[1] if len(sys.argv) > 1 else None)
