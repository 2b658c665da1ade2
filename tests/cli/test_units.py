"""The CLI's pure parts: exit codes and messages, the prompts file, plain progress lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import attrs
import pytest
from flux_flex.cli.connection import Connection
from flux_flex.cli.failures import (
    CliUsageError,
    ExitCode,
    Interrupted,
    PaidTaskError,
    describe,
    error_payload,
    exit_code_for,
    failure_json,
    resume_command,
)
from flux_flex.cli.output import format_cost, number
from flux_flex.cli.preflight import prepare_lines, written_field
from flux_flex.cli.progress import BatchProgress, TaskProgress
from flux_flex.cli.prompts_file import (
    PromptsFileError,
    line_of,
    parse_prompts,
    scan_prompts,
    slugify,
)
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
    assert "RuntimeError" not in describe(RuntimeError("boom"))


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (CliUsageError("no key"), "UsageError"),
        (Interrupted("stopped"), "Interrupted"),
        (KeyboardInterrupt(), "Interrupted"),
        (OSError(13, "Permission denied"), "FileError"),
        (RuntimeError("bug"), "UnexpectedError"),
        (ModerationError("m", task_id="t", status="Request Moderated"), "ModerationError"),
    ],
)
def test_json_error_types_are_documented_names(error: BaseException, name: str) -> None:
    payload = failure_json(error)
    assert payload["error"]["type"] == name
    assert {"ok", "id", "error"} == set(payload)
    assert {"type", "message", "exit_code"} <= set(payload["error"])


def test_a_failure_after_a_paid_submit_carries_the_resume_command() -> None:
    cause = WaitTimeoutError("late", task_id="t1", waited=3.0)
    error = PaidTaskError(cause, task_id="t1", resume="flux-flex wait t1 -o a.png", why="late")
    payload = failure_json(error)
    assert payload["id"] == "t1"
    assert payload["error"]["type"] == "WaitTimeoutError"
    assert payload["error"]["resume"] == "flux-flex wait t1 -o a.png"
    assert payload["error"]["exit_code"] == 1
    assert describe(error).endswith("Resume with: flux-flex wait t1 -o a.png")


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
    items = parse_prompts(['{"prompt": "a fox", "width": 256, "name": "fox"}'], {"width": 64})
    assert items[0].params == {"width": 256}
    assert items[0].stem.startswith("fox-")


def test_duplicate_requests_are_kept_once() -> None:
    assert len(parse_prompts(["a fox", "a fox", "  a fox  "])) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "a fox"', "line 1: not valid JSON"),
        ('{"width": 5}', "line 1: prompt: a JSON line needs"),
        ('{"prompt": "a fox", "colour": "red"}', 'line 1: unknown key "colour"; allowed: '),
        ('{"prompt": "a fox", "Seed": 1}', 'unknown key "Seed" (did you mean "seed"?)'),
        ('{"prompt": "a fox", "name": "../escape"}', "line 1: name: must be a plain file name"),
        ('{"prompt": "a fox", "name": "f.png", "output_format": "jpeg"}', "contradicts"),
        ('{"prompt": "a fox", "webhook_secret": "s"}', "a secret has no place"),
        (b"caf\xe9 au lait", "line 1: not valid UTF-8 (byte 0xe9 at column 4)"),
    ],
)
def test_bad_lines_name_the_line(line: str | bytes, message: str) -> None:
    with pytest.raises(PromptsFileError) as caught:
        parse_prompts([line])
    assert message in str(caught.value)
    assert "{'" not in str(caught.value)  # no Python reprs


def test_every_bad_line_is_reported_and_good_lines_are_kept() -> None:
    lines = [b"\xef\xbb\xbfa fox", b'{"prompt": 1}', b"an owl", b'{"prompt": "x", "sead": 1}']
    items, problems = scan_prompts(lines)
    assert [item.prompt for item in items] == ["a fox", "an owl"]  # the BOM is not the prompt
    assert [line_of(problem) for problem in problems] == [2, 4]


def test_named_files_carry_the_request_hash() -> None:
    one, two, same = parse_prompts(
        [
            '{"prompt": "a lake", "name": "lake", "seed": 1}',
            '{"prompt": "a lake", "name": "lake", "seed": 2}',
            '{"prompt": "a lake", "seed": 1}',
        ]
    )
    assert one.stem.startswith("lake-")
    assert two.stem.startswith("lake-")
    assert one.stem != two.stem  # a changed parameter is a new file
    assert one.stem.split("-")[-1] == same.stem.split("-")[-1]  # the hash is the request's
    png = parse_prompts(['{"prompt": "a lake", "name": "lake.png"}'])[0]
    assert png.params == {"output_format": "png"}
    assert png.written["output_format"] == "name"


def test_refused_fields_are_named_as_the_user_wrote_them() -> None:
    item = parse_prompts(
        ['{"prompt": "x", "input_images": ["a.png"]}'], {"width": 10}, options={"width": "--width"}
    )[0]
    assert written_field("width", item.written) == "--width"
    assert written_field("input_image", item.written) == "input_images[0]"
    assert written_field("input_image_3", item.written) == "input_images[2]"
    assert written_field("input_images[1]", item.written) == "input_images[1]"
    assert written_field("steps", item.written) == "steps"
    items = parse_prompts(['{"prompt": "x", "guidance": 99}', "fine"])
    lines, problems = prepare_lines(items, [Path("x.jpg"), Path("fine.jpg")])
    assert problems == ["line 1: guidance: must be <= 10, not 99"]
    assert [line.item.line for line in lines] == [2]  # prepared once, kept to be sent


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


@attrs.frozen
class Counts:
    in_flight: int
    done: int
    failed: int
    credits: float


def test_batch_progress_plain_lines() -> None:
    stream = io.StringIO()
    with BatchProgress(3, stream=stream, live=False) as progress:
        progress.event("submitted", "fox", Counts(1, 0, 0, 5.24))
        progress.event("done", "fox", Counts(2, 1, 0, 10.48))
        progress.event("uncertain", "owl", Counts(1, 1, 1, 10.48))
        assert progress.credits == 10.48
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # one line per finished item
    assert "1/3 done: fox (in flight 2 · done 1 · failed 0 · 10.48 credits)" in lines[0]
    assert "2/3 UNCERTAIN: owl (in flight 1 · done 1 · failed 1 · 10.48 credits)" in lines[1]


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


@pytest.mark.parametrize(
    ("credits", "shown"),
    [(5.24, "5.24"), (5.0, "5"), (1_000_000.0, "1,000,000"), (0.004, "0"), (10.5, "10.5")],
)
def test_credits_are_written_without_exponents(credits: float, shown: str) -> None:
    assert number(credits) == shown
    assert format_cost(credits) == f"{shown} credits ({credits * 0.01:,.2f} USD)"
