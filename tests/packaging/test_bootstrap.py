"""`make` on a machine without uv: how it gets uv, and what it says when it cannot.

The Makefile runs in a temporary folder with stand-ins for ``python3`` and uv (small shell
scripts that answer as the real tools do on Debian/Ubuntu), so each failure is quick and
nothing is downloaded. Each failure must show the tool's own message and one next step, exit
2, and leave no half-made ``.tools/`` behind. The success path, with the real tools, is what
``make test`` itself runs on a fresh clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What Debian's python3 prints for `-m venv` without the python3-venv package (abridged).
NO_ENSUREPIP = (
    "The virtual environment was not created successfully because ensurepip is not\n"
    "available.  On Debian/Ubuntu systems, you need to install the python3-venv\n"
    "package using the following command.\n\n    apt install python3.11-venv\n"
)
NO_INTERPRETER = (
    "error: No interpreter found for Python >=3.11 in managed installations or search path"
)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


def fake_uv(path: Path, sync_says: str) -> Path:
    """A uv whose `--version` works and whose `sync` fails with ``sync_says``."""
    return script(
        path,
        'case "$1" in\n'
        '  --version) echo "uv 0.0.0 (stand-in)";;\n'
        f"  sync) cat >&2 <<'EOF'\n{sync_says}\nEOF\n  exit 2;;\n"
        "  *) exit 3;;\n"
        "esac\n",
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The Makefile with the two files its setup depends on."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "uv.lock").write_text("")
    return tmp_path


def make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``make -C project ARGS``, with ``project`` first on the PATH (for a stand-in uv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "UV"))}
    env["PATH"] = f"{project}:{env['PATH']}"
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(project), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_python3_says_what_to_install(project: Path) -> None:
    done = make(project, "demo", "UV=.tools/bin/uv", f"PYTHON={project}/bin/no-python3")
    assert done.returncode == 2
    assert "is not on the PATH. Install Python 3.11 or newer" in done.stderr


def test_no_venv_module_shows_its_message_and_the_apt_package(project: Path) -> None:
    # Debian without python3-venv, and no system pip either: nothing else to try.
    python = script(
        project / "bin" / "python3",
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "${@: -1}/bin"; '
        f"cat >&2 <<'EOF'\n{NO_ENSUREPIP}EOF\nexit 1; fi\n"
        'if [ "$1 $2" = "-m pip" ]; then echo "/usr/bin/python3: No module named pip" >&2; '
        "exit 1; fi\nexit 9\n",
    )
    done = make(project, "demo", "UV=.tools/bin/uv", f"PYTHON={python}")
    assert done.returncode == 2, done.stderr
    assert "ensurepip is not\navailable" in done.stderr  # the tool's own words
    assert "sudo apt install python3-venv, then run make again" in done.stderr
    assert not (project / ".tools").exists()  # no half-made venv left to confuse a rerun


def test_a_failed_pip_install_shows_pips_message(project: Path) -> None:
    # venv works; the pip inside it cannot reach PyPI.
    venv_python = (
        'if [ "$1 $2 $3" = "-m pip install" ]; then '
        'echo "ERROR: Could not find a version that satisfies the requirement uv" >&2; '
        "exit 1; fi\nexit 9\n"
    )
    python = script(
        project / "bin" / "python3",
        'if [ "$1 $2" = "-m venv" ]; then d="${@: -1}"; mkdir -p "$d/bin"; '
        f"cat > \"$d/bin/python\" <<'EOF'\n#!/bin/bash\n{venv_python}EOF\n"
        'chmod +x "$d/bin/python"; exit 0; fi\nexit 9\n',
    )
    done = make(project, "demo", "UV=.tools/bin/uv", f"PYTHON={python}")
    assert done.returncode == 2, done.stderr
    assert "Could not find a version that satisfies the requirement uv" in done.stderr
    assert "'pip install uv' into .tools/ failed (pip's message above)" in done.stderr
    assert not (project / ".tools").exists()


def test_without_ensurepip_the_system_pip_installs_uv_into_the_private_venv(
    project: Path,
) -> None:
    # venv cannot bring pip, but the system has one: it installs into .tools/ (--python), never
    # into the system Python. The uv it installs then finds no Python 3.11: uv's message and
    # the way to let uv download one.
    log = project / "pip-calls.log"
    uv_stub = fake_uv(project / "stub-uv", NO_INTERPRETER)
    python = script(
        project / "bin" / "python3",
        'if [ "$1 $2 $3" = "-m venv --without-pip" ]; then mkdir -p "$4/bin"; exit 0; fi\n'
        f'if [ "$1 $2" = "-m venv" ]; then cat >&2 <<\'EOF\'\n{NO_ENSUREPIP}EOF\n'
        "exit 1; fi\n"
        'if [ "$1 $2 $3" = "-m pip --version" ]; then echo "pip 23.0.1"; exit 0; fi\n'
        f'if [ "$1 $2" = "-m pip" ]; then echo "$*" >> {log}; '
        f"cp {uv_stub} .tools/bin/uv; exit 0; fi\nexit 9\n",
    )
    done = make(project, "demo", "UV=.tools/bin/uv", f"PYTHON={python}")
    assert log.read_text().split() == [
        *("-m", "pip", "--python", ".tools/bin/python", "install"),
        *("--disable-pip-version-check", "--quiet", "uv"),
    ]
    assert done.returncode == 2, done.stderr
    assert NO_INTERPRETER in done.stderr
    assert "let uv download one: make demo UV_PYTHON_DOWNLOADS=automatic" in done.stderr
    assert not (project / ".venv" / ".flux-flex-demo").exists()


@pytest.mark.parametrize(
    ("uv_says", "next_step"),
    [
        (
            "error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided.",
            "run 'stub-uv lock' and commit uv.lock",
        ),
        (
            "error: Failed to fetch: https://files.pythonhosted.org/x.whl\n"
            "  cause: invalid peer certificate: UnknownIssuer",
            "make setup SSL_CERT_FILE=/path/to/ca.pem",
        ),
        ("error: No space left on device (os error 28)", "fix what it names"),
    ],
)
def test_a_failed_uv_sync_shows_uvs_message_and_the_next_step(
    project: Path, uv_says: str, next_step: str
) -> None:
    fake_uv(project / "stub-uv", uv_says)
    done = make(project, "setup", "UV=stub-uv")
    assert done.returncode == 2, done.stderr
    assert uv_says in done.stderr
    assert next_step in done.stderr
    assert not (project / ".venv" / ".flux-flex-setup").exists()
