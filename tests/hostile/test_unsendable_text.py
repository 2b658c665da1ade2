"""Text the API cannot take — a lone surrogate (what ``surrogateescape`` makes of bytes read
with the wrong encoding) or a NUL — in any string field is a `RequestValidationError`
naming the field, before anything is sent, from every entry point of both clients; the CLI
exits 2 naming the argument or the line, with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flux_flex import BatchValidationError, RequestValidationError, prepare_request
from flux_flex._core.validation import text_errors

from tests.clients import Flavour
from tests.hostile import HostileServer
from tests.hostile.conftest import FAST_RETRY, FAST_SCHEDULE, KEY

SURROGATE = "a red \udcff fox"
NUL = "a red \x00 fox"
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "prompt-surrogate": ("prompt", {"prompt": SURROGATE}),
    "prompt-nul": ("prompt", {"prompt": NUL}),
    "user-surrogate": ("user", {"prompt": "a fox", "user": "u\udcff"}),
    "user-nul": ("user", {"prompt": "a fox", "user": "u\x00"}),
    "webhook-url": (
        "webhook_url",
        {"prompt": "a fox", "webhook_url": "https://hooks.example/\udcff"},
    ),
    "image-url": ("input_image", {"prompt": "a fox", "input_images": ["https://x.example/\x00"]}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_prepare_names_the_field(case: str) -> None:
    field, request = CASES[case]
    with pytest.raises(RequestValidationError) as caught:
        prepare_request(**request)
    assert field in [error.field for error in caught.value.errors]
    rule = "nul" if "\x00" in str(request) or "\\x00" in ascii(request) else "encoding"
    assert rule in [error.rule for error in caught.value.errors]
    str(caught.value).encode("utf-8")  # the message itself is printable


def test_text_errors_reach_nested_strings() -> None:
    errors = text_errors({"a": ["ok", {"b": "x\x00"}], "c": "\ud800"})
    assert [(e.field, e.rule) for e in errors] == [("a[1].b", "nul"), ("c", "encoding")]
    assert text_errors({"prompt": "ünïcødé 🦊 fine"}) == []


@pytest.mark.parametrize("case", ["prompt-surrogate", "user-nul", "webhook-url"])
def test_no_entry_point_sends_it(case: str, flavour: Flavour, server: HostileServer) -> None:
    field, request = CASES[case]
    server.api(key=KEY)
    client = flavour.client(
        api_key=KEY, base_url=server.url, poll_schedule=FAST_SCHEDULE, retry=FAST_RETRY
    )
    prompt, params = request["prompt"], {k: v for k, v in request.items() if k != "prompt"}
    with client:
        for call in (client.validate, client.submit, client.generate):
            with pytest.raises(RequestValidationError) as caught:
                call(prompt, **params)
            assert field in [error.field for error in caught.value.errors], call
        with pytest.raises(BatchValidationError) as batch:
            client.generate_many(["a fox", request])
        assert f"requests[1].{field}" in [error.field for error in batch.value.errors]
        streamed = client.generate_many(["a fox", request], stream=True)
        assert not isinstance(streamed[0], BaseException)
        assert isinstance(streamed[1], RequestValidationError)
    assert server.count("POST", "/v1/flux-2-flex") == 1  # the good streamed line only


def cli(*args: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable.encode(), b"-m", b"flux_flex.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, timeout=120)


def test_the_cli_exits_2_naming_the_argument(tmp_path: Path) -> None:
    runs = {
        "PROMPT": cli(b"generate", b"a red \xff fox", b"-o", b"fox.png", b"--mock", cwd=tmp_path),
        "--user": cli(
            b"generate", b"a fox", b"--user", b"u\xff", b"-o", b"f.png", b"--mock", cwd=tmp_path
        ),
    }
    for name, run in runs.items():
        err = run.stderr.decode("utf-8", errors="replace")
        assert run.returncode == 2, err
        assert name in err
        assert "Traceback" not in err
        assert "lone surrogate" in err
    assert not list(tmp_path.glob("*.png"))


def test_the_cli_batch_exits_2_naming_each_line(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes(
        b"a fox\n"
        b'{"prompt": "json \\u0000 nul"}\n'
        b"a raw \x00 nul\n"
        b'{"prompt": "a fox", "user": "u\\udcff"}\n'
    )
    run = cli(b"batch", b"prompts.txt", b"--out-dir", b"out", b"--mock", b"--yes", cwd=tmp_path)
    err = run.stderr.decode("utf-8", errors="replace")
    assert run.returncode == 2, err
    assert "Traceback" not in err
    for line in ("line 2: prompt", "line 3: prompt", "line 4: user"):
        assert line in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.*g"))
