"""``flux-flex webhook-listen --journal URL --out-dir D`` as real processes: two listeners on
one journal handle a delivery once and save its image once; 503 while the journal cannot be
reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from flux_flex import Journal
from flux_flex._core.journal import State
from flux_flex.webhooks import SIGNATURE_HEADER, sign

from tests.cli.conftest import invoke
from tests.cli.test_servers import stop, wait_for_port
from tests.hostile import HostileServer
from tests.postgres import free_port

SECRET = "listen-journal-secret-0123"


def listen(*args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    command = [sys.executable, "-m", "flux_flex.cli", "webhook-listen", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--secret-env", "HOOK_SECRET", *args],
        env={**os.environ, "HOOK_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_port(port, timeout=60)
    return proc, f"http://127.0.0.1:{port}/"


def post(url: str, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    headers = {SIGNATURE_HEADER: sign(body, SECRET)}
    return httpx.post(url, content=body, headers=headers, timeout=30).status_code


def test_two_listeners_on_one_journal_save_each_image_once(tmp_path: Path) -> None:
    # The command's wiring (both stores are covered in-process: test_webhook_receivers.py).
    target = str(tmp_path / "tasks.sqlite")
    with HostileServer() as samples:
        samples.api(key="unused-key-0123")
        sample = f"{samples.url}/samples/t1.png?signature=abc"
        payload = {"id": "t1", "status": "Ready", "result": {"sample": sample, "seed": 1}}
        Journal(target).close()
        listeners = [
            listen("--journal", target, "--out-dir", str(tmp_path / f"out{n}")) for n in range(2)
        ]
        try:
            codes = [post(url, payload) for _ in range(2) for _, url in listeners]
            with Journal(target) as journal:  # the image is saved after the answer
                for _ in range(100):
                    entry = journal.entry_for_task("t1")
                    if entry is not None and entry.state is State.SAVED:
                        break
                    journal.wait_for_change(timeout=0.2)
        finally:
            outputs = [stop(proc) for proc, _ in listeners]
        assert codes == [200, 200, 200, 200]
        assert samples.count("GET", "/samples/*") == 1
    out = "".join(stdout for stdout, _ in outputs)
    assert out.count("t1 saved -> ") == 1, outputs
    saved = sorted((tmp_path / "out0").glob("*.png")) + sorted((tmp_path / "out1").glob("*.png"))
    assert [p.name for p in saved] == ["t1.png"]
    assert entry is not None
    assert entry.path == str(saved[0])
    assert SECRET not in "".join(out + err for out, err in outputs)
    assert all(proc.returncode == 0 for proc, _ in listeners)


def test_a_listener_whose_journal_is_unreachable_answers_503(tmp_path: Path) -> None:
    closed = f"postgresql://flux:hunter2@127.0.0.1:{free_port()}/flux"
    proc, url = listen("--journal", closed, "--out-dir", str(tmp_path / "out"))
    try:
        code = post(url, {"id": "t1", "status": "Ready", "result": {"sample": "https://x/y"}})
    finally:
        out, err = stop(proc)
    assert code == 503
    assert "cannot be reached" in out
    assert "hunter2" not in out + err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_out_dir_without_a_journal_and_a_bad_journal_are_usage_errors(tmp_path: Path) -> None:
    base = ["webhook-listen", "--port", "0", "--secret-env", "HOOK_SECRET"]
    env = {"HOOK_SECRET": SECRET}
    alone = invoke([*base, "--out-dir", str(tmp_path / "out")], env)
    assert alone.exit_code == 2
    assert "--out-dir needs --journal" in alone.stderr
    unknown = invoke([*base, "--journal", "mysql://db/flux"], env)
    assert unknown.exit_code != 0
    assert "mysql" in unknown.stderr
    assert not (tmp_path / "out").exists()
