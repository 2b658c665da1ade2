"""The cluster tests' parts, all real processes and sockets on 127.0.0.1.

- `FakeApi`: the fake API in a child process (`tests.cluster.fake_child`), with what it saw
  (POSTs and billed tasks per prompt, 429s, peak running tasks, downloads).
- `cli`: a ``flux-flex`` command as a subprocess against that fake.
- `RoundRobinProxy`: a load balancer (standard library) handing each request to the next
  backend in turn, as one in front of several replicas does.
- `prompts_file`, `images`: a batch's lines (one JSON object per line, each with its name)
  and the images saved across workers' folders, by line name.

The throwaway PostgreSQL server is tests/postgres.py's.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = [
    "IMAGE_SUFFIXES",
    "FakeApi",
    "RoundRobinProxy",
    "cli",
    "finish",
    "images",
    "journal_counts",
    "journal_owners",
    "line_names",
    "output",
    "prompts_file",
    "wait_for_port",
    "wait_until",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".webp")


def _python_path() -> str:
    """The repository first (``tests`` importable), then what the caller had."""
    return os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))


class FakeApi:
    """The fake API in a child process: ``base_url``, ``api_key``, `stats`, `stall`, `set`.

    ``config`` is `FakeBFL`'s keyword arguments; a prompt with ``[seconds=S]`` runs S s.
    """

    def __init__(self, **config: Any) -> None:
        self.config = config
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed on exit)
        self._lock = threading.Lock()
        self.base_url = ""
        self.api_key = ""

    def __enter__(self) -> FakeApi:
        env = {**os.environ, "PYTHONPATH": _python_path()}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster.fake_child", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        hello = self._line()
        self.base_url, self.api_key = hello["base_url"], hello["api_key"]
        return self

    def _line(self) -> dict[str, Any]:
        assert self._proc is not None
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            raise RuntimeError(f"the fake exited ({self._proc.returncode}): {self._stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, **command: Any) -> dict[str, Any]:
        with self._lock:
            assert self._proc is not None
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
            return self._line()

    def stats(self) -> dict[str, Any]:
        """POSTs/created tasks/downloads per prompt, 429s, peak running (fake_child)."""
        return self._ask(cmd="stats")

    def stall(self, method: str, path: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` requests to ``method path`` for ``seconds``."""
        self._ask(cmd="stall", method=method, path=path, seconds=seconds, times=times)

    def spans(self) -> dict[str, Any]:
        """How many tasks, when the first was created and the last one ended (monotonic)."""
        return self._ask(cmd="spans")

    def clear(self) -> None:
        """Drop the stalls not used yet."""
        self._ask(cmd="clear")

    def set(self, name: str, value: Any) -> None:
        """Change one setting of the running fake (e.g. ``task_seconds``)."""
        self._ask(cmd="set", name=name, value=value)

    def env(self, **more: str) -> dict[str, str]:
        """The environment of a client process pointed at this fake."""
        env = {**os.environ, "BFL_BASE_URL": self.base_url, "BFL_API_KEY": self.api_key}
        for name in ("FLUX_FLEX_JOURNAL", "BFL_REGION", "NO_COLOR"):
            env.pop(name, None)
        return {**env, "PYTHONPATH": _python_path(), **more}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        self._stderr.close()


_OUTPUT: dict[int, tuple[IO[str], IO[str]]] = {}


def cli(fake: FakeApi, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """``flux-flex ARGS`` as a subprocess against ``fake``, run in ``cwd`` (a test's own
    folder: whatever a command leaves behind lands there). Its stdout and stderr go to
    files, not pipes: a worker whose output nobody reads yet never blocks (`finish`)."""
    out = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by finish)
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by finish)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flux_flex.cli", *args],
        env=fake.env(),
        stdout=out,
        stderr=err,
        text=True,
        cwd=cwd,
        start_new_session=True,  # a signal to it reaches no one else
    )
    _OUTPUT[proc.pid] = (out, err)
    return proc


