"""The wheel ships both packages, the spec as package data, py.typed, and the entry points,
and the core depends only on httpx and attrs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from hatchling.builders.wheel import WheelBuilder

from contract_tests.spec_tools import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    (built,) = WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    return Path(built)


def test_wheel_holds_both_packages_the_spec_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "flux_flex/__init__.py",
        "flux_flex_api/__init__.py",
        "flux_flex_api/openapi.json",
        "flux_flex/py.typed",
        "flux_flex_api/py.typed",
    } <= names
    assert not any(name.startswith(("generated/", "wrapper/", "tests/")) for name in names)


def test_wheel_declares_the_console_script_and_pytest_plugin(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "flux-flex = flux_flex.cli:main" in text
    assert "[pytest11]" in text
    assert "flux_flex = flux_flex.testing.pytest_plugin" in text


def test_core_requires_only_httpx_and_attrs(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    message = Parser().parsestr(archive.read(metadata).decode())
    core = sorted(
        req.split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for req in message.get_all("Requires-Dist") or []
        if "extra ==" not in req
    )
    assert core == ["attrs", "httpx"]
    assert message["Requires-Python"] == ">=3.11"
    assert {"fake", "cli", "all"} <= set(message.get_all("Provides-Extra") or [])


def test_spec_is_readable_from_the_installed_wheel(wheel: Path) -> None:
    # Import from the wheel itself (zipimport) ahead of the editable checkout, in a subprocess.
    code = (
        "import flux_flex, flux_flex_api, flux_flex.spec as s;"
        "assert '.whl' in flux_flex.__file__ and '.whl' in flux_flex_api.__file__, "
        "(flux_flex.__file__, flux_flex_api.__file__);"
        "print(len(s.request_body_schema()['properties']));"
        "print(flux_flex_api.SPEC_VERSION, flux_flex_api.VENDOR_REVISION)"
    )
    env = {**os.environ, "PYTHONPATH": str(wheel)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=wheel.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The page's twenty fields and the vendor's `user`; the versions read from the wheel.
    assert done.stdout.split() == ["21", "2.0.0", "2026-09"]
