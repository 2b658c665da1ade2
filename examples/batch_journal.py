"""A batch that survives being stopped: run it, stop it (Ctrl-C), run it again.

python examples/batch_journal.py [--mock]

The journal (out/tasks.sqlite) makes the second run resume: saved images are skipped, tasks
already created are waited for by id, nothing is paid twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _offline import offline_if_requested
from flux_flex import FluxFlex, Journal, TaskUncertainError

JOURNAL = "out/tasks.sqlite"


def main() -> int:
    requests = [{"prompt": f"a red fox, style {n}", "save_to": f"out/fox{n}.png"} for n in range(6)]
    with FluxFlex() as client:
        outcomes = client.generate_many(requests, journal=JOURNAL)  # run it again: it resumes

    for request, outcome in zip(requests, outcomes, strict=True):
        if isinstance(outcome, TaskUncertainError):  # its answer was lost: may be billed
            print(f"uncertain: {outcome.prompt!r} (resubmit_uncertain=True to send it again)")
        elif isinstance(outcome, BaseException):
            print(f"failed: {request['prompt']!r}: {outcome}")
        else:
            print(f"saved: {outcome.path} (task {outcome.id})")

    with Journal(JOURNAL) as journal:
        print(journal.counts())  # {'submitting': 0, 'submitted': 0, 'saved': 6, 'failed': 0}
    return 0


if __name__ == "__main__":
    Path("out").mkdir(exist_ok=True)  # the examples save their images in ./out/
    with offline_if_requested():
        sys.exit(main())
