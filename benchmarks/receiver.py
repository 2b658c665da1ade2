"""Benchmark: webhook deliveries per second, ``ReceiverServer`` against a minimal Starlette one.

Two servers, each in its own child process, side by side in one run:

- ``baseline``: a Starlette app with one route that reads the body, checks its
  ``X-BFL-Signature`` (HMAC-SHA256) in constant time and answers JSON, served by uvicorn the
  usual way (``uvicorn.run(app, host, port)``);
- ``receiver``: ``WebhookReceiver`` served the way the README shows, ``ReceiverServer``
  (what ``flux-flex webhook-listen`` runs too).

The sender is this process: httpx's ``AsyncClient`` with ``connections`` keep-alive
connections and as many workers, each posting signed deliveries (distinct task ids, signed
before the clock starts) back to back. Each round measures the baseline and then the
receiver for ``seconds`` each, after a short warm-up; the figures are the medians over the
rounds, and the ratio is receiver / baseline (higher is better, target >= 0.8 at 16
connections). Only 200 answers count; anything else is reported under ``refused``.

The server processes' CPU time per delivery is measured too (Linux ``/proc``): on a
machine where the sender cannot saturate the servers, ``cpu_ratio_<n>`` (baseline CPU per
delivery / receiver's) is what the ratio would be if the servers set the pace.

``run(...)`` returns (flat keys for the report, per-connection details under ``by_connections``):
``receiver_per_s_<n>``, ``baseline_per_s_<n>``, ``ratio_<n>`` (receiver / baseline) for
each ``n`` in ``connections`` (default 16 and 1); where ``/proc`` is readable also
``receiver_cpu_us_per_delivery_<n>``, ``baseline_cpu_us_per_delivery_<n>`` and
``cpu_ratio_<n>``; plus ``seconds``, ``rounds``, ``refused`` (non-200 answers, expected 0)
and ``by_connections`` (each round's figures).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks.stats import median

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret"
WARMUP_SECONDS = 0.3
SERVERS = ("baseline", "receiver")


def _signed(task_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "id": task_id,
            "status": "Ready",
            "result": {"sample": f"https://delivery.example/{task_id}.jpeg", "seed": 1},
            "timestamp": "2025-01-15T10:30:00Z",
        },
        separators=(",", ":"),
    ).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-bfl-signature": f"sha256={digest}"}


# -- the servers (child processes) ------------------------------------------------------------


def _baseline_app() -> Any:
    """The minimal endpoint: read the body, check the HMAC, answer JSON."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    key = SECRET.encode()

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        given = request.headers.get("x-bfl-signature", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": "bad_signature"}, status_code=401)
        return JSONResponse({"status": "accepted"})

    return Starlette(routes=[Route("/", hook, methods=["POST"])])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(kind: str) -> None:
    """Serve ``kind`` (baseline or receiver), print its URL, stop when stdin closes."""
    if kind == "baseline":
        import uvicorn

        port = _free_port()
        config = uvicorn.Config(
            _baseline_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        print(json.dumps({"url": f"http://127.0.0.1:{port}/"}), flush=True)
        sys.stdin.read()
        server.should_exit = True
        thread.join(10)
    elif kind == "receiver":
        from flux_flex.webhooks import ReceiverServer, WebhookReceiver

        with ReceiverServer(WebhookReceiver(SECRET)) as receiver_server:
            print(json.dumps({"url": receiver_server.url}), flush=True)
            sys.stdin.read()
    else:
        raise SystemExit(f"unknown server {kind!r}: one of {', '.join(SERVERS)}")


class ServerProcess:
    """One of the servers in a child process; ``url`` once entered."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.receiver", "serve", self.kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            raise RuntimeError(f"the {self.kind} server exited ({self._proc.returncode})")
        self.url = json.loads(line)["url"]
        return self

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server process has used so far; None off Linux."""
        if self._proc is None:
            return None
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime are fields 14 and 15 of the file, 12 and 13 after "pid (comm) ".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


# -- the sender (this process) ----------------------------------------------------------------


def _send(url: str, connections: int, seconds: float, prefix: str) -> tuple[int, int]:
    """Deliveries answered 200, and others, in ``seconds`` (after a warm-up).

    One thread per connection, each with its own keep-alive ``httpx.Client``: on this
    workload httpx's sync client in threads outpaces its ``AsyncClient`` (whose pool costs
    grow with concurrency), and the sender must not be what limits the figure.
    """
    import httpx

    ok = [0] * connections
    refused = [0] * connections
    counting = threading.Event()
    stop = threading.Event()

    def worker(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            sent = 0
            while not stop.is_set():
                body, headers = _signed(f"{prefix}-{index}-{sent}")
                sent += 1
                response = client.post(url, content=body, headers=headers)
                if counting.is_set():
                    if response.status_code == 200:
                        ok[index] += 1
                    else:
                        refused[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(WARMUP_SECONDS)
    counting.set()
    time.sleep(seconds)
    counting.clear()
    stop.set()
    for thread in threads:
        thread.join()
    return sum(ok), sum(refused)


def run(
    *, seconds: float = 2.0, rounds: int = 3, connections: Sequence[int] = (16, 1)
) -> dict[str, Any]:
    """Deliveries per second of both servers at each connection count, and their ratios."""
    per_s: dict[tuple[str, int], list[float]] = {}
    cpu_us: dict[tuple[str, int], list[float]] = {}
    refused = 0
    with ServerProcess("baseline") as baseline, ServerProcess("receiver") as receiver:
        servers = {"baseline": baseline, "receiver": receiver}
        for round_ in range(rounds):
            for count in connections:
                for kind, server in servers.items():
                    cpu_before = server.cpu_seconds()
                    ok, bad = _send(server.url, count, seconds, f"{kind}-{count}-{round_}")
                    cpu_after = server.cpu_seconds()
                    per_s.setdefault((kind, count), []).append(ok / seconds)
                    if cpu_before is not None and cpu_after is not None and ok:
                        # The warm-up's requests are in the CPU time too: per request sent.
                        sent = ok * (1 + WARMUP_SECONDS / seconds)
                        cpu_us.setdefault((kind, count), []).append(
                            (cpu_after - cpu_before) / sent * 1e6
                        )
                    refused += bad
    results: dict[str, Any] = {"seconds": seconds, "rounds": rounds, "refused": refused}
    details: dict[str, Any] = {}
    for count in connections:
        base = median(per_s[("baseline", count)])
        ours = median(per_s[("receiver", count)])
        ratio = round(ours / base, 3) if base else None
        results[f"baseline_per_s_{count}"] = round(base, 1)
        results[f"receiver_per_s_{count}"] = round(ours, 1)
        results[f"ratio_{count}"] = ratio
        details[str(count)] = {
            "baseline_rounds": [round(v, 1) for v in per_s[("baseline", count)]],
            "receiver_rounds": [round(v, 1) for v in per_s[("receiver", count)]],
        }
        cpu = {kind: median(cpu_us[(kind, count)]) for kind in SERVERS if cpu_us.get((kind, count))}
        for kind, value in cpu.items():
            results[f"{kind}_cpu_us_per_delivery_{count}"] = round(value, 1)
        if len(cpu) == 2 and cpu["receiver"] > 0:
            # (a quick run on a loaded machine can see no clock tick of the receiver's CPU)
            # What the ratio would be if the servers, not the sender, set the pace.
            results[f"cpu_ratio_{count}"] = round(cpu["baseline"] / cpu["receiver"], 3)
    results["by_connections"] = details
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.receiver [serve KIND]``: serve one server, or run and print."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"] and len(args) == 2:
        serve(args[1])
        return 0
    print(json.dumps(run(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
