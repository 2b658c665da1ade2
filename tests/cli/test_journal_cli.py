"""The journal from the command line: ``tasks`` lists it, ``generate`` resumes with it,
``batch --dry-run`` and the balance check read it; ``credits`` prints the balance.

Against `tests.hostile.KillableApi` (the standard library): it counts what is created and
billed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.hostile import BAD_GATEWAY_MARKER, KillableApi, handlers

from .conftest import FLUX_FLEX, invoke

JOURNAL = ".flux-flex-journal.sqlite"


@pytest.fixture
def api() -> Iterator[KillableApi]:
    with KillableApi(task_seconds=0.05) as server:
        yield server


def env_for(api: KillableApi) -> dict[str, str | None]:
    return {"BFL_BASE_URL": api.url, "BFL_API_KEY": api.key}


def posts(api: KillableApi) -> int:
    return api.server.count("POST", "/v1/flux-2-flex")


def test_tasks_lists_what_the_journal_holds(api: KillableApi, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text(f"a listed fox\na listed owl {BAD_GATEWAY_MARKER}\n")
    out = tmp_path / "out"
    ran = invoke(["batch", str(prompts), "--out-dir", str(out), "--json"], env_for(api))
    assert ran.exit_code == 1, ran.output
    listed = invoke(["tasks", str(out), "--json"], {})
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.stdout)
    assert payload["journal"] == str(out / JOURNAL)
    by_prompt = {row["prompt"]: row for row in payload["tasks"]}
    fox, owl = by_prompt["a listed fox"], by_prompt[f"a listed owl {BAD_GATEWAY_MARKER}"]
    assert (fox["state"], fox["cost"]) == ("saved", 5.0)
    assert fox["id"] in api.server.created_tasks
    assert Path(fox["path"]).is_file()
    assert owl["state"] == "submitting"  # sent, no answer: uncertain
    assert owl["id"] is None
    assert payload["counts"]["saved"] == 1
    assert payload["counts"]["submitting"] == 1
    text = invoke(["tasks", str(out / JOURNAL)], {})
    assert text.exit_code == 0
    assert "uncertain" in text.stdout
    assert "a listed owl" in text.stdout
    assert fox["id"] in text.stdout
    assert api.key not in listed.stdout + text.stdout
    nowhere = invoke(["tasks", str(tmp_path), "--json"], {})
    assert nowhere.exit_code == 2
    assert json.loads(nowhere.stdout)["error"]["type"] == "UsageError"
    assert "no task journal at" in nowhere.stderr
    assert not (tmp_path / JOURNAL).exists()  # looking did not create one


def test_credits_prints_the_balance(api: KillableApi) -> None:
    text = invoke(["credits"], env_for(api))
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("balance: 1,000 credits (10.00 USD)")
    as_json = json.loads(invoke(["credits", "--json"], env_for(api)).stdout)
    assert as_json["credits"] == 1000.0
    assert api.server.count("GET", "/v1/credits") == 2
    assert posts(api) == 0
    no_key = invoke(["credits", "--json"], {**env_for(api), "BFL_API_KEY": None})
    assert no_key.exit_code == 2
    assert "BFL_API_KEY" in json.loads(no_key.stdout)["error"]["message"]


def test_dry_run_counts_estimates_and_sends_nothing_billed(
    api: KillableApi, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text(
        "a dry fox\n"
        '{"prompt": "a dry owl", "width": 1024, "height": 1024}\n'
        '{"prompt": "a dry lake", "width": 2048, "height": 1024}\n'
    )
    out = tmp_path / "out"
    args = ["batch", str(prompts), "--out-dir", str(out), "--dry-run", "--json"]
    first = invoke(args, env_for(api))
    assert first.exit_code == 0, first.output
    plan = json.loads(first.stdout)
    assert (plan["to_submit"], plan["already_there"]) == (3, 0)
    # 1024x1024 is 5.24 credits; 2048x1024 10.49; the fox's size is left to the model.
    assert plan["estimated_credits"] == pytest.approx(5.24 + 10.49 + 5.24)
    assert plan["estimate_exact"] is False
    assert any("1024x1024" in text for text in plan["assumptions"])
    assert (plan["balance"], plan["covered"]) == (1000.0, True)
    assert [(r.method, r.path) for r in api.server.requests] == [("GET", "/v1/credits")]
    assert not out.exists()  # a dry run creates nothing
    # Generate one line for real, then the dry run skips it.
    prompts_one = tmp_path / "one.txt"
    prompts_one.write_text("a dry fox\n")
    assert invoke(["batch", str(prompts_one), "--out-dir", str(out)], env_for(api)).exit_code == 0
    second = json.loads(invoke(args, env_for(api)).stdout)
    assert (second["to_submit"], second["already_there"]) == (2, 1)
    assert second["estimated_credits"] == pytest.approx(5.24 + 10.49)
    assert posts(api) == 1
    # Without a key: the plan and the estimate, no balance.
    keyless = invoke(args, {**env_for(api), "BFL_API_KEY": None})
    assert keyless.exit_code == 0, keyless.output
    assert json.loads(keyless.stdout)["balance"] is None
    text = invoke(args[:-1], {**env_for(api), "BFL_API_KEY": None})
    assert "nothing was sent" in text.stdout
    assert "balance" in text.stdout
    assert "not checked" in text.stdout


def test_a_batch_above_the_balance_stops_before_the_first_submit(
    api: KillableApi, tmp_path: Path
) -> None:
    api.server.route("GET", "/v1/credits", handlers.json_body({"credits": 7.0}))
    prompts = tmp_path / "p.txt"
    prompts.write_text("a costly fox\na costly owl\n")  # ~10.5 credits
    out = tmp_path / "out"
    args = ["batch", str(prompts), "--out-dir", str(out)]
    stopped = invoke([*args, "--json"], env_for(api))
    assert stopped.exit_code == 1, stopped.output
    error = json.loads(stopped.stdout)["error"]
    assert error["type"] == "BalanceTooLow"
    assert "balance is 7" in error["message"]
    assert "--yes" in error["message"]
    assert posts(api) == 0
    dry = json.loads(invoke([*args, "--dry-run", "--json"], env_for(api)).stdout)
    assert dry["covered"] is False
    went = invoke([*args, "--yes"], env_for(api))
    assert went.exit_code == 0, went.output
    assert posts(api) == 2


def test_generate_killed_after_paying_is_resumed_by_running_it_again(
    api: KillableApi, tmp_path: Path
) -> None:
    target = tmp_path / "fox.png"
    gate = api.hold("poll", 1)
    argv = [FLUX_FLEX, "generate", "a resumed fox", "-o", str(target)]
    env = {**os.environ, "BFL_BASE_URL": api.url, "BFL_API_KEY": api.key}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gate.wait_reached()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    gate.drop()
    assert posts(api) == 1
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert "resumed (paid earlier)" in again.stderr
    assert posts(api) == 1  # the same task, not a second one
    with Image.open(target) as image:
        image.verify()
    # Finished: running it again makes a new image (generate is asked again, on purpose).
    third = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert third.returncode == 0, third.stderr
    assert posts(api) == 2


def test_generate_after_a_lost_answer_reports_uncertain_and_does_not_pay_again(
    api: KillableApi, tmp_path: Path
) -> None:
    args = ["generate", f"a fox {BAD_GATEWAY_MARKER}", "-o", str(tmp_path / "f.png"), "--json"]
    first = invoke(args, env_for(api))
    assert first.exit_code == 1
    assert "--resubmit-uncertain" in json.loads(first.stdout)["error"]["message"]
    second = invoke(args, env_for(api))
    assert second.exit_code == 1
    payload = json.loads(second.stdout)
    assert payload["error"]["type"] == "TaskUncertainError"
    assert "--resubmit-uncertain" in payload["error"]["message"]
    assert posts(api) == 1
    third = invoke([*args, "--resubmit-uncertain"], env_for(api))
    assert third.exit_code == 1  # sent again on purpose (and the server lies again)
    assert posts(api) == 2


def test_no_secret_reaches_the_journal_or_its_listing(api: KillableApi, tmp_path: Path) -> None:
    secret = "whsec-never-shown-0123456789"
    env = {**env_for(api), "MY_HOOK_SECRET": secret}
    args = ["generate", "a secret fox", "-o", str(tmp_path / "f.png")]
    args += [
        "--webhook-url",
        "https://hooks.example.com/x",
        "--webhook-secret-env",
        "MY_HOOK_SECRET",
    ]
    made = invoke(args, env)
    assert made.exit_code == 0, made.output
    assert api.server.requests_to("POST", "/v1/flux-2-flex")[0].json()["webhook_secret"] == secret
    listed = invoke(["tasks", str(tmp_path), "--json"], {})
    text = invoke(["tasks", str(tmp_path)], {})
    stored = b"".join(p.read_bytes() for p in tmp_path.glob(JOURNAL + "*"))
    for seen in (made.output, listed.stdout, text.stdout, stored.decode("latin-1")):
        assert secret not in seen
        assert api.key not in seen


def test_a_journal_that_cannot_be_written_is_refused_before_sending(
    api: KillableApi, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    prompts = tmp_path / "p.txt"
    prompts.write_text("a fox\n")
    journal = str(blocker / "j.sqlite")
    args = ["batch", str(prompts), "--out-dir", str(tmp_path / "o"), "--journal", journal]
    refused = invoke(args, env_for(api))
    assert refused.exit_code == 2
    assert "--journal" in refused.stderr
    out = str(tmp_path / "g.png")
    single = invoke(["generate", "a fox", "-o", out, "--journal", journal], env_for(api))
    assert single.exit_code == 2
    assert posts(api) == 0


def test_dry_run_counts_what_the_journal_will_resume_and_what_is_uncertain(
    api: KillableApi, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text(f"a paid fox\nan unanswered owl {BAD_GATEWAY_MARKER}\n")
    out = tmp_path / "out"
    api.task_seconds = 60.0  # nothing finishes: the fox's task stays paid and unsaved
    args = ["batch", str(prompts), "--out-dir", str(out), "--concurrency", "1"]
    ran = invoke([*args, "--timeout", "0.2", "--json"], env_for(api))
    assert ran.exit_code == 1, ran.output
    states = {item["prompt"]: item["state"] for item in json.loads(ran.stdout)["items"]}
    assert states["a paid fox"] == "unfinished"
    created = posts(api)
    assert created == 2
    with prompts.open("a") as more:
        more.write("a new heron\n")
    plan = json.loads(invoke([*args, "--dry-run", "--json"], env_for(api)).stdout)
    assert (plan["to_submit"], plan["to_resume"], plan["uncertain"]) == (1, 1, 1)
    assert plan["estimated_credits"] == pytest.approx(5.24)  # only the heron is paid for
    actions = {item["prompt"]: item["action"] for item in plan["items"]}
    assert actions["a paid fox"] == "resume"
    assert actions[f"an unanswered owl {BAD_GATEWAY_MARKER}"] == "uncertain"
    assert posts(api) == created  # a dry run sends nothing billed


def test_generate_past_its_timeout_names_the_task_and_a_rerun_resumes_it(
    api: KillableApi, tmp_path: Path
) -> None:
    api.task_seconds = 60.0
    target = tmp_path / "slow.png"
    args = ["generate", "a slow fox", "-o", str(target), "--timeout", "0.3", "--json"]
    late = invoke(args, env_for(api))
    assert late.exit_code == 1, late.output
    error = json.loads(late.stdout)["error"]
    task_id = api.server.created_tasks[0]
    assert error["type"] == "WaitTimeoutError"
    assert error["task_id"] == task_id
    assert error["resume"] == f"flux-flex wait {task_id} -o {target}"
    assert f"task {task_id} is paid for. Resume with: flux-flex wait {task_id}" in late.stderr
    api.finish_all()
    again = invoke(args, env_for(api))  # the same command: resumed through the journal
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == task_id
    assert posts(api) == 1
