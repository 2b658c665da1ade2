"""The compatibility pass (``make compat``): the declared support, tested.

    python scripts/compat.py [--uv PATH] [--only NAME] [-n WORKERS] [PYTEST_PATH ...]

``pyproject.toml`` promises Python 3.11-3.13 and lower bounds for every dependency, while
``.venv`` holds one Python and the newest locked versions. This runs the client, batch,
journal and webhook suites twice more (the pure ``tests/core`` is left to the main run: it has
no dependency but the standard library and attrs, and the pass must stay within 3 minutes):

- ``py3.13``: Python 3.13 with ``uv.lock`` exactly;
- ``lowest-direct``: Python 3.11 with every direct dependency at its lowest declared version
  (uv's ``--resolution lowest-direct``), which is what a user with old pins gets.

The environments live under ``.compat/`` (git ignores it) and are reused: ``uv sync`` is a
no-op when nothing changed, and the lowest-direct resolution is redone only when
``pyproject.toml``, the interpreter or uv changed.

Interpreters are found, never downloaded (``UV_PYTHON_DOWNLOADS=never``): ``COMPAT_PYTHON_3_13``
(or ``_3_11``) if set, else ``python3.13`` on the PATH if it runs, else pyenv's versions, else
the ones uv knows. One that is missing is said in one line; under CI (``CI`` set) that fails
the pass, elsewhere the other pass still runs.

Exit 0 when every pass that ran passed (and, under CI, both ran); 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPAT = ROOT / ".compat"
SUITES = ("tests/client", "tests/batch", "tests/journal", "tests/webhooks")


@dataclass(frozen=True)
class Pass:
    """One environment of the compatibility pass."""

    name: str
    python: str  # "3.13"
    resolution: str  # "locked" or "lowest-direct"

    @property
    def env(self) -> Path:
        return COMPAT / self.name


PASSES = (Pass("py3.13", "3.13", "locked"), Pass("lowest-direct", "3.11", "lowest-direct"))


def say(message: str) -> None:
    print(f"compat: {message}", file=sys.stderr, flush=True)


# -- finding an interpreter -------------------------------------------------------------------
def _interpreter(candidate: str) -> tuple[str, str] | None:
    """(its real executable, "3.13.0") for a Python that runs; None for anything else (a
    pyenv shim of a version that is not selected refuses to run)."""
    code = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
    try:
        done = subprocess.run([candidate, "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split()
    return (lines[0], lines[1]) if done.returncode == 0 and len(lines) == 2 else None


def _pyenv_candidates(minor: str) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = []
    for folder in (root / "versions").glob(f"{minor}.*"):
        patch = folder.name.removeprefix(f"{minor}.")
        if patch.isdigit():  # 3.13.1, not 3.13-dev or 3.13.0t
            found.append((int(patch), str(folder / "bin" / f"python{minor}")))
    return [path for _, path in sorted(found, reverse=True)]


def _uv_candidate(uv: str, minor: str) -> list[str]:
    """The Python ``minor`` that uv knows (its own installs too), if any."""
    try:
        done = subprocess.run(
            [uv, "python", "find", "--no-project", minor], capture_output=True, text=True
        )
    except OSError:  # no uv there: the other places still count
        return []
    return [done.stdout.strip()] if done.returncode == 0 and done.stdout.strip() else []


def python_variable(minor: str) -> str:
    """The environment variable that names the Python ``minor`` to use."""
    return f"COMPAT_PYTHON_{minor.replace('.', '_')}"


def find_python(uv: str, minor: str) -> tuple[str, str] | None:
    """(path, version) of a Python ``minor`` on this machine, or None; nothing is downloaded."""
    override = os.environ.get(python_variable(minor))
    if override:
        candidates = [override]  # what the user named, or nothing: no silent fallback
    else:
        on_path = shutil.which(f"python{minor}")
        candidates = [*([on_path] if on_path else []), *_pyenv_candidates(minor)]
        candidates += _uv_candidate(uv, minor)
    for candidate in candidates:
        found = _interpreter(candidate)
        if found and found[1].rsplit(".", 1)[0] == minor:
            return found
    return None


def under_ci() -> bool:
    """True where CI is set (GitHub Actions and .ci/run set CI=true)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


