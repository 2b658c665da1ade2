"""Issue 20, "Done when" 4: receivers behind a proxy.

Three `flux-flex webhook-listen --journal URL --out-dir D` processes run behind a
round-robin load balancer (the harness's, standard library; per request). The fake sends
each delivery three times (``duplicate_webhooks=2``), so copies of one event reach
different receivers. Each
task's final event is handled exactly once, each image is downloaded once, and a waiter in a
fourth process (``job.wait(webhook=JournalDeliveries(URL))``) wakes from the journal
without polling the API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cli.test_servers import stop
from tests.cluster.harness import (
    FakeApi,
    RoundRobinProxy,
    finish,
    journal_counts,
    running,
    wait_for_port,
    wait_until,
)
from tests.postgres import free_port

SECRET = "proxy-test-webhook-secret-0123"
TASKS = 4

# The fourth process: submits with the proxy as webhook, then waits for each task through
# the journal the receivers write (polling only after 60 s of silence: never, here).
WAITER = """
import json, sys
from flux_flex import FluxFlex
from flux_flex.webhooks import JournalDeliveries

journal, hook, secret, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
source = JournalDeliveries(journal)
with FluxFlex() as client:
    jobs = [
        client.submit(f"receiver fox {n}", webhook_url=hook, webhook_secret=secret)
        for n in range(count)
    ]
    print(json.dumps({"submitted": [job.id for job in jobs]}), flush=True)
    done = [job.wait(timeout=60, webhook=source, webhook_grace=60) for job in jobs]
print(json.dumps({"woke": [result.id for result in done]}), flush=True)
"""


def _copies(seen: dict[str, Any], task_ids: list[str]) -> int:
    """The fewest deliveries any of ``task_ids`` got so far."""
    return min(int(seen["deliveries"].get(task_id, 0)) for task_id in task_ids)


def _saved(journal: str) -> int:
    return journal_counts(journal).get("saved", 0)


def listener(journal: str, out: Path, cwd: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    command = [sys.executable, "-m", "flux_flex.cli", "webhook-listen", "--port", str(port)]
    command += ["--secret-env", "HOOK_SECRET", "--journal", journal, "--out-dir", str(out)]
    proc = subprocess.Popen(
        command,
        env={**os.environ, "HOOK_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    return proc, port


def test_three_receivers_behind_a_proxy_handle_each_event_once(
    journal_url: str, tmp_path: Path
) -> None:
    folders = [tmp_path / f"receiver{i}" for i in range(3)]
    started = [listener(journal_url, folder, tmp_path) for folder in folders]
    procs = [proc for proc, _ in started]
    with running(*procs):
        for proc, port in started:
            wait_for_port(port, proc)
        backends = [("127.0.0.1", port) for _, port in started]
        with (
            RoundRobinProxy(backends) as proxy,
            FakeApi(task_seconds=0.5, duplicate_webhooks=2, webhook_retry_scale=0.01) as fake,
        ):
            waiter = subprocess.Popen(
                [sys.executable, "-c", WAITER, journal_url, f"{proxy.url}/", SECRET, str(TASKS)],
                env=fake.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
            with running(waiter):
                code, out, err = finish(waiter, timeout=120)
            assert code == 0, f"{out}\n{err}"
            submitted = json.loads(out.splitlines()[0])["submitted"]
            assert json.loads(out.splitlines()[-1])["woke"] == submitted
            # The copies go out after the first answer: wait for all three of each, then
            # for each image saved.
            wait_until(lambda: _copies(fake.stats(), submitted) >= 3, timeout=60)
            wait_until(lambda: _saved(journal_url) == len(submitted), timeout=60)
            seen = fake.stats()
            spread = list(proxy.requests)
        outputs = [stop(proc) for proc in procs]

    assert sorted(seen["deliveries"]) == sorted(submitted)
    assert all(count >= 3 for count in seen["deliveries"].values())  # each sent three times
    assert all(spread), spread  # every receiver got deliveries
    assert set(seen["downloads"].values()) == {1}  # each image downloaded once
    assert sum(seen["polls"].values()) == 0  # the waiter woke from the journal
    handled = "".join(stdout for stdout, _ in outputs)
    for task_id in submitted:
        assert handled.count(f"{task_id} saved -> ") == 1, outputs  # handled once
    saved = sorted(p.stem for folder in folders if folder.is_dir() for p in folder.iterdir())
    assert saved == sorted(submitted)  # one image each, named by its task id
    assert SECRET not in handled + "".join(stderr for _, stderr in outputs)
