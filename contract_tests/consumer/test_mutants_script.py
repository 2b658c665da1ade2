"""`scripts/mutants.py` fails loudly when a target has moved, and always restores the file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from contract_tests.spec_tools import ROOT

_spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
assert _spec
assert _spec.loader
mutants = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("mutants", mutants)  # dataclasses look their module up there
_spec.loader.exec_module(mutants)


def _mutant(path: str, old: str, count: int = 1) -> object:
    edit = mutants.Edit(path, old, "BROKEN", count)
    return mutants.Mutant("m", "breaks it", (edit,), ("t",))


def test_a_missing_or_repeated_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("x = 1\ny = 1\n")
    with pytest.raises(mutants.SetupError, match="found 0 times"):
        mutants.check_targets(tmp_path, [_mutant("code.py", "z = 1")])
    with pytest.raises(mutants.SetupError, match="found 2 times"):
        mutants.check_targets(tmp_path, [_mutant("code.py", " = 1")])
    with pytest.raises(mutants.SetupError, match="does not exist"):
        mutants.check_targets(tmp_path, [_mutant("gone.py", "x")])
    mutants.check_targets(tmp_path, [_mutant("code.py", "x = 1")])  # exact: fine


def test_the_file_is_restored_even_on_ctrl_c(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_bytes(b"x = 1\r\ny = 2\n")

    def interrupted_run() -> None:
        with mutants.applied(tmp_path, _mutant("code.py", "x = 1")):
            assert "BROKEN" in code.read_text()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    assert code.read_bytes() == b"x = 1\r\ny = 2\n"


def test_every_mutant_names_tests_that_exist() -> None:
    for mutant in mutants.MUTANTS:
        assert mutant.edits, mutant.name
        for test in mutant.tests:
            assert (ROOT / test.split("::")[0]).is_file(), (mutant.name, test)
