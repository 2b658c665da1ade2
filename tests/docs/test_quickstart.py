"""The README's offline start runs as typed, the way a newcomer runs it.

The block marked ``<!-- run: quickstart -->`` is run by bash, line after line, stopping at
the first failure, in a folder laid out like a fresh clone (the Makefile, pyproject.toml,
uv.lock and examples/ of this checkout), with nothing in the environment but ``HOME`` and
``PATH=/usr/bin:/bin``: no uv, no ``BFL_API_KEY``, no active venv. Its first line is
``make demo`` and its second activates ``.venv``; ``.venv`` is this checkout's, which
``make setup`` built (the demo's packages are a subset of it), so ``make demo`` finds it
up to date and only makes its image. How ``make demo`` builds a venv from nothing is
tests/packaging/test_bootstrap.py's subject; that it installs pytest is checked here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .snippets import ROOT, Snippet, all_snippets

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

CLONE = ("Makefile", "pyproject.toml", "uv.lock", ".venv", "examples")
# Called only if .venv were out of date (pyproject.toml or uv.lock newer than its stamp).
NO_UV = (
    "#!/bin/sh\necho 'the quickstart test found .venv out of date: run make setup' >&2\nexit 3\n"
)


def quickstart() -> Snippet:
    (block,) = [s for s in all_snippets("bash") if s.markers.get("run") == "quickstart"]
    return block


def commands(block: Snippet) -> list[str]:
    return [line for line in block.body.splitlines() if line.strip()]


def test_the_quickstart_is_in_the_readme_and_starts_with_make_demo() -> None:
    block = quickstart()
    assert block.page == "README.md"
    first, second, *rest = (re.sub(r"\s+#.*", "", line) for line in commands(block))
    assert (first, second) == ("make demo", "source .venv/bin/activate")
    assert any(line.startswith("pytest ") for line in rest)
    assert any(line.startswith("python examples/") for line in rest)
    assert any(line.startswith("flux-flex ") for line in rest)


def test_make_demo_installs_pytest() -> None:
    # The quickstart's `pytest` line needs it in the demo's venv (the cli and fake extras
    # do not bring it): the demo's recipe installs it, pinned by uv.lock.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "UV"))}
    done = subprocess.run(
        ["make", "-n", "--always-make", "demo-setup", "UV=uv"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert re.search(r"uv pip install .*\bpytest\b", done.stdout), done.stdout


def test_the_quickstart_runs_as_typed(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / ".flux-flex-demo").exists():
        pytest.fail("no .venv made by make: run make setup (make test does)")
    clone = tmp_path / "flux-flex"
    clone.mkdir()
    for name in CLONE:
        (clone / name).symlink_to(ROOT / name)
    (clone / ".tools" / "bin").mkdir(parents=True)
    (clone / ".tools" / "bin" / "uv").write_text(NO_UV)
    (clone / ".tools" / "bin" / "uv").chmod(0o755)
    # Each line is echoed to stderr before it runs, so a failure shows which line it was.
    script = "set -e -o pipefail\n" + "".join(
        f"echo {shlex.quote('+ ' + line)} >&2\n{line}\n" for line in commands(quickstart())
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert (clone / "out" / "demo.png").read_bytes().startswith(b"\x89PNG")
    assert " passed" in done.stdout
