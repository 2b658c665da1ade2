"""generated/ is what openapi-python-client writes from the spec (`pytest` alone sees drift)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from contract_tests.spec_tools import ROOT

_spec = importlib.util.spec_from_file_location("regenerate", ROOT / "scripts" / "regenerate.py")
assert _spec
assert _spec.loader
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)


def test_committed_client_matches_a_fresh_regeneration() -> None:
    assert regenerate.drift() == []


def test_drift_check_sees_a_hand_edit(tmp_path: Path) -> None:
    # Guards the test above: a one-line change to a copy of generated/ is reported.
    copy = tmp_path / "flux_flex_api"
    shutil.copytree(regenerate.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "models" / "ready_result.py"
    target.write_text(target.read_text() + "# hand edit\n")
    assert regenerate.drift(copy) == ["models/ready_result.py"]