def output(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """What ``proc`` wrote so far (stdout, stderr); waits for a piped process to end."""
    files = _OUTPUT.get(proc.pid)
    if files is None:
        out, err = proc.communicate()
        return out or "", err or ""
    texts = []
    for file in files:
        file.seek(0)
        texts.append(file.read())
    return texts[0], texts[1]


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for ``proc`` (killed after ``timeout``): exit code, stdout, stderr."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        out, err = output(proc)
        raise AssertionError(f"{proc.args!r} still ran after {timeout} s:\n{out}\n{err}") from None
    out, err = output(proc)
    for file in _OUTPUT.pop(proc.pid, ()):
        file.close()
    return proc.returncode, out, err


def journal_counts(url: str) -> dict[str, int]:
    """Entries per state in the journal at ``url`` (proof the workers wrote to it)."""
    from flux_flex import Journal

    with Journal(url) as journal:
        return {state: count for state, count in journal.counts().items() if count}


def journal_owners(url: str) -> set[str]:
    """The runs that own an entry of the journal at ``url`` now."""
    from flux_flex import Journal

    with Journal(url) as journal:
        return {entry.owner for entry in journal.entries() if entry.owner}


def wait_until(predicate: Any, timeout: float = 30, every: float = 0.02) -> None:
    """Poll ``predicate()`` until true (AssertionError after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not true after {timeout} s: {predicate}"
        time.sleep(every)


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Block until ``proc`` accepts connections on ``port``; fail at once if it exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                out, err = output(proc)
                message = f"{proc.args!r} exited ({proc.returncode}):\n{out}\n{err}"
                raise AssertionError(message) from None
            assert time.monotonic() < deadline, f"nothing listens on {port} after {timeout} s"
            time.sleep(0.05)


def line_names(count: int) -> list[str]:
    """The names ``prompts_file`` gives its lines."""
    return [f"line{i:04d}" for i in range(count)]


def prompts_file(path: Path, count: int, seconds: float | None = None) -> Path:
    """A batch file of ``count`` JSON lines, each with its own ``name`` and prompt (a task
    of ``seconds`` on `FakeApi` when given)."""
    lines = []
    for name in line_names(count):
        prompt = f"prompt {name}" + (f" [seconds={seconds:g}]" if seconds is not None else "")
        lines.append(json.dumps({"name": name, "prompt": prompt}))
    path.write_text("\n".join(lines) + "\n")
    return path


def images(folders: Sequence[Path]) -> dict[str, list[Path]]:
    """The images saved in ``folders``, by the line name starting their file name."""
    found: dict[str, list[Path]] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.suffix in IMAGE_SUFFIXES and path.name.startswith("line"):
                found.setdefault(path.name[:8], []).append(path)
    return found


def prompt_of(name: str, seconds: float | None = None) -> str:
    """The prompt ``prompts_file`` writes for the line ``name``."""
    return f"prompt {name}" + (f" [seconds={seconds:g}]" if seconds is not None else "")


class RoundRobinProxy:
    """A load balancer on a free port of 127.0.0.1: each request goes to the next of
    ``backends`` (host, port) in turn, as an HTTP/1.1 load balancer in front of replicas
    does. Per request, not per connection: a client that keeps its connection alive (the
    fake's webhook sender does) still reaches every replica. ``url`` is
    ``http://127.0.0.1:PORT``; ``requests`` counts them per backend."""

    def __init__(self, backends: Sequence[tuple[str, int]]) -> None:
        self.backends = list(backends)
        self.requests = [0] * len(self.backends)
        self._turn = itertools.count()
        proxy = self

        class Forward(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._forward()

            def do_GET(self) -> None:
                self._forward()

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                index = next(proxy._turn) % len(proxy.backends)
                proxy.requests[index] += 1
                host, port = proxy.backends[index]
                upstream = http.client.HTTPConnection(host, port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    status, reason = answer.status, answer.reason
                    kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP]
                except OSError:
                    status, reason, kept, data = 502, "Bad Gateway", [], b""
                finally:
                    upstream.close()
                self.send_response(status, reason)
                for name, value in kept:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RoundRobinProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@contextlib.contextmanager
def running(*procs: subprocess.Popen[str]) -> Iterator[None]:
    """Kill (SIGKILL) whatever of ``procs`` still runs when the block ends."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.pid in _OUTPUT:
                finish(proc)  # closes its output files
