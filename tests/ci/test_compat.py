"""`make compat` finds its interpreters without downloading, and never skips one silently in CI.

The interpreters here are stand-ins: small scripts that answer as a Python would (its path and
version) or refuse as a pyenv shim of an unselected version does (exit 127).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compat", ROOT / "scripts" / "compat.py")
assert _spec is not None
assert _spec.loader is not None
compat = importlib.util.module_from_spec(_spec)
sys.modules["compat"] = compat  # dataclasses looks the module up by name
_spec.loader.exec_module(compat)

NO_UV = "/nonexistent/uv"  # uv's own interpreters are left out: only what the test lays out


def stand_in(path: Path, version: str | None) -> Path:
    """An executable at ``path`` that answers like Python ``version``, or refuses (None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if version is None:
        path.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    else:
        path.write_text(f"#!/bin/sh\necho {path}\necho {version}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH folder and an empty pyenv root, and no interpreter named in the env."""
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    for name in ("COMPAT_PYTHON_3_13", "COMPAT_PYTHON_3_11", "CI"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_refusing_shim_on_the_path_gives_way_to_pyenvs_newest_patch(machine: Path) -> None:
    stand_in(machine / "bin" / "python3.13", None)
    for patch in ("3.13.1", "3.13.10", "3.13.2"):
        stand_in(machine / "pyenv" / "versions" / patch / "bin" / "python3.13", patch)
    stand_in(machine / "pyenv" / "versions" / "3.13-dev" / "bin" / "python3.13", "3.13.99")
    newest = machine / "pyenv" / "versions" / "3.13.10" / "bin" / "python3.13"
    assert compat.find_python(NO_UV, "3.13") == (str(newest), "3.13.10")


def test_a_python_on_the_path_that_runs_comes_first(machine: Path) -> None:
    on_path = stand_in(machine / "bin" / "python3.13", "3.13.4")
    stand_in(machine / "pyenv" / "versions" / "3.13.9" / "bin" / "python3.13", "3.13.9")
    assert compat.find_python(NO_UV, "3.13") == (str(on_path), "3.13.4")


def test_an_interpreter_of_another_version_is_not_taken(machine: Path) -> None:
    stand_in(machine / "bin" / "python3.13", "3.12.7")  # misnamed
    stand_in(machine / "pyenv" / "versions" / "3.12.1" / "bin" / "python3.13", "3.12.1")
    assert compat.find_python(NO_UV, "3.13") is None


def test_the_named_interpreter_is_the_only_one_tried(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in(machine / "bin" / "python3.13", "3.13.4")
    named = stand_in(machine / "elsewhere" / "python", "3.13.7")
    monkeypatch.setenv("COMPAT_PYTHON_3_13", str(named))
    assert compat.find_python(NO_UV, "3.13") == (str(named), "3.13.7")
    monkeypatch.setenv("COMPAT_PYTHON_3_13", str(machine / "missing"))
    assert compat.find_python(NO_UV, "3.13") is None  # no silent fallback to the PATH


@pytest.mark.parametrize(("ci", "code"), [(None, 0), ("true", 1), ("false", 0)])
def test_a_missing_python_is_one_line_and_fails_only_in_ci(
    machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ci: str | None,
    code: int,
) -> None:
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(compat, "COMPAT", machine / ".compat")
    assert compat.main(["--uv", NO_UV, "--only", "py3.13"]) == code
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert "no Python 3.13 found" in line
    assert "COMPAT_PYTHON_3_13" in line
    assert ("fails the run" in line) == (code == 1)
    assert not (machine / ".compat").exists()  # nothing built for a pass that cannot run


def test_the_compat_folder_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".compat/" in ignored
    assert os.path.relpath(compat.COMPAT, ROOT) == ".compat"
