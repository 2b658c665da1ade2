"""The fake's command-line options and config file (flux_flex.testing._options)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flux_flex.testing import DEFAULT_MARKERS, FakeBFL
from flux_flex.testing._options import OPTIONS, apply_faults, parse_fault, settings

from .conftest import CREDITS, RESULT, SUBMIT, client_for

NO_FLAGS: dict[str, Any] = {option.key: None for option in OPTIONS}


def flags(**given: Any) -> dict[str, Any]:
    """Raw flag values as a command line hands them over (strings; lists when repeatable)."""
    return NO_FLAGS | given


TOML = """
task_seconds = 0.5
lifecycle = [["Pending", 0.25], "Reasoning", "Generating"]
balance = 50.0
error_shape = "error"
webhook_timeout = 3
default_size = [320, 200]
strict_dimensions = true

[markers]
"[upscale]" = ["Pending", "Generating", "Upscaling", "Ready"]

[[faults]]
kind = "status"
method = "POST"
path = "/v1/flux-2-flex"
status = 503
times = 2
headers = { "Retry-After" = "1" }
"""


def test_a_toml_file_and_flags_make_fakebfl_arguments(tmp_path: Path) -> None:
    path = tmp_path / "fake.toml"
    path.write_text(TOML)
    values, faults = settings(flags(balance="7.5", markers=["[slow]=Pending=600,Ready"]), str(path))
    assert values["balance"] == 7.5  # the flag wins over the file
    assert values["task_seconds"] == 0.5
    assert values["lifecycle"] == [("Pending", 0.25), "Reasoning", "Generating"]
    assert values["default_size"] == (320, 200)
    assert values["strict_dimensions"] is True
    assert values["webhook_timeout"] == 3.0
    assert values["markers"] == {
        **DEFAULT_MARKERS,
        "[upscale]": ["Pending", "Generating", "Upscaling", "Ready"],
        "[slow]": [("Pending", 600.0), "Ready"],
    }
    assert faults == [
        {
            "kind": "status",
            "times": 2,
            "method": "POST",
            "path": "/v1/flux-2-flex",
            "status": 503,
            "headers": {"Retry-After": "1"},
            "body": None,
            "create_task": False,
        }
    ]
    FakeBFL(**values)  # every value is one FakeBFL accepts


def test_a_json_file_works_the_same(tmp_path: Path) -> None:
    path = tmp_path / "fake.json"
    path.write_text(json.dumps({"script": ["Pending", "Upscaling", "Ready"], "progress": "omit"}))
    values, faults = settings(flags(), str(path))
    assert values == {"script": ["Pending", "Upscaling", "Ready"], "progress": "omit"}
    assert faults == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "status POST /v1/flux-2-flex status=429 retry_after=2 create_task=yes",
            {
                "kind": "status",
                "times": 1,
                "method": "POST",
                "path": "/v1/flux-2-flex",
                "status": 429,
                "headers": {"Retry-After": "2"},
                "body": None,
                "create_task": True,
            },
        ),
        (
            "drop get /v1/get_result times=3",
            {
                "kind": "drop",
                "times": 3,
                "method": "GET",
                "path": "/v1/get_result",
                "create_task": False,
            },
        ),
        (
            "stall GET /v1/* seconds=0.5",
            {"kind": "stall", "times": 1, "method": "GET", "path": "/v1/*", "seconds": 0.5},
        ),
        (
            "malformed POST /v1/flux-2-flex shape=missing_id",
            {
                "kind": "malformed",
                "times": 1,
                "method": "POST",
                "path": "/v1/flux-2-flex",
                "shape": "missing_id",
            },
        ),
        (
            "cut fraction=0.25 times=2",
            {"kind": "cut", "times": 2, "method": "GET", "path": "/delivery/*", "fraction": 0.25},
        ),
    ],
)
def test_fault_specs(text: str, expected: dict[str, Any]) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"balance": "lots"}, "--balance must be a number"),
        ({"port": "70000"}, "--port must be an integer 0..65535"),
        ({"progress": "percent"}, "--progress must be one of fraction, null, omit"),
        ({"markers": ["no-equals-sign"]}, "--marker must look like TEXT=STATUS"),
        ({"faults": ["explode GET /"]}, "the kind must be one of status, drop"),
        ({"faults": ["stall GET /v1/get_result"]}, "a stall fault needs seconds=S"),
        ({"faults": ["status /v1/flux-2-flex"]}, "expected 'KIND [METHOD PATH]"),
        ({"faults": ["drop times=2"]}, "a drop fault needs METHOD and PATH"),
        ({"faults": ["status GET / colour=red"]}, "unknown key(s) colour"),
        ({"default_size": "wide"}, "--default-size must look like WIDTHxHEIGHT"),
        ({"lifecycle": "Pending=soon"}, "--lifecycle must be a number"),
    ],
)
def test_bad_flags_say_which_and_why(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        settings(flags(**given))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.toml", "balance = ", "not valid TOML"),
        ("bad.json", "{", "not valid JSON"),
        ("list.json", "[1]", "must hold a table"),
        ("typo.json", '{"balanse": 3}', "Unknown setting 'balanse'"),
        ("typed.json", '{"max_in_flight": "many"}', "'max_in_flight' in"),
    ],
)
def test_bad_config_files_say_which_and_why(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        settings(flags(), str(path))
    with pytest.raises(ValueError, match="Cannot read the config file"):
        settings(flags(), str(tmp_path / "missing.toml"))


def test_armed_faults_hit_the_next_matching_requests() -> None:
    _, faults = settings(
        flags(
            faults=["status POST /v1/flux-2-flex status=503 times=2", "malformed GET /v1/credits"]
        )
    )
    with FakeBFL(task_seconds=0.01) as fake, client_for(fake) as api:
        apply_faults(fake, faults)
        statuses = [api.post(SUBMIT, json={"prompt": "p"}).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        with pytest.raises(json.JSONDecodeError):
            api.get(CREDITS).json()
        assert api.get(CREDITS).json() == {"credits": fake.balance}
        assert api.get(RESULT, params={"id": "x"}).status_code == 200


def test_every_option_is_a_fakebfl_or_serve_argument() -> None:
    import inspect

    from flux_flex.testing import serve

    accepted = set(inspect.signature(FakeBFL).parameters) | set(inspect.signature(serve).parameters)
    assert {option.key for option in OPTIONS} <= accepted
    assert len({option.flag for option in OPTIONS}) == len(OPTIONS)


def test_the_two_command_lines_offer_the_same_options() -> None:
    from flux_flex.cli.app import cli
    from flux_flex.testing.__main__ import parser

    argparse_flags = {s for a in parser()._actions for s in a.option_strings} - {"-h", "--help"}
    command = cli.commands["mock-server"]
    click_flags = {s for p in command.params for s in getattr(p, "opts", [])} - {"--debug"}
    assert argparse_flags == click_flags
    assert {"--task-seconds", "--host", "--port", "--api-key", "--config"} <= click_flags


def test_the_options_module_needs_only_the_standard_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import flux_flex.testing._options; "
        "print(sorted(m for m in sys.modules if m.startswith(('flux_flex', 'asyncio', "
        "'httpx', 'starlette', 'uvicorn', 'PIL', 'jsonschema'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['flux_flex', 'flux_flex.testing', 'flux_flex.testing._options']"


SWITCHED = {
    "deliver_webhooks": False,
    "reasoning_needs_upsampling": False,
    "strict_dimensions": True,
}


@pytest.mark.parametrize("argv", [[], ["--no-webhooks", "--reasoning", "--strict-dimensions"]])
def test_switches_mean_the_same_on_both_command_lines(argv: list[str]) -> None:
    import click
    from flux_flex.cli.app import cli
    from flux_flex.testing.__main__ import parser

    group = click.Context(cli, info_name="flux-flex")
    command = cli.get_command(group, "mock-server")
    assert command is not None
    from_click = command.make_context("mock-server", list(argv), parent=group).params
    from_argparse = vars(parser().parse_args(argv))
    for source in (from_click, from_argparse):
        raw = {option.key: source[option.key] for option in OPTIONS}
        values, _ = settings(raw)
        assert values == ({} if not argv else SWITCHED)


def test_strict_dimensions_on_the_command_line_reach_the_fake() -> None:
    values, _ = settings(flags(strict_dimensions=True))
    with FakeBFL(task_seconds=0.01, **values) as fake, client_for(fake) as api:
        refused = api.post(SUBMIT, json={"prompt": "p", "width": 0})
        assert (refused.status_code, refused.json()["detail"][0]["type"]) == (
            422,
            "greater_than_equal",
        )
