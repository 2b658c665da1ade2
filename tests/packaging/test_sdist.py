"""The sdist holds what it should (and nothing swept in), and builds a wheel that works.

Built as a packager would: ``uv build --sdist`` from the checkout, then a wheel from that
sdist alone (not from the checkout), installed with ``uv pip install`` into a fresh venv, where
``flux_flex`` and ``flux_flex_api`` import and ``flux-flex --help`` runs. uv works offline
first (after ``make setup`` its cache holds every dependency) and goes to PyPI only when the
cache lacks something. uv is the one on the PATH, ``$UV``, or the one ``make`` bootstrapped
into ``.tools/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Top-level entries of the sdist: the anchored include patterns, plus what hatch always adds.
SDIST_TOP = {
    "spec",
    "generated",
    "wrapper",
    "scripts",
    "templates",
    "README.md",
    "LICENSE",
    "Makefile",
    "openapi-python-client.yaml",
    "pyproject.toml",
    "PKG-INFO",
    ".gitignore",
}


def find_uv() -> str:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), ROOT / ".tools" / "bin" / "uv"):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("uv not found (PATH, $UV or .tools/bin/uv): `make setup` installs it")


def uv(*args: str | Path, cwd: Path) -> str:
    """Run uv offline, or online when the cache lacks something; its stdout, or fail."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    command = [find_uv(), *map(str, args)]
    done = subprocess.run(
        [*command, "--offline"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0 and ("offline" in done.stderr or "network" in done.stderr):
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180
        )
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    uv("build", "--sdist", "--out-dir", out, "--quiet", ROOT, cwd=out)
    (built,) = out.glob("flux_flex-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def wheel(sdist: Path) -> Path:
    out = sdist.parent / "wheel"
    uv("build", "--wheel", "--out-dir", out, "--quiet", sdist, cwd=sdist.parent)
    (built,) = out.glob("flux_flex-*.whl")
    return built


def sdist_names(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        # Every member sits under "flux_flex-<version>/".
        return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]


def metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_the_sdist_holds_the_top_level_folders_only(sdist: Path) -> None:
    names = sdist_names(sdist)
    assert {name.split("/")[0] for name in names} <= SDIST_TOP
    # Unanchored patterns swept these in: contract_tests/spec/, examples/README.md, ...
    assert not [n for n in names if n.startswith(("contract_tests/", "tests/", "examples/"))]
    assert {
        "spec/flux2-flex.openapi.yaml",
        "generated/flux_flex_api/openapi.json",
        "wrapper/flux_flex/__init__.py",
        "templates/str_enum.py.jinja",
        "LICENSE",
    } <= set(names)


def test_metadata_license_urls_pythons_and_extras(wheel: Path) -> None:
    meta = metadata(wheel)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Source", "Issues", "Changelog"}
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = meta.get_all("Classifier") or []
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert meta["Requires-Python"] == ">=3.11"
    assert {"webhooks", "fake", "cli", "all"} <= set(meta.get_all("Provides-Extra") or [])


def test_the_webhooks_extra_pulls_no_fake_dependencies(wheel: Path) -> None:
    requires = metadata(wheel).get_all("Requires-Dist") or []
    webhooks = [req.split(";")[0].strip() for req in requires if "extra == 'webhooks'" in req]
    assert [req.split(">")[0] for req in webhooks] == ["uvicorn"]


def test_the_wheel_built_from_the_sdist_installs_and_runs(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    uv("venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    uv("pip", "install", "--quiet", "--python", python, f"flux-flex[cli] @ {wheel.as_uri()}",
       cwd=tmp_path)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    code = (
        "import flux_flex, flux_flex_api, flux_flex.spec;"
        "print(flux_flex.__file__); print(flux_flex_api.__file__);"
        "print(len(flux_flex.spec.request_body_schema()['properties']))"
    )
    imported = subprocess.run(
        [python, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    flux_flex_file, api_file, fields = imported.stdout.split()
    # Imported from the new venv, not from the checkout.
    assert flux_flex_file.startswith(str(venv))
    assert api_file.startswith(str(venv))
    assert int(fields) >= 20
    helped = subprocess.run(
        [venv / "bin" / "flux-flex", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "generate" in helped.stdout
