"""generated/ is what openapi-python-client writes from the spec (`pytest` alone sees drift)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

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


def test_a_broken_spec_stops_with_a_message_naming_the_place(tmp_path: Path) -> None:
    broken = tmp_path / "spec.yaml"
    text = (ROOT / "spec" / "flux2-flex.openapi.yaml").read_text()
    broken.write_text(text.replace("type: boolean", "type: boolen", 1))
    with pytest.raises(regenerate.RegenerateError) as caught:
        regenerate.load_and_validate_spec(broken)
    message = str(caught.value)
    assert "not valid OpenAPI 3.1" in message
    assert "prompt_upsampling" in message
    assert "Fix the spec" in message


def test_unparsable_yaml_stops_with_a_message(tmp_path: Path) -> None:
    broken = tmp_path / "spec.yaml"
    broken.write_text("openapi: 3.1.0\npaths: {oops\n")
    with pytest.raises(regenerate.RegenerateError, match="Fix the YAML"):
        regenerate.load_and_validate_spec(broken)


def test_a_changed_template_is_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The templates are part of what generates the client: editing one without
    # `make regenerate` must fail the drift check like a spec edit does.
    templates = tmp_path / "templates"
    shutil.copytree(regenerate.TEMPLATES, templates)
    enum = templates / "str_enum.py.jinja"
    enum.write_text(enum.read_text().replace("An unknown string is data", "Unknown: data"))
    monkeypatch.setattr(regenerate, "TEMPLATES", templates)
    assert regenerate.drift() == ["models/output_format.py", "models/status_response.py"]


def test_a_changed_config_is_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "openapi-python-client.yaml"
    text = regenerate.CONFIG.read_text()
    config.write_text(
        text.replace("docstrings_on_attributes: true", "docstrings_on_attributes: false")
    )
    assert config.read_text() != text
    monkeypatch.setattr(regenerate, "CONFIG", config)
    assert "client.py" in regenerate.drift()
