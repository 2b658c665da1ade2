"""Start ``benchmarks.fake_server`` in a child process and talk to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class FakeProcess:
    """The fake API in a child process: ``base_url``, ``api_key``, ``mark()``, ``snapshot()``."""

    def __init__(self, *, max_in_flight: int = 24) -> None:
        self._config = {"max_in_flight": max_in_flight}
        self._proc: subprocess.Popen[str] | None = None
        # A file, not a pipe: a chatty server could fill a pipe nobody reads and stall.
        self._stderr = tempfile.TemporaryFile(mode="w+", prefix="flux-flex-bench-fake-")  # noqa: SIM115 (closed in __exit__)
        self.base_url = ""
        self.api_key = ""

    def __enter__(self) -> FakeProcess:
        env = dict(os.environ)  # `benchmarks` importable whatever the caller's cwd
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fake_server", json.dumps(self._config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        hello = self._read_line()
        self.base_url, self.api_key = hello["base_url"], hello["api_key"]
        return self

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        if self._proc is None or self._proc.stdin is None or self._proc.stdout is None:
            raise RuntimeError("the fake process is not running; use it as a context manager")
        return self._proc.stdin, self._proc.stdout

    def _read_line(self) -> dict[str, Any]:
        _, stdout = self._pipes()
        line = stdout.readline()
        if not line:
            assert self._proc is not None
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            err = self._stderr.read()
            raise RuntimeError(
                f"the fake API process exited ({self._proc.returncode}): {err.strip()[-2000:]}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        stdin, _ = self._pipes()
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self._read_line()

    def mark(self) -> int:
        """The number of requests the fake has recorded so far (a start mark for `snapshot`)."""
        return int(self._ask({"cmd": "mark"})["mark"])

    def snapshot(self, since: int, task_ids: list[str] | None = None) -> dict[str, Any]:
        """Request counts since ``since``, per-task GETs, the given tasks' timestamps."""
        return self._ask({"cmd": "snapshot", "since": since, "task_ids": task_ids or []})

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            self._stderr.close()
