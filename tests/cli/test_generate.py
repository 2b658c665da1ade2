"""`flux-flex generate`: success, --json, and every failure path with its exit code."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
from pathlib import Path

import pytest
from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import FLUX_FLEX, invoke, run_script


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
    assert "Ready" in result.stderr
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


def read_terminal(leader: int, into: list[bytes]) -> None:
    """Drain a pty's leader side until its follower is closed (EIO) or EOF."""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.append(chunk)


def test_script_on_a_terminal_shows_a_live_bar(env: dict[str, str], tmp_path: Path) -> None:
    leader, follower = pty.openpty()  # stderr is a terminal, stdout a pipe
    chunks: list[bytes] = []
    reader = threading.Thread(target=read_terminal, args=(leader, chunks), daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [FLUX_FLEX, "generate", "a fox", "-o", str(tmp_path / "x.png")],
            env={**env, "COLUMNS": "120", "TERM": "xterm"},
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert done.returncode == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
    assert "━" in screen  # the bar
    assert "0:00:0" in screen  # elapsed time
    assert "saved" in screen  # the status column
    assert "s] task" not in screen  # no plain progress lines
    assert done.stdout.startswith("saved ")
