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


def test_the_sync_client_imports_neither_the_models_nor_httpcore_nor_asyncio() -> None:
    # What `from flux_flex import FluxFlex` need not pay for (issue 14's import-time target):
    # the generated package is imported when an answer needs it (a submission, an odd poll),
    # httpcore when a client is built (httpx loads it then anyway), asyncio by the async
    # client only. Building a sync client loads httpcore and nothing else of these.
    code = (
        "import sys\n"
        "from flux_flex import FluxFlex\n"
        "heavy = ('flux_flex_api', 'httpcore', 'asyncio')\n"
        "print(*[name for name in heavy if name in sys.modules])\n"
        "FluxFlex(api_key='k').close()\n"
        "print(*[name for name in heavy if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["", "httpcore"]
