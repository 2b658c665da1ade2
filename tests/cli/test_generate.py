"""`flux-flex generate`: success, --json, and every failure path with its exit code."""

from __future__ import annotations

import json
import shlex
import threading
import time
from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import SLOW_MARKER, invoke, run_script
from .terminal import run_on_terminal, screen_lines


def test_generate_saves_the_image_and_prints_path_seed_cost(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    target = tmp_path / "sub" / "fox.png"  # the folder does not exist yet
    result = invoke(["generate", "a red fox", "-o", str(target), "--seed", "7"], quick_env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"saved {target}"
    assert "seed  7" in result.stdout
    assert "credits (" in result.stdout
    with Image.open(target) as image:
        assert image.format == "PNG"  # format follows the -o extension
    body = next(r.json for r in reversed(fake.requests) if r.method == "POST")
    assert body["seed"] == 7
    assert body["output_format"] == "png"
    # Not a terminal: plain progress lines with elapsed time, on stderr.
    assert ": saved" in result.stderr
    assert "s] task " in result.stderr


def test_generate_sends_only_the_options_given(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    args = ["generate", "an owl", "-o", str(tmp_path / "owl.jpg"), "--width", "256"]
    args += ["--height", "128", "--steps", "4", "--guidance", "2.5", "--safety-tolerance", "1"]
    args += ["--no-upsampling"]
    result = invoke(args, quick_env)
    assert result.exit_code == 0, result.stderr
    body = next(r.json for r in reversed(fake.requests) if r.method == "POST")
    assert body == {
        "prompt": "an owl",
        "width": 256,
        "height": 128,
        "steps": 4,
        "guidance": 2.5,
        "safety_tolerance": 1,
        "output_format": "jpeg",
        "prompt_upsampling": False,
    }
    with Image.open(tmp_path / "owl.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (256, 128))


def test_json_prints_one_object(quick_env: dict[str, str | None], tmp_path: Path) -> None:
    result = invoke(["generate", "a fox", "-o", str(tmp_path / "f.png"), "--json"], quick_env)
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert payload["ok"] is True
    assert payload["status"] == "Ready"
    assert Path(payload["path"]).is_file()
    assert {"id", "url", "seed", "cost", "input_mp", "output_mp", "elapsed_seconds"} <= set(payload)


@pytest.mark.parametrize(
    ("marker", "status"),
    [("[moderate-request]", "Request Moderated"), ("[fail]", "Error")],
)
def test_task_errors_exit_1_with_one_line(
    marker: str, status: str, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    args = ["generate", f"a fox {marker}", "-o", str(tmp_path / "x.png"), "--json"]
    result = invoke(args, quick_env)
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["error"]["status"] == status
    assert payload["id"]
    assert payload["id"] == payload["error"]["task_id"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert payload["id"] in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_wrong_key_exits_1(quick_env: dict[str, str | None], tmp_path: Path) -> None:
    env = {**quick_env, "BFL_API_KEY": "not-the-key"}
    result = invoke(["generate", "a fox", "-o", str(tmp_path / "x.png")], env)
    assert result.exit_code == 1
    assert result.stderr.count("error:") == 1
    assert "not-the-key" not in result.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--format", "gif"], "--format"),
        (["--width", "wide"], "--width"),
        (["--steps", "99"], "--steps"),  # refused by the client from the spec's bounds
        (["--safety-tolerance", "6"], "--safety-tolerance"),
        (["--timeout", "0"], "--timeout"),
        (["--input-image", "a.png"] * 9, "--input-image"),
        (["--input-image", "/no/such/fox.png"], "--input-image"),  # refused by the client
        (["--webhook-secret-env", "FLUX_FLEX_TEST_UNSET_VAR"], "FLUX_FLEX_TEST_UNSET_VAR"),
    ],
)
def test_bad_option_values_exit_2_naming_the_option(
    args: list[str], names: str, fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    posts = fake.count("POST", "/v1/flux-2-flex")
    env = {**quick_env, "FLUX_FLEX_TEST_UNSET_VAR": None}
    result = invoke(["generate", "a fox", "-o", str(tmp_path / "x.png"), *args], env)
    assert result.exit_code == 2, result.output
    assert names in result.stderr
    assert fake.count("POST", "/v1/flux-2-flex") == posts  # nothing was submitted


def test_missing_output_is_a_usage_error(quick_env: dict[str, str | None]) -> None:
    result = invoke(["generate", "a fox"], quick_env)
    assert result.exit_code == 2
    assert "--output" in result.stderr


def test_webhook_secret_comes_from_the_environment(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    env = {**quick_env, "MY_HOOK_SECRET": "s3cret-value"}
    args = ["generate", "a fox", "-o", str(tmp_path / "x.png")]
    args += ["--webhook-url", "http://127.0.0.1:9/hook", "--webhook-secret-env", "MY_HOOK_SECRET"]
    result = invoke(args, env)
    assert result.exit_code == 0, result.stderr
    post = next(r for r in reversed(fake.requests) if r.method == "POST")
    assert post.json["webhook_url"] == "http://127.0.0.1:9/hook"
    assert "webhook_secret" in post.json  # sent (the fake's record masks its value)
    assert "s3cret-value" not in result.output


# --- the real console script ------------------------------------------------------------------


def test_script_without_key_or_mock_names_both_ways(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k not in ("BFL_API_KEY", "BFL_BASE_URL")}
    done = run_script(["generate", "a fox", "-o", str(tmp_path / "x.png")], env)
    assert done.returncode == 2
    assert "BFL_API_KEY" in done.stderr
    assert "--mock" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_script_mock_makes_a_png_without_key(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k not in ("BFL_API_KEY", "BFL_BASE_URL")}
    args = ["generate", "a red fox", "-o", "out/demo.png", "--mock", "--mock-task-seconds", "0.1"]
    done = run_script(args, env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "saved out/demo.png" in done.stdout
    with Image.open(tmp_path / "out" / "demo.png") as image:
        image.verify()
        assert image.format == "PNG"


def test_script_moderated_prompt_exits_1_and_debug_shows_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    args = ["generate", "a fox [moderate-request]", "-o", str(tmp_path / "x.png")]
    plain = run_script(args, env)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines()[-1].startswith("error: Request Moderated")
    debug = run_script([*args, "--debug"], env)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ModerationError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("error: Request Moderated")


@pytest.mark.parametrize("bad", [["--format", "gif"], ["--steps", "99"]])
def test_script_bad_option_value_exits_2(
    bad: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    done = run_script(["generate", "a fox", "-o", str(tmp_path / "x.png"), *bad], env)
    assert done.returncode == 2
    assert bad[0] in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_script_json_and_status_of_the_task(env: dict[str, str], tmp_path: Path) -> None:
    done = run_script(["generate", "a fox", "-o", str(tmp_path / "x.png"), "--json"], env)
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    status = run_script(["status", made["id"], "--json"], env)
    assert status.returncode == 0, status.stderr
    polled = json.loads(status.stdout)
    assert (polled["id"], polled["status"], polled["ok"]) == (made["id"], "Ready", True)
    assert polled["result"]["sample"] == made["url"]


def test_key_from_another_variable(fake: FakeBFL, tmp_path: Path) -> None:
    env = {"BFL_API_KEY": None, "BFL_BASE_URL": fake.base_url, "MY_BFL_KEY": fake.api_key}
    args = ["generate", "a fox", "-o", str(tmp_path / "x.png"), "--api-key-env", "MY_BFL_KEY"]
    assert invoke(args, env).exit_code == 0
    missing = invoke([*args[:-1], "NOT_SET_ANYWHERE"], {**env, "NOT_SET_ANYWHERE": None})
    assert missing.exit_code == 2
    assert "NOT_SET_ANYWHERE" in missing.stderr


@pytest.mark.parametrize("columns", [120, 60])
def test_script_on_a_terminal_shows_a_live_bar(
    env: dict[str, str], tmp_path: Path, columns: int
) -> None:
    args = ["generate", "a fox", "-o", str(tmp_path / "x.png")]
    code, stdout, screen = run_on_terminal(args, env, columns=columns)
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
    assert "━" in screen  # the bar
    assert "0:00:0" in screen  # elapsed time
    assert "saved" in screen  # the status column
    assert "s] task" not in screen  # no plain progress lines
    assert stdout.startswith("saved ")
    task_id = stdout.split("task  ", 1)[1].split()[0]
    lines = screen_lines(screen)
    assert [line for line in lines if len(line.rstrip()) > columns] == []
    assert any(line.strip() == f"task {task_id}" for line in lines)  # the id, whole


# --- output paths, formats, user -------------------------------------------------------------


def test_output_under_a_file_is_refused_before_sending(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    posts = fake.count("POST", "/v1/flux-2-flex")
    for target in (blocker / "out.png", blocker / "deeper" / "out.png"):
        result = invoke(["generate", "a fox", "-o", str(target), "--json"], quick_env)
        assert result.exit_code == 2, result.output
        assert f"{blocker} is a file, not a folder" in result.stderr
        assert json.loads(result.stdout)["error"]["type"] == "UsageError"
    batch_file = tmp_path / "p.txt"
    batch_file.write_text("a fox\n")
    out_dir = str(blocker / "images")
    batch = invoke(["batch", str(batch_file), "--out-dir", out_dir], quick_env)
    assert batch.exit_code == 2
    assert "--out-dir" in batch.stderr
    assert "is a file, not a folder" in batch.stderr
    assert fake.count("POST", "/v1/flux-2-flex") == posts


def test_webp_and_user_reach_the_api(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    by_extension = invoke(["generate", "a webp fox", "-o", str(tmp_path / "f.webp")], quick_env)
    assert by_extension.exit_code == 0, by_extension.stderr
    body = next(r.json for r in reversed(fake.requests) if r.method == "POST")
    assert body["output_format"] == "webp"  # the extension chose it
    with Image.open(tmp_path / "f.webp") as image:
        assert image.format == "WEBP"
    args = ["generate", "an owl", "-o", str(tmp_path / "o"), "--format", "webp"]
    by_option = invoke([*args, "--user", "customer-42"], quick_env)
    assert by_option.exit_code == 0, by_option.stderr
    body = next(r.json for r in reversed(fake.requests) if r.method == "POST")
    assert (body["output_format"], body["user"]) == ("webp", "customer-42")


def test_format_contradicting_the_extension_is_refused(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    posts = fake.count("POST", "/v1/flux-2-flex")
    result = invoke(
        ["generate", "a fox", "-o", str(tmp_path / "f.jpg"), "--format", "png"], quick_env
    )
    assert result.exit_code == 2
    assert "--format png contradicts" in result.stderr
    assert fake.count("POST", "/v1/flux-2-flex") == posts


def test_a_download_failure_names_the_paid_task_and_the_resume_command(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    target = tmp_path / "fox.png"
    fake.fail_next("GET", "/delivery/*", status=404, times=1)
    result = invoke(["generate", "a fox to download", "-o", str(target), "--json"], quick_env)
    fake.clear_faults()
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    task_id = payload["id"]
    assert task_id
    assert payload["error"]["resume"] == f"flux-flex wait {task_id} -o {target}"
    assert payload["error"]["task_id"] == task_id
    assert f"Resume with: flux-flex wait {task_id} -o {target}" in result.stderr
    assert not target.exists()
    resumed = invoke(["wait", task_id, "-o", str(target)], quick_env)  # exactly as printed
    assert resumed.exit_code == 0, resumed.stderr
    assert target.is_file()


def test_a_folder_gone_after_submit_names_the_paid_task_and_the_resume_command(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    target = folder / "fox.png"
    posts = fake.count("POST", "/v1/flux-2-flex")

    def break_folder_after_submit() -> None:
        deadline = time.monotonic() + 30
        while fake.count("POST", "/v1/flux-2-flex") == posts and time.monotonic() < deadline:
            time.sleep(0.02)
        folder.rmdir()
        folder.write_text("a file now")  # the image can no longer land there

    breaker = threading.Thread(target=break_folder_after_submit)
    breaker.start()
    journal = str(tmp_path / "journal.sqlite")  # elsewhere: the folder holds only the image
    args = ["generate", f"a fox {SLOW_MARKER}", "-o", str(target), "--journal", journal]
    result = invoke(args, quick_env)
    breaker.join()
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "could not save the image to" in lines[0]
    assert "is paid for. Resume with: flux-flex wait " in lines[0]
    command = lines[0].split("Resume with: ", 1)[1]
    folder.unlink()  # the user fixes the folder, then runs the printed command
    resumed = invoke(shlex.split(command)[1:], quick_env)
    assert resumed.exit_code == 0, resumed.stderr
    with Image.open(target) as image:
        assert image.format == "PNG"


# --- one failure shape for every command -------------------------------------------------------

ERROR_TYPES = {
    "UsageError",
    "Interrupted",
    "FileError",
    "UnexpectedError",
    "BatchItemsFailed",
    "ModerationError",
    "TaskFailedError",
    "TaskNotFoundError",
    "WaitTimeoutError",
    "AuthenticationError",
    "RequestValidationError",
}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["generate", "a fox", "-o", "{tmp}/x.png", "--width", "wide"], 2),  # click's check
        (["generate", "a fox", "-o", "{tmp}/x.png", "--steps", "99"], 2),  # the spec's
        (["generate", "a fox [fail]", "-o", "{tmp}/x.png"], 1),
        (["generate", "a fox", "-o", "{tmp}/x.png", "--api-key-env", "NO_SUCH_VAR_X"], 2),
        (["status", "no-such-task"], 1),
        (["wait", "no-such-task", "-o", "{tmp}/x.png"], 1),
        (["batch", "{tmp}/p.txt", "--out-dir", "{tmp}/o"], 1),  # an item failed
        (["batch", "{tmp}/bad.txt", "--out-dir", "{tmp}/o"], 2),
        (["batch", "{tmp}/p.txt", "--out-dir", "{tmp}/o", "--concurrency", "0"], 2),
        (["tasks", "{tmp}"], 2),  # no journal there
        (["credits", "--api-key-env", "NO_SUCH_VAR_X"], 2),
        (["nonsense-command"], 2),
    ],
)
def test_every_json_failure_has_one_shape(
    args: list[str], code: int, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    (tmp_path / "p.txt").write_text("a fox\na fox [fail]\n")
    (tmp_path / "bad.txt").write_text('{"prompt": "x", "width": 1}\n')
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = invoke([*argv, "--json"], {**quick_env, "NO_SUCH_VAR_X": None})
    assert result.exit_code == code, result.output
    payload = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert payload["ok"] is False
    assert "id" in payload
    error = payload["error"]
    assert error["type"] in ERROR_TYPES
    assert error["exit_code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    seen = result.stdout + result.stderr
    assert "CliUsageError" not in seen
    assert "PaidTaskError" not in seen
    assert "{'" not in seen  # no Python dict reprs
    assert "Traceback" not in seen


def test_generate_reports_the_running_statuses_of_its_task(
    fake: FakeBFL, quick_env: dict[str, str | None], tmp_path: Path
) -> None:
    # The wait runs on the batch engine (for the journal); its polls still reach the display.
    fake.config.script = ["Pending", "Reasoning", ("Generating", 0.6), "Ready"]
    try:
        result = invoke(["generate", "a patient heron", "-o", str(tmp_path / "h.png")], quick_env)
    finally:
        fake.config.script = None
    assert result.exit_code == 0, result.stderr
    assert ": Generating" in result.stderr


def test_script_timeout_message_names_the_timeout_given(
    env: dict[str, str], tmp_path: Path
) -> None:
    # 0.5 s rounds to "1 s" (and 0.4 s to "0 s"): the message names --timeout as given.
    args = ["generate", f"a fox {SLOW_MARKER}", "-o", str(tmp_path / "x.png"), "--timeout", "0.5"]
    done = run_script(args, env)
    assert done.returncode != 0, done.stdout
    error = done.stderr.strip().splitlines()[-1]
    assert "no result within --timeout 0.5 s" in error, error
    assert " 1 s" not in error, error
    assert " 0 s" not in error, error
