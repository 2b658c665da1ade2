"""Benchmark "gzip_bombs": peak memory of a client fed gzip bombs (1 GB once inflated).

The API is `benchmarks.bomb_server` in a child process (the standard library, not our fake).
Every client runs in a child process of its own, so its memory is the client's alone:

- ``download`` / ``poll``: in one child (imports done, one normal image downloaded first),
  the peak RSS mark is reset (``/proc/self/clear_refs``) before each call, and the figure
  is the peak (``VmHWM``) over the RSS just before: one ``generate`` whose image is a bomb
  (it must end in `DownloadError`), one ``get_result`` whose answer is a bomb (it must end
  in `ProtocolError`), and one normal image of about 0.8 MB for comparison; with
  `FluxFlex` and with `AsyncFluxFlex`. Target: at most +64 MB each.
- ``cli_batch``: ``flux-flex batch`` of 8 lines at concurrency 8, as a real process, whose
  images are all bombs, against the same batch of normal images; peak RSS of each process
  (``ru_maxrss`` from ``os.wait4``), median of ``rounds``. Target: bombs at most +100 MB
  over normal.

    python -m benchmarks.gzip_bombs [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.bomb_server import BombServer
from benchmarks.fakeproc import REPO_ROOT

LINES = 8
CALL_TARGET_MB = 64.0
BATCH_TARGET_MB = 100.0


def run(*, quick: bool = False, rounds: int = 3) -> dict[str, Any]:
    """Measure with a bomb server of its own; the figures.

    Keys: ``download_growth_mb`` and ``poll_growth_mb`` (the larger of sync and async),
    ``normal_download_growth_mb``, ``cli_batch_bombs_peak_mb``, ``cli_batch_normal_peak_mb``,
    ``cli_batch_over_normal_mb``, and the details per client (``calls``) and per round
    (``cli_batch_rounds``).
    """
    rounds = 1 if quick else rounds
    with BombServer() as server:
        calls = _in_child({"url": server.url})
        batches: dict[str, list[float]] = {"bombs": [], "normal": []}
        for _ in range(rounds):
            for kind in batches:  # interleaved: a load swing hits both alike
                batches[kind].append(_cli_batch_peak_mb(server.url, kind))
    bombs, normal = (round(statistics.median(batches[k]), 1) for k in ("bombs", "normal"))
    return {
        "download_growth_mb": max(calls[c]["bomb_download_mb"] for c in calls),
        "poll_growth_mb": max(calls[c]["bomb_poll_mb"] for c in calls),
        "normal_download_growth_mb": max(calls[c]["normal_download_mb"] for c in calls),
        "cli_batch_bombs_peak_mb": bombs,
        "cli_batch_normal_peak_mb": normal,
        "cli_batch_over_normal_mb": round(bombs - normal, 1),
        "calls": calls,
        "cli_batch_rounds": batches,
        "lines": LINES,
    }


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["BFL_API_KEY"] = "bench-key"
    return env


def _in_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gzip_bombs", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the measuring child failed: {done.stderr.strip()[-2000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def _cli_batch_peak_mb(url: str, kind: str) -> float:
    """Peak RSS (MB) of one ``flux-flex batch`` of `LINES` lines whose images are ``kind``."""
    script = Path(sys.executable).with_name("flux-flex")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "flux_flex.cli"]
    with tempfile.TemporaryDirectory() as folder:
        prompts = Path(folder, "prompts.txt")
        word = "bomb" if kind == "bombs" else "fox"
        prompts.write_text("".join(f"a {word} number {i}\n" for i in range(LINES)))
        command += ["batch", str(prompts), "--out-dir", str(Path(folder, "out")), "--json"]
        command += ["--concurrency", str(LINES), "--yes", "--base-url", url]
        with open(Path(folder, "stdout"), "w+") as out, open(Path(folder, "stderr"), "w+") as err:
            process = subprocess.Popen(command, env=_env(), stdout=out, stderr=err)
            # os.wait4: this child's own peak RSS (ru_maxrss, KiB on Linux).
            deadline = time.monotonic() + 300
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise RuntimeError(f"flux-flex batch of {kind} did not end within 300 s")
                time.sleep(0.05)
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped already
            out.seek(0)
            err.seek(0)
            report = json.loads(out.read() or "{}")
            expected = LINES if kind == "normal" else 0
            if report.get("generated") != expected:
                raise RuntimeError(
                    f"flux-flex batch of {kind}: {report.get('generated')} images saved, "
                    f"{expected} expected; stderr: {err.read()[-2000:]}"
                )
    return round(usage.ru_maxrss / 1024, 1)


# -- in the child ---------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class _Peak:
    """Within it: the peak RSS over the RSS at its start, as ``mb`` once it has ended."""

    mb = 0.0

    def __enter__(self) -> _Peak:
        gc.collect()
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # VmHWM := VmRSS (Linux >= 4.0)
        self._before = _status_kb("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.mb = round((_status_kb("VmHWM") - self._before) / 1024, 1)


@contextlib.contextmanager
def _refused(error: type[BaseException]) -> Iterator[None]:
    """The block must end in ``error`` (a bomb refused), which is swallowed."""
    try:
        yield
    except error:
        return
    raise RuntimeError(f"a bomb did not end in {error.__name__}")


def _sync_figures(url: str, saved: Iterator[Path]) -> dict[str, float]:
    from flux_flex import DownloadError, FluxFlex, ProtocolError

    with FluxFlex(api_key="bench-key", base_url=url) as client:
        client.generate("a fox", save_to=next(saved))  # warm-up: imports, pool
        with _Peak() as normal:
            client.generate("a fox", save_to=next(saved))
        with _Peak() as download, _refused(DownloadError):
            client.generate("a bomb", save_to=next(saved))
        with _Peak() as poll, _refused(ProtocolError):
            client.get_result("poll-bomb-1")
    return {
        "normal_download_mb": normal.mb,
        "bomb_download_mb": download.mb,
        "bomb_poll_mb": poll.mb,
    }


async def _async_figures(url: str, saved: Iterator[Path]) -> dict[str, float]:
    from flux_flex import AsyncFluxFlex, DownloadError, ProtocolError

    async with AsyncFluxFlex(api_key="bench-key", base_url=url) as client:
        await client.generate("a fox", save_to=next(saved))  # warm-up: imports, pool
        with _Peak() as normal:
            await client.generate("a fox", save_to=next(saved))
        with _Peak() as download, _refused(DownloadError):
            await client.generate("a bomb", save_to=next(saved))
        with _Peak() as poll, _refused(ProtocolError):
            await client.get_result("poll-bomb-2")
    return {
        "normal_download_mb": normal.mb,
        "bomb_download_mb": download.mb,
        "bomb_poll_mb": poll.mb,
    }


def _child_main(url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        saved = iter(Path(folder, f"{i}.png") for i in itertools.count())
        return {
            "sync": _sync_figures(url, saved),
            "async": asyncio.run(_async_figures(url, saved)),
        }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.gzip_bombs``: print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gzip_bombs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one round of CLI batches")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child_main(json.loads(args.child)["url"])))
        return 0
    print(json.dumps(run(quick=args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
