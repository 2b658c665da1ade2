"""Benchmark 4: cold start of ``import flux_flex`` and ``flux-flex --help`` against bare Python.

Each command runs in a fresh interpreter, interleaved with the others so machine noise hits
all three alike; the figure is the median wall time. Bytecode is compiled once into a private
cache (``PYTHONPYCACHEPREFIX``) before timing: that is what a user with an installed package
has, whereas ``make`` exports ``PYTHONDONTWRITEBYTECODE`` and the venv ships no ``.pyc``, so
without it every run would re-compile httpx and friends from source.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _cli_command() -> list[str]:
    """The ``flux-flex`` console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("flux-flex")
    if beside.exists():
        return [str(beside), "--help"]
    found = shutil.which("flux-flex")
    if found is None:
        raise RuntimeError("the flux-flex console script is not installed; run `make setup`")
    return [found, "--help"]


def commands() -> dict[str, list[str]]:
    """The timed commands by name; ``python -c pass`` is the baseline, ``import httpx`` the
    floor set by the one heavy dependency of the core."""
    return {
        "python_pass": [sys.executable, "-c", "pass"],
        "import_httpx": [sys.executable, "-c", "import httpx"],
        "import_flux_flex": [sys.executable, "-c", "import flux_flex"],
        # The package's exports load on first use, so this is what a program really pays.
        "import_client": [sys.executable, "-c", CLIENT_IMPORT],
        # What a program pays before its first request: import and build a client (httpx
        # imports httpcore only when a client is built, so this is the fair comparison for
        # what the client imports eagerly that httpx would load anyway).
        "httpx_client": [sys.executable, "-c", "import httpx; httpx.Client().close()"],
        "client_ready": [sys.executable, "-c", CLIENT_IMPORT + "; FluxFlex(api_key='k').close()"],
        "cli_help": _cli_command(),
    }


CLIENT_IMPORT = "from flux_flex import FluxFlex"

IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


def heaviest_imports(env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """Top-level packages ``from flux_flex import FluxFlex`` pulls in, by cumulative import ms
    (one ``python -X importtime`` run; nested imports count for the package that first needed
    them)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CLIENT_IMPORT],
        env=env,
        capture_output=True,
        text=True,
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        found = IMPORTTIME_LINE.match(line)
        if found and "." not in found.group(4) and found.group(4) != "flux_flex":
            name = found.group(4)
            totals[name] = max(totals.get(name, 0.0), int(found.group(2)) / 1000)
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return [(name, round(ms, 1)) for name, ms in ranked]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run of ``argv``."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"cold-start command {argv!r} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()[-500:]}"
        )
    return elapsed, _children_cpu() - cpu


def _added(
    samples: dict[str, list[float]], ours: str = "import_client", base: str = "import_httpx"
) -> float:
    pairs = zip(samples[ours], samples[base], strict=True)
    return round(statistics.median(c - h for c, h in pairs), 4)


def run(runs: int) -> dict[str, Any]:
    """Median wall seconds of each command over ``runs`` interleaved runs, and ratios."""
    if runs < 1:
        raise ValueError("runs must be >= 1")
    cmds = commands()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    # Kept between runs (Python checks each .pyc against its source), so only the first
    # run on a machine pays for compiling; outside the checkout, so the tree stays clean.
    pycache = Path(tempfile.gettempdir()) / f"flux-flex-bench-pycache-{os.getuid()}"
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # Warm-up, untimed: the -X importtime run compiles everything the client needs (httpx
    # included), the CLI run the rest.
    heaviest = heaviest_imports(env)
    _run_once(cmds["cli_help"], env)
    heaviest = heaviest_imports(env) if runs > 1 else heaviest  # again, now from bytecode
    names = list(cmds)
    for i in range(runs):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            wall, spent = _run_once(cmds[name], env)
            times[name].append(wall)
            cpu[name].append(spent)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    base = medians["python_pass"]
    return {
        "runs": runs,
        "bytecode": f"precompiled (PYTHONPYCACHEPREFIX={pycache}, warmed by an untimed run)",
        "median_s": {name: round(value, 4) for name, value in medians.items()},
        "min_s": {name: round(min(samples), 4) for name, samples in times.items()},
        "ratio_to_python": {
            name: round(value / base, 2) for name, value in medians.items() if name != "python_pass"
        },
        "added_s": {
            name: round(value - base, 4) for name, value in medians.items() if name != "python_pass"
        },
        "import_client_over_httpx": round(medians["import_client"] / medians["import_httpx"], 2),
        # What the client adds to its one heavy dependency: median of the per-round
        # differences (both ran back to back in each round, so load hits both alike).
        "import_client_over_httpx_s": _added(times),
        # The same in CPU time of the child (user + system): what the target checks, as it
        # barely moves with the machine's load, while wall time on a shared machine does
        # (importing is CPU work once the files are in the page cache).
        "import_client_over_httpx_cpu_s": _added(cpu),
        "cpu_median_s": {name: round(statistics.median(v), 4) for name, v in cpu.items()},
        "client_ready_over_httpx_client_s": _added(times, "client_ready", "httpx_client"),
        "client_ready_over_httpx_client_cpu_s": _added(cpu, "client_ready", "httpx_client"),
        "heaviest_imports_ms": dict(heaviest),
    }
