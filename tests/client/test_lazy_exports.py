"""`import flux_flex` is cheap, and every public name still resolves."""

from __future__ import annotations

import subprocess
import sys

import flux_flex
import pytest


def test_every_public_name_resolves() -> None:
    for name in flux_flex.__all__:
        assert getattr(flux_flex, name) is not None, name
    assert set(flux_flex.__all__) <= set(dir(flux_flex))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        flux_flex.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_package_does_not_load_httpx() -> None:
    code = "import sys, flux_flex; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
