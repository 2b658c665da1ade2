"""A server that echoes secrets: every answer (the submission's, each poll's, Ready and
Error alike) repeats the API key and the webhook secret, whole and cut. Nothing the library
keeps or shows may hold either, nor any 8-character run of them: results, task errors and
their ``payload``, progress snapshots, reprs, logs, the journal; and in the CLI, stderr and
``--json`` of ``generate`` and ``batch``, and ``flux-flex tasks``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.clients import Flavour
from tests.hostile import POLL, SUBMIT, Api, HostileServer
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE
from tests.hostile.server import Exchange
from tests.journal.test_secrets import every_cell

KEY = "sk-live-Q7vX2mPz9RtK4wLs"
SECRET = "whsec-H3nB8cYd6FjU1eTq"
RUN = 8
HOOK: dict[str, Any] = {"webhook_url": "https://hooks.example/flux", "webhook_secret": SECRET}


def fragments(*secrets: str) -> set[str]:
    return {s[i : i + RUN] for s in secrets for i in range(len(s) - RUN + 1)}


def leaks(text: str, *secrets: str) -> list[str]:
    return sorted(f for f in fragments(*(secrets or (KEY, SECRET))) if f in text)


def echo() -> dict[str, Any]:
    return {"echo": SECRET, "key": KEY, "cut": SECRET[3:14], "cut_key": KEY[2:12]}


def echoing(server: HostileServer) -> Api:
    """The API, answering with the secrets echoed everywhere; a prompt with "fail" in it
    ends in Error."""
    api = server.api(key=KEY)

    def submit(exchange: Exchange) -> None:
        task = api.create(exchange)
        if task is not None:
            exchange.respond_json({**api.accepted(task), **echo()})

    def poll(exchange: Exchange) -> None:
        task = api.tasks[exchange.query.get("id", "")]
        polls = task.body.setdefault("_polls", 0) + 1  # type: ignore[attr-defined]
        task.body["_polls"] = polls  # type: ignore[index]
        if polls < 2:
            answer = {"id": task.id, "status": "Pending", "progress": 0.5, "details": echo()}
        elif "fail" in str(task.body.get("prompt")):
            answer = {"id": task.id, "status": "Error", "details": echo()}
        else:
            sample = f"{server.url}/samples/{task.id}.png"
            result = {"sample": sample, "prompt": f"{task.body.get('prompt')} {SECRET}", **echo()}
            answer = {"id": task.id, "status": "Ready", "result": result, **echo()}
        exchange.respond_json(answer)

    server.route("POST", SUBMIT, submit)
    server.route("GET", POLL, poll)
    return api


def test_nothing_kept_or_shown_holds_a_secret(
    server: HostileServer, flavour: Flavour, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    echoing(server)
    journal = tmp_path / "tasks.sqlite"
    snapshots: list[Any] = []
    requests = [
        {"prompt": "a fox", "save_to": str(tmp_path / "fox.png"), **HOOK},
        {"prompt": "a failing fox", **HOOK},
    ]
    caplog.set_level(logging.DEBUG)
    client = flavour.client(
        api_key=KEY, base_url=server.url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    )
    with client:
        outcomes = client.generate_many(
            requests,
            journal=str(journal),
            on_progress=lambda index, snapshot: snapshots.append(snapshot),
        )
        job = client.submit("a fox by hand", **HOOK)
        by_hand = job.wait(timeout=30)
    result, error = outcomes
    assert not isinstance(result, BaseException), result
    assert isinstance(error, BaseException)
    assert len(snapshots) >= 4
    shown = [
        repr(result), str(result.raw), repr(job), str(job.raw), str(by_hand.raw),
        str(error), repr(error), str(getattr(error, "payload", None)), repr(vars(error)),
        *(str(snapshot.raw) + str(snapshot.result) for snapshot in snapshots),
        caplog.text,
        *every_cell(str(journal), "sqlite"),
    ]  # fmt: skip
    assert "***" in str(result.raw)
    assert "***" in str(getattr(error, "payload", None))
    assert [leaks(text) for text in shown if leaks(text)] == []


def run_cli(server: HostileServer, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BFL_API_KEY": KEY,
        "BFL_BASE_URL": server.url,
        "HOOK_SECRET": SECRET,
        "FLUX_FLEX_LOG": "debug",
    }
    command = [sys.executable, "-m", "flux_flex.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_cli_shows_no_secret(server: HostileServer, tmp_path: Path) -> None:
    echoing(server)
    hook = ["--webhook-url", HOOK["webhook_url"], "--webhook-secret-env", "HOOK_SECRET"]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a fox\na failing fox\n")
    runs = [
        run_cli(server, "generate", "a fox", "-o", "fox.png", *hook, cwd=tmp_path),
        run_cli(server, "generate", "a failing fox", "-o", "f.png", *hook, "--json", cwd=tmp_path),
        run_cli(server, "generate", "a failing fox", "-o", "g.png", *hook, "--debug", cwd=tmp_path),
        # batch takes no webhook secret (a prompts file has no place for one): the key only
        run_cli(server, "batch", str(prompts), "--out-dir", "out", "--yes", cwd=tmp_path),
        run_cli(server, "batch", str(prompts), "--out-dir", "o2", "--json", cwd=tmp_path),
    ]
    assert [run.returncode for run in runs] == [0, 1, 1, 1, 1], [run.stderr for run in runs]
    assert "Error" in runs[2].stderr
    assert json.loads(runs[1].stdout)["ok"] is False
    hooked = runs[:3]  # the batch runs know no webhook secret: what they echo is the key's
    for found in sorted(tmp_path.rglob("*journal*.sqlite")):
        views = [
            run_cli(server, "tasks", str(found), *more, cwd=tmp_path) for more in ([], ["--json"])
        ]
        assert [view.returncode for view in views] == [0, 0], [view.stderr for view in views]
        runs.extend(views)
        if found.parent == tmp_path:
            hooked.extend(views)
    assert len(runs) == 11
    shown = [(run.args, leaks(run.stdout + run.stderr, KEY)) for run in runs]
    shown += [(run.args, leaks(run.stdout + run.stderr)) for run in hooked]
    assert [(args, found) for args, found in shown if found] == []


def test_the_fast_check_finds_an_escaped_secret() -> None:
    from flux_flex._core.redact import mask_answer

    escaped = {"echo": "caf\u00e9-" + SECRET}
    content = json.dumps(escaped).encode()  # ensure_ascii: "caf\\u00e9-whsec..."
    assert leaks(str(mask_answer(escaped, content, [KEY, SECRET]))) == []
    plain = {"id": "t", "status": "Pending"}
    assert mask_answer(plain, json.dumps(plain).encode(), [KEY, SECRET]) is plain
