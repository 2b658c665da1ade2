"""`make lint` checks .github/workflows/: a broken workflow makes its lint command fail.

The command is the one `make lint` runs (read from ``make -n lint``), run as it is in a copy
of the workflows with one broken file added. The same copy without that file passes, so the
failure is the broken file's and not the machine's.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

# What actionlint finds and a YAML parser does not: a context that does not exist, and (through
# shellcheck) an unquoted expansion in a script.
BROKEN = {
    "expression": "      - run: echo '${{ matrix.python }}'\n",
    "script": "      - run: echo $GITHUB_REF | tee $RUNNER_TEMP/ref\n",
}
HEAD = "on: push\njobs:\n  broken:\n    runs-on: ubuntu-latest\n    steps:\n"


def lint_commands(target: str = "lint") -> list[str]:
    """The commands of ``make <target>`` that check the workflows, as make would run them."""
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if "actionlint" in line]


def run_in(folder: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def copy_of_the_workflows(tmp_path: Path) -> Path:
    """A folder laid out like the checkout: the workflows, and the tools of .venv."""
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def test_make_lint_and_make_test_check_the_workflows() -> None:
    assert len(lint_commands("lint")) == 1
    assert lint_commands("test") == lint_commands("lint")


def test_the_real_workflows_pass(copy_of_the_workflows: Path) -> None:
    (command,) = lint_commands()
    done = run_in(copy_of_the_workflows, command)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_workflow_fails_the_lint(copy_of_the_workflows: Path, kind: str) -> None:
    (command,) = lint_commands()
    broken = copy_of_the_workflows / ".github" / "workflows" / "broken.yml"
    broken.write_text(HEAD + BROKEN[kind])
    done = run_in(copy_of_the_workflows, command)
    assert done.returncode != 0
    assert "broken.yml:6:" in done.stdout + done.stderr
    assert ("shellcheck" in done.stdout) == (kind == "script")
