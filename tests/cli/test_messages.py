"""Messages that tell the truth, through the real command (subprocesses): a bad key never
suggests ``--yes``; a resend is announced; ``generate`` never speaks of batches or request
indexes; no "saved: saved", "failed 100%" or "1e+06"; one money format; 403 is
`PermissionDeniedError`; ``FLUX_FLEX_LOG`` turns the library's logs on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from flux_flex import (
    AuthenticationError,
    FluxFlex,
    PermissionDeniedError,
    RetryPolicy,
    prepare_request,
)
from flux_flex.testing import FakeBFL

from tests.cli.conftest import run_script
from tests.hostile import HostileServer, handlers

KEY = "messages-test-key-0123"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BFL_", "FLUX_FLEX_"))}
    return {**env, "COLUMNS": "120", **more}


@pytest.mark.parametrize("status", [401, 403])
def test_a_bad_key_in_batch_never_suggests_yes(status: int, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a fox\nan owl\n")
    with HostileServer() as server:
        server.api(key=KEY)
        refused = handlers.json_body({"detail": "Not authenticated"}, status=status)
        server.route("GET", "/v1/credits", refused)
        server.route("POST", "/v1/flux-2-flex", refused)
        env = base_env(BFL_API_KEY="wrong-key-000000", BFL_BASE_URL=server.url)
        run = run_script(["batch", str(prompts), "--out-dir", str(tmp_path / "out")], env)
        posts = server.count("POST", "/v1/flux-2-flex")
    assert run.returncode != 0
    assert "--yes" not in run.stderr + run.stdout
    assert f"HTTP {status}" in run.stderr
    assert "BFL_API_KEY" in run.stderr
    assert posts == 0


def test_a_403_is_permission_denied_and_still_an_authentication_error() -> None:
    with HostileServer() as server:
        server.route("GET", "/v1/credits", handlers.json_body({"detail": "no"}, status=403))
        client = FluxFlex(api_key=KEY, base_url=server.url)
        with client, pytest.raises(AuthenticationError) as caught:
            client.credits()
    assert isinstance(caught.value, PermissionDeniedError)


def test_each_resend_is_announced_and_the_default_budget_is_two(tmp_path: Path) -> None:
    env = base_env(BFL_API_KEY=KEY, BFL_BASE_URL=f"http://127.0.0.1:{closed_port()}")
    run = run_script(["generate", "a fox", "-o", str(tmp_path / "fox.png")], env)
    assert run.returncode != 0
    lines = re.findall(r"^submitting: connection refused; retrying in \d+\.\d s \((\d)/(\d)\)$",
                       run.stderr, flags=re.MULTILINE)  # fmt: skip
    assert lines == [("1", "2"), ("2", "2")], run.stderr
    assert RetryPolicy().max_retries == 2
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a fox\n")
    batch = run_script(["batch", str(prompts), "--out-dir", str(tmp_path), "--yes"], env)
    assert batch.returncode != 0
    assert batch.stderr.count("submitting: connection refused; retrying in") == 2, batch.stderr


def test_generate_speaks_of_its_image_not_of_a_batch(tmp_path: Path) -> None:
    env = base_env()
    gif = run_script(["generate", "a fox", "-o", str(tmp_path / "fox.gif"), "--mock"], env)
    assert gif.returncode == 2
    assert "-o/--output" in gif.stderr
    with HostileServer() as server:  # every POST is cut off: its answer is lost
        server.api(key=KEY)
        server.route("POST", "/v1/flux-2-flex", handlers.reset())
        env = base_env(BFL_API_KEY=KEY, BFL_BASE_URL=server.url)
        target = str(tmp_path / "owl.png")
        lost = run_script(["generate", "an owl", "-o", target, "--timeout", "20"], env)
        again = run_script(["generate", "an owl", "-o", target, "--timeout", "20"], env)
    assert lost.returncode != 0
    assert again.returncode != 0
    assert "sent earlier" in again.stderr
    for run in (gif, lost, again):
        said = (run.stdout + run.stderr).lower()
        assert "batch" not in said
        assert not re.search(r"request \d", said), said


def test_plain_progress_and_tasks_say_each_thing_once(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "out"
    slow = ["generate", "a [slow] fox", "-o", str(out / "slow.png"), "--timeout", "0.5"]
    runs = [
        run_script(["generate", "a fox", "-o", str(out / "fox.png")], env),
        run_script(["generate", "a fox [fail]", "-o", str(out / "bad.png")], env),
        run_script(slow, env),
    ]
    assert [run.returncode for run in runs][:2] == [0, 1]
    assert runs[2].returncode != 0
    progress = "".join(run.stderr for run in runs)
    assert ": saved 100%" in progress  # the image's line still ends at 100 %
    assert re.search(r": failed$", progress, flags=re.MULTILINE), progress
    for odd in ("failed 100%", "unfinished 100%", "uncertain 100%"):
        assert odd not in progress
    listed = run_script(["tasks", str(out)], env)
    assert listed.returncode == 0
    summary = [line for line in listed.stdout.splitlines() if re.match(r"^\d+ ", line)]
    assert "1 saved" in summary
    assert "1 failed" in summary
    assert not any(re.search(r"(\w+): \1$", line) for line in summary), summary


def test_the_mock_server_banner_writes_the_balance_as_people_do() -> None:
    from flux_flex.testing._server import _banner

    with FakeBFL(balance=1_000_000.0) as fake:
        banner = "\n".join(_banner(fake, 0))
    assert "balance 1,000,000 credits" in banner
    assert "e+" not in banner


def test_one_money_format_in_the_library_and_the_cli(tmp_path: Path) -> None:
    estimate = prepare_request("a fox", width=1440, height=1440).estimate()
    assert str(estimate) == "10.37 credits (0.10 USD)"
    prompts = tmp_path / "prompts.txt"
    prompts.write_text('{"prompt": "a fox", "width": 1440, "height": 1440}\n')
    dry = run_script(["batch", str(prompts), "--out-dir", str(tmp_path), "--dry-run", "--mock"],
                     base_env())  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "10.37 credits (0.10 USD)" in dry.stdout + dry.stderr
    assert "0.1037" not in dry.stdout + dry.stderr


@pytest.mark.parametrize("level", ["info", "debug", ""])
def test_flux_flex_log_turns_the_library_logs_on(level: str) -> None:
    port = closed_port()
    code = (
        "from flux_flex import FluxFlex\n"
        f"client = FluxFlex(api_key='k', base_url='http://127.0.0.1:{port}')\n"
        "try:\n    client.credits()\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
    )
    env = base_env(FLUX_FLEX_LOG=level) if level else base_env()
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert run.stdout.strip() == "APIConnectionError"
    retried = "checking the credits: connection refused; retrying in" in run.stderr
    exchanges = f"GET http://127.0.0.1:{port}/v1/credits" in run.stderr
    assert (retried, exchanges) == {
        "info": (True, False),
        "debug": (True, True),
        "": (False, False),
    }[level]
