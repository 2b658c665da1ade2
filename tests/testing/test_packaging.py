"""Imports without the extra, the install hint, serve() and ``python -m flux_flex.testing``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from flux_flex.testing import FakeBFL


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_modules_import_with_only_the_core_and_starting_names_the_extra() -> None:
    # A None entry in sys.modules makes `import starlette` fail as if it were not installed.
    result = _python(
        """
        import sys
        for name in ("starlette", "uvicorn", "PIL", "jsonschema"):
            sys.modules[name] = None
        import flux_flex.testing, flux_flex.testing.pytest_plugin
        from flux_flex.testing import FakeBFL
        try:
            FakeBFL().start()
        except ImportError as exc:
            print("HINT:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'flux-flex[fake]'" in result.stdout


def test_missing_extra_error_is_raised_by_the_context_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"flux-flex\[fake\]"), FakeBFL():
        pass


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_python_m_serves_until_interrupted(stop_signal: signal.Signals, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    config = tmp_path / "fake.json"
    config.write_text('{"balance": 3.5, "api_key": "from-file", "error_shape": "error"}')
    command = ["-m", "flux_flex.testing", "--port", "0", "--api-key", "k", "--config", str(config)]
    process = subprocess.Popen(
        [sys.executable, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = first.split(" at ")[1].split()[0]
        assert base_url.startswith("http://127.0.0.1:")
        assert "x-key: k" in first
        answer = httpx.get(base_url + "/v1/get_result", params={"id": "x"}, headers={"x-key": "k"})
        assert answer.json()["status"] == "Task not found"
        # the file's settings apply, and a flag (--api-key) overrides the file
        credits = httpx.get(base_url + "/v1/credits", headers={"x-key": "k"})
        assert credits.json() == {"credits": 3.5}
        refused = httpx.get(base_url + "/v1/credits", headers={"x-key": "from-file"})
        assert refused.json()["error"] == "invalid_api_key"
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Stopping" in out
    assert "Traceback" not in err


def test_a_busy_port_is_reported_with_what_to_do(fake: FakeBFL) -> None:
    port = int(fake.base_url.rsplit(":", 1)[1])
    with (
        pytest.raises(OSError, match=f"the fake API on 127.0.0.1:{port}.*Pick another port"),
        FakeBFL(port=port),
    ):
        pass
    assert repr(fake).startswith(f"<FakeBFL {fake.base_url} tasks=")
