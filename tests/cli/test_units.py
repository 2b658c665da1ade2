"""The CLI's pure parts: exit codes and messages, the prompts file, plain progress lines."""

from __future__ import annotations

import io
import json

import pytest
from flux_flex.cli.connection import Connection
from flux_flex.cli.failures import (
    CliUsageError,
    ExitCode,
    Interrupted,
    describe,
    error_payload,
    exit_code_for,
    resume_command,
)
from flux_flex.cli.progress import BatchProgress, TaskProgress
from flux_flex.cli.prompts_file import PromptsFileError, parse_prompts, slugify
from flux_flex.cli.tasks import resume_hint
from flux_flex.errors import (
    AuthenticationError,
    ConfigurationError,
    FieldError,
    ModerationError,
    RequestValidationError,
    ServerError,
    WaitTimeoutError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CliUsageError("no key"), ExitCode.USAGE),
        (ConfigurationError("bad region"), ExitCode.USAGE),
        (RequestValidationError("steps too big"), ExitCode.USAGE),  # refused before sending
        (RequestValidationError("422", status_code=422), ExitCode.FAILED),  # the API refused
        (AuthenticationError("bad key", status_code=403), ExitCode.FAILED),
        (ServerError("503", status_code=503, task_may_exist=True), ExitCode.FAILED),
        (ModerationError("moderated", task_id="t", status="Content Moderated"), ExitCode.FAILED),
        (WaitTimeoutError("late", task_id="t", waited=1.0), ExitCode.FAILED),
        (OSError(28, "No space left on device"), ExitCode.FAILED),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (Interrupted("stopped", task_id="t"), ExitCode.INTERRUPTED),
    ],
)
def test_exit_codes(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_local_validation_message_names_the_option() -> None:
    error = RequestValidationError(
        "Invalid request: safety_tolerance must be <= 5; input_image_3 is unreadable.",
        errors=[
            FieldError("safety_tolerance", "maximum", "must be <= 5"),
            FieldError("input_image_3", "file", "unreadable"),
        ],
    )
    assert describe(error).endswith("(check --safety-tolerance, --input-image)")


def test_error_payload_carries_what_scripts_need() -> None:
    error = ServerError("The API answered 503.", status_code=503, task_may_exist=True)
    payload = error_payload(error)
    assert payload == {
        "type": "ServerError",
        "message": "The API answered 503.",
        "exit_code": 1,
        "task_may_exist": True,
        "status_code": 503,
    }
    json.dumps(payload)
    moderated = error_payload(ModerationError("m", task_id="abc", status="Request Moderated"))
    assert (moderated["task_id"], moderated["status"]) == ("abc", "Request Moderated")


def test_unexpected_errors_point_at_debug() -> None:
    assert "--debug" in describe(RuntimeError("boom"))


def test_resume_command_is_quoted_for_the_shell() -> None:
    command = resume_command("id-1", "my fox.png", ["--base-url", "http://h:1"])
    assert command == "flux-flex wait id-1 -o 'my fox.png' --base-url http://h:1"


# --- prompts file ---------------------------------------------------------------------------


def test_slugify() -> None:
    assert slugify("A Red Fox, in the Snow!") == "a-red-fox-in-the-snow"
    assert slugify("Crème brûlée") == "creme-brulee"
    assert slugify("漢字") == "image"
    long = slugify("word " * 30)
    assert len(long) <= 40
    assert not long.endswith("-")


def test_file_names_are_stable_and_depend_on_every_parameter() -> None:
    first = parse_prompts(["a fox", '{"prompt": "a fox", "seed": 1}'])
    moved = parse_prompts(["# new first line", "", "an owl", "a fox"])
    assert first[0].stem == moved[1].stem  # the line number does not matter
    assert first[0].stem != first[1].stem  # a parameter does
    assert first[0].stem.startswith("a-fox-")
    with_default = parse_prompts(["a fox"], {"width": 512})
    assert with_default[0].stem != first[0].stem  # defaults are part of the request
    assert with_default[0].request() == {"prompt": "a fox", "width": 512}


def test_json_lines_override_defaults_and_name_the_file() -> None:
    items = parse_prompts(['{"prompt": "a fox", "width": 256, "name": "fox.png"}'], {"width": 64})
    assert items[0].params == {"width": 256}
    assert items[0].stem == "fox"


def test_duplicate_requests_are_kept_once() -> None:
    assert len(parse_prompts(["a fox", "a fox", "  a fox  "])) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "a fox"', "line 1: not valid JSON"),
        ('{"width": 5}', "line 1: a JSON line needs"),
        ('{"prompt": "a fox", "colour": "red"}', "unknown key(s) colour"),
        ('{"prompt": "a fox", "name": "../escape"}', '"name" must be a plain file name'),
    ],
)
def test_bad_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(PromptsFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_prompts([line])


# --- progress -------------------------------------------------------------------------------


class Poll:
    def __init__(self, status: str, progress: float | None) -> None:
        self.status = status
        self.progress = progress


def test_plain_progress_prints_changes_only() -> None:
    stream = io.StringIO()
    with TaskProgress("task", stream=stream, live=False) as progress:
        progress.track("t-1", "submitted")
        for value in (0.0, 0.1, 0.2, 0.3, 0.6, 0.61, None):
            progress.update(Poll("Pending", value))
        progress.update(Poll("Ready", 1.0))
    lines = stream.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "task: submitting",
        "task t-1: submitted",
        "task t-1: Pending 0%",
        "task t-1: Pending 30%",
        "task t-1: Pending 60%",
        "task t-1: Pending",
        "task t-1: Ready 100%",
    ]
    assert all(line.startswith("[") and "s] " in line for line in lines)  # elapsed time


def test_live_progress_shows_status_and_elapsed_time() -> None:
    stream = io.StringIO()
    with TaskProgress("task", stream=stream, live=True) as progress:
        progress.track("t-[b]2", "submitted")  # brackets are not rich markup
        progress.update(Poll("Pending", 0.5))
    text = stream.getvalue()
    assert "task t-[b]2" in text
    assert "Pending" in text
    assert "50%" in text
    assert "0:00:0" in text


def test_batch_progress_plain_lines() -> None:
    stream = io.StringIO()
    with BatchProgress(2, stream=stream, live=False) as progress:
        progress.item_done("fox", ok=True)
        progress.item_done("owl", ok=False)
    assert "1/2 done: fox" in stream.getvalue()
    assert "2/2 FAILED: owl" in stream.getvalue()


def test_resume_hint_repeats_connection_options_and_a_foreign_polling_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BFL_BASE_URL", raising=False)
    same_host = resume_hint(
        "t1",
        "fox.png",
        Connection(),
        why="interrupted",
        polling_url="https://api.bfl.ai/v1/get_result?id=t1",
    )
    assert same_host.endswith("Resume with: flux-flex wait t1 -o fox.png")
    regional = resume_hint(
        "t1",
        "fox.png",
        Connection(region="eu", api_key_env="MY_KEY"),
        why="interrupted",
        polling_url="https://api.us1.bfl.ai/v1/get_result?id=t1",
    )
    assert regional.endswith(
        "flux-flex wait t1 -o fox.png --region eu --api-key-env MY_KEY "
        "--polling-url 'https://api.us1.bfl.ai/v1/get_result?id=t1'"
    )
    mock = resume_hint("t1", "fox.png", Connection(mock=True), why="interrupted")
    assert "nothing is left to resume" in mock
