"""`flux_flex.reconcile` and ``flux-flex reconcile`` on both stores: an overdue task of a dead
owner is polled, saved and settled once, whatever the number of reconcilers; uncertain
submissions are listed with the command that resends them; the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flux_flex import FluxFlex, Journal, reconcile
from flux_flex._core import journal as rules
from flux_flex._core.journal import State

from tests.hostile import HostileServer

from .conftest import claim

KEY = "reconcile-test-key-0123"
SUBMIT = "/v1/flux-2-flex"


@pytest.fixture
def api() -> Iterator[HostileServer]:
    with HostileServer() as server:
        server.api(key=KEY, task_seconds=0.2)
        yield server


def client_for(server: HostileServer) -> FluxFlex:
    return FluxFlex(api_key=KEY, base_url=server.url)


def orphans(target: str, server: HostileServer, count: int) -> list[str]:
    """``count`` tasks really submitted, whose worker died after recording them."""
    names = [f"line{n}" for n in range(count)]
    with Journal(target) as journal, client_for(server) as client:
        dead = journal.open_run()
        for name in names:
            claim(journal, name, dead)
            job = client.submit(f"prompt {name}")
            assert journal.record(name, 1, rules.Accepted(job.id, job.polling_url), owner=dead)
        journal.close_run(dead)  # the worker is gone
    return names


def test_an_overdue_task_of_a_dead_owner_is_saved_and_settled(
    target: str, tmp_path: Path, api: HostileServer
) -> None:
    (name,) = orphans(target, api, 1)
    with client_for(api) as client:
        report = reconcile(target, tmp_path / "out", client=client, timeout=30)
    assert report.ok
    assert [item.entry.fingerprint for item in report.saved] == [name]
    with Journal(target) as journal:
        entry = journal.entry(name)
        assert entry is not None
        assert (entry.state, entry.host) == (State.SAVED, journal.host)
        assert entry.path == str(tmp_path / "out" / f"{entry.task_id}.png")
        assert Path(entry.path).is_file()
    with client_for(api) as client:  # a second run finds nothing to do
        again = reconcile(target, tmp_path / "out", client=client, timeout=30)
    assert (again.ok, again.saved) == (True, [])
    assert api.count("GET", "/samples/*") == 1


def test_two_reconcilers_at_once_download_each_image_once(
    target: str, tmp_path: Path, api: HostileServer
) -> None:
    names = orphans(target, api, 6)
    reconcilers = [
        start_cli(
            "--journal", target, "--out-dir", str(tmp_path / f"r{n}"), "--json", base_url=api.url
        )
        for n in range(2)
    ]
    outcomes = [proc.communicate(timeout=120) for proc in reconcilers]
    assert [proc.returncode for proc in reconcilers] == [0, 0], outcomes
    reports = [json.loads(out) for out, _ in outcomes]
    saved = sorted(item["name"] for report in reports for item in report["saved"])
    assert saved == sorted(names)  # each task settled by exactly one of them
    assert api.count("GET", "/samples/*") == len(names)  # each image downloaded once
    assert api.count("POST", SUBMIT) == len(names)  # nothing was submitted again
    files = [p.name for n in range(2) for p in (tmp_path / f"r{n}").glob("*.png")]
    assert len(files) == len(names)


def test_a_task_a_live_worker_holds_is_waited_for_then_listed_as_running(
    target: str, tmp_path: Path, api: HostileServer
) -> None:
    with Journal(target) as journal:
        live = journal.open_run()
        claim(journal, "held", live)
        journal.record("held", 1, rules.Accepted("t-held"), owner=live)
        with client_for(api) as client:
            report = reconcile(target, tmp_path / "out", client=client, timeout=0.5)
        assert [item.entry.fingerprint for item in report.running] == ["held"]
        assert not report.ok
        # Overdue (after 0 s): taken over, but the API no longer knows the task.
        with client_for(api) as client:
            late = reconcile(target, tmp_path / "out", client=client, after=0, timeout=10)
        assert [item.entry.fingerprint for item in late.failed] == ["held"]
        assert "does not know this task" in (late.failed[0].error or "")


def start_cli(*args: str, base_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BFL_API_KEY": KEY}
    env.pop("BFL_BASE_URL", None)
    command = [sys.executable, "-m", "flux_flex.cli", "reconcile", *args, "--base-url", base_url]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_cli(*args: str, base_url: str) -> subprocess.CompletedProcess[str]:
    proc = start_cli(*args, base_url=base_url)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_command_lists_uncertain_submissions_and_exits_1_until_settled(
    tmp_path: Path, api: HostileServer
) -> None:
    target = str(tmp_path / "tasks.sqlite")  # the command's wiring: one store is enough
    orphans(target, api, 1)
    with Journal(target) as journal:
        dead = journal.open_run()
        journal.claim(
            "sent",
            prompt="a red fox",
            params={"width": 512, "seed": 3},
            save_to="/w/out/fox.png",
            owner=dead,
        )  # sent, never answered
        journal.close_run(dead)
    args = ("--journal", target, "--out-dir", str(tmp_path / "out"), "--timeout", "30")
    first = run_cli(*args, base_url=api.url)
    assert first.returncode == 1, first.stderr
    assert "saved " in first.stdout
    expected = "flux-flex generate 'a red fox' -o /w/out/fox.png --width 512 --seed 3 --journal "
    assert expected in first.stdout
    assert "--resubmit-uncertain" in first.stdout
    assert "1 saved, 0 failed, 0 running, 1 uncertain" in first.stderr
    with Journal(target) as journal:
        assert journal.forget("sent")  # decided: the user checked their tasks
    second = run_cli(*args, "--json", base_url=api.url)
    assert second.returncode == 0, second.stderr
    assert '"ok": true' in second.stdout
    assert api.count("POST", SUBMIT) == 1
