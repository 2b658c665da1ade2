"""`mock-server` and `webhook-listen` through the real console script, and missing extras."""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flux_flex.cli
import httpx
import pytest
from flux_flex import FluxFlex
from flux_flex.cli import MISSING_EXTRA, main
from flux_flex.webhooks import SIGNATURE_HEADER, sign

from .conftest import FLUX_FLEX, invoke


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on ``port`` (the banner may come first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FLUX_FLEX, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    return out, err


MOCK_CONFIG = """
task_seconds = 0.2
lifecycle = [["Pending", 0.05], "Reasoning", "Generating"]
balance = 12.0

[markers]
"[upscale]" = ["Pending", "Reasoning", "Generating", "Upscaling", "Ready"]
"[stuck]" = [["Pending", 0], "Upscaling"]

[[faults]]
kind = "status"
method = "POST"
path = "/v1/flux-2-flex"
status = 503
"""


def test_mock_server_configured_by_file_and_flags_drives_a_client_elsewhere(
    tmp_path: Path,
) -> None:
    config = tmp_path / "fake.toml"
    config.write_text(MOCK_CONFIG)
    args = ["mock-server", "--port", "0", "--config", str(config), "--api-key", "k-1"]
    args += ["--error-shape", "error", "--fault", "stall GET /v1/credits seconds=0.01"]
    proc = start(args, dict(os.environ))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base_url = first.split(" at ", 1)[1].split()[0]
        exports = proc.stdout.readline()
        assert f"BFL_BASE_URL={base_url}" in exports
        with httpx.Client(base_url=base_url, headers={"x-key": "k-1"}, timeout=30) as api:
            square = {"prompt": "p", "width": 1024, "height": 1024}
            faulted = api.post("/v1/flux-2-flex", json=square)  # the armed fault, once
            assert (faulted.status_code, faulted.json()["error"]) == (503, "server_error")
            assert api.post("/v1/flux-2-flex", json=square).json()["cost"] == 5.24
            assert api.get("/v1/credits").json() == {"credits": 6.76}
            big = api.post("/v1/flux-2-flex", json={**square, "width": 2048})  # 10.49 > 6.76
            assert (big.status_code, big.json()["error"]) == (402, "insufficient_credits")
            stuck = api.post("/v1/flux-2-flex", json={"prompt": "[stuck]", "width": 64})
            polled = api.get("/v1/get_result", params={"id": stuck.json()["id"]}).json()
            assert polled["status"] == "Upscaling"  # a status the vendor never named
        # A client in this process follows the scripted statuses, an unknown one included.
        seen: list[str] = []
        with FluxFlex(api_key="k-1", base_url=base_url) as client:
            job = client.submit("a fox [upscale]", width=256, height=256)
            result = job.wait(timeout=60, on_progress=lambda s: seen.append(s.status))
        assert httpx.get(result.url).content.startswith(b"\xff\xd8")  # a real JPEG
        assert seen[-1] == "Ready"
        assert set(seen) <= {"Pending", "Reasoning", "Generating", "Upscaling", "Ready"}
    finally:
        _, err = stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_mock_server_refuses_a_bad_setting_with_exit_2() -> None:
    result = invoke(["mock-server", "--port", "0", "--fault", "explode GET /"], {})
    assert result.exit_code == 2
    assert "the kind must be one of status, drop, stall, malformed, cut" in result.stderr
    assert "Traceback" not in result.stderr


# `webhook-listen` needs the core, uvicorn and the CLI's own dependencies, nothing of the
# fake's: this interpreter cannot import Pillow, jsonschema or Starlette, and tells on exit
# whether anything tried.
WITHOUT_FAKE_EXTRA = textwrap.dedent(
    """
    import atexit, importlib.abc, sys

    ATTEMPTS = []

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PIL", "jsonschema", "starlette"):
                ATTEMPTS.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    atexit.register(lambda: print("blocked imports:", ATTEMPTS, file=sys.stderr))
    from flux_flex.cli import main
    main()
    """
)


def test_webhook_listen_prints_verified_events_without_the_fake_extra() -> None:
    port = free_port()
    env = {**os.environ, "HOOK_SECRET": "listen-secret"}
    command = ["webhook-listen", "--port", str(port), "--secret-env", "HOOK_SECRET"]
    proc = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_FAKE_EXTRA, *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "Listening" in proc.stdout.readline()
        wait_for_port(port)
        body = json.dumps({"id": "task-1", "status": "Ready", "result": {"sample": "x"}}).encode()
        url = f"http://127.0.0.1:{port}/"
        forged = httpx.post(url, content=body, headers={SIGNATURE_HEADER: "sha256=00"})
        assert forged.status_code == 401
        good = httpx.post(
            url, content=body, headers={SIGNATURE_HEADER: sign(body, "listen-secret")}
        )
        assert good.status_code == 200
        event = json.loads(proc.stdout.readline())
        assert (event["id"], event["status"]) == ("task-1", "Ready")
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    assert "listen-secret" not in out + err
    assert "blocked imports: []" in err


def test_webhook_listen_without_the_secret_variable_exits_2() -> None:
    result = invoke(
        ["webhook-listen", "--secret-env", "FLUX_FLEX_TEST_UNSET"], {"FLUX_FLEX_TEST_UNSET": None}
    )
    assert result.exit_code == 2
    assert "FLUX_FLEX_TEST_UNSET" in result.stderr


def test_missing_cli_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # as if `pip install flux-flex` only
    assert main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == MISSING_EXTRA
    assert "pip install 'flux-flex[cli]'" in err


def test_missing_fake_extra_with_mock_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the `fake` extra were missing
    result = invoke(["generate", "a fox", "-o", str(tmp_path / "x.png"), "--mock"], {})
    assert result.exit_code == 2
    assert "pip install 'flux-flex[fake]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_command_and_exit_codes() -> None:
    done = subprocess.run([FLUX_FLEX, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    for command in ("generate", "status", "wait", "batch", "mock-server", "webhook-listen"):
        assert command in done.stdout
    assert "2 wrong usage" in " ".join(done.stdout.split())


HEAVY = ("httpx", "starlette", "uvicorn", "PIL", "rich", "jsonschema")
HEAVY_OURS = (
    "flux_flex.client",
    "flux_flex.async_client",
    "flux_flex.testing",
    "flux_flex.webhooks",
)


def module_level_imports(tree: ast.Module) -> list[str]:
    """Modules imported when the file is imported: not in functions, not under TYPE_CHECKING."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_cli_modules_import_nothing_heavy_at_import_time() -> None:
    # `flux-flex --help` must start fast: heavy libraries are imported inside commands.
    package = Path(flux_flex.cli.__file__).parent
    found = {
        path.name: [
            name
            for name in module_level_imports(ast.parse(path.read_text(encoding="utf-8")))
            if name.split(".")[0] in HEAVY or name.startswith(HEAVY_OURS)
        ]
        for path in sorted(package.glob("*.py"))
    }
    assert len(found) >= 8
    assert {name: heavy for name, heavy in found.items() if heavy} == {}


def test_the_cli_reads_the_fakes_options_without_loading_the_fake() -> None:
    # mock-server's options come from flux_flex.testing._options (stdlib only), read when
    # the command is declared: that must not pull in the fake or any server library.
    code = (
        "import sys, flux_flex.cli.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted({*HEAVY, 'asyncio'})!r} or m.startswith({HEAVY_OURS!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['flux_flex.testing', 'flux_flex.testing._options']"


@pytest.mark.parametrize("command", [["mock-server"], ["webhook-listen", "--secret-env", "HOME"]])
def test_a_taken_port_is_one_clear_line_and_exit_2(command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [FLUX_FLEX, *command, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert str(port) in line
    assert "port" in line.lower()