# -- building an environment ------------------------------------------------------------------
def _uv_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.pop("VIRTUAL_ENV", None)  # an activated .venv must not stand in for the target
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    """Run a uv command quietly; on failure, its own message and which step it was."""
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"compat: '{' '.join(command[:3])} ...' failed (its message above)")


def build_locked(uv: str, spec: Pass, python: str) -> None:
    """``uv.lock`` exactly, into ``spec.env``; uv leaves an up-to-date environment alone."""
    env = _uv_env() | {"UV_PROJECT_ENVIRONMENT": str(spec.env)}
    _run([uv, "sync", "--locked", "--quiet", "--all-extras", "--python", python], env=env)


def build_lowest_direct(uv: str, spec: Pass, python: str, version: str) -> None:
    """Every direct dependency at its lower bound, resolved again only when an input changed.

    ``uv sync --resolution lowest-direct`` would rewrite uv.lock, so the resolution goes to a
    requirements file of the environment's own instead (``uv pip compile``).
    """
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout
    inputs = (ROOT / "pyproject.toml").read_bytes() + f"{python} {version} {uv_version}".encode()
    digest = hashlib.sha256(inputs).hexdigest()
    stamp = spec.env / ".flux-flex-compat"
    if stamp.is_file() and stamp.read_text() == digest and (spec.env / "bin" / "python").exists():
        return
    env = _uv_env()
    shutil.rmtree(spec.env, ignore_errors=True)
    _run([uv, "venv", "--quiet", "--python", python, str(spec.env)], env=env)
    requirements = spec.env / "requirements.txt"
    compile_ = [uv, "pip", "compile", "--quiet", "pyproject.toml", "--all-extras", "--group"]
    compile_ += ["dev", "--resolution", "lowest-direct", "--python", python]
    _run([*compile_, "-o", str(requirements)], env=env)
    # The project itself, editable as in .venv, beside the pins (the compiled file names
    # only its dependencies).
    with requirements.open("a") as file:
        file.write(f"-e {ROOT}\n")
    target = str(spec.env / "bin" / "python")
    _run([uv, "pip", "sync", "--quiet", "--python", target, str(requirements)], env=env)
    stamp.write_text(digest)


# -- running ----------------------------------------------------------------------------------
def run_pass(uv: str, spec: Pass, suites: list[str], workers: str) -> bool | None:
    """True/False for a pass that ran and passed/failed; None when its Python is missing."""
    found = find_python(uv, spec.python)
    if found is None:
        variable = python_variable(spec.python)
        where = (
            f"{variable}={os.environ[variable]} is not a Python {spec.python}"
            if os.environ.get(variable)
            else f"no Python {spec.python} found (python{spec.python} on the PATH, pyenv, uv)"
        )
        outcome = "cannot run, which fails the run (CI is set)" if under_ci() else "is skipped"
        say(
            f"{where}: the {spec.name} pass {outcome}; install one "
            f"(pyenv install {spec.python}) or set {variable} to its path"
        )
        return None
    python, version = found
    started = time.monotonic()
    if spec.resolution == "locked":
        build_locked(uv, spec, python)
    else:
        build_lowest_direct(uv, spec, python, version)
    setup = time.monotonic() - started
    say(f"{spec.name}: Python {version}, {spec.resolution} dependencies ({setup:.0f} s to set up)")
    command = [str(spec.env / "bin" / "pytest"), "-q", "-n", workers, *suites]
    passed = subprocess.run(command, cwd=ROOT, env=_uv_env()).returncode == 0
    say(f"{spec.name}: {'passed' if passed else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv to use")
    parser.add_argument("--only", choices=[p.name for p in PASSES], help="run one pass")
    parser.add_argument("-n", "--workers", default="auto", help="pytest-xdist processes")
    parser.add_argument("paths", nargs="*", help="test paths (default: the suites above)")
    args = parser.parse_args(argv)
    suites = args.paths or [s for s in SUITES if (ROOT / s).is_dir()]
    results = {
        spec.name: run_pass(args.uv, spec, suites, args.workers)
        for spec in PASSES
        if args.only in (None, spec.name)
    }
    if any(result is False for result in results.values()):
        return 1
    if None in results.values() and under_ci():
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
