"""The house's rules, read from the code's imports (grimp): imports inside functions and
under ``TYPE_CHECKING`` count, as they are arrows all the same.

* no import circle anywhere in `flux_flex`;
* `flux_flex._core` (the sans-I/O core) imports nothing above it: only itself, the error
  hierarchy and the packaged spec (`flux_flex.errors`, `flux_flex.spec`, which import
  nothing of flux_flex);
* the drivers and the batch engine never reach up to the clients or the public models.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
BELOW_THE_CORE = {"flux_flex.errors", "flux_flex.spec"}


def circles(package: str) -> list[tuple[str, str]]:
    """Each pair of modules that import each other, directly or through others."""
    graph = grimp.build_graph(package, cache_dir=None)
    found = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                found.add(tuple(sorted((module, imported))))
    return sorted(found)  # type: ignore[arg-type]


def imports_of(package: str, prefix: str) -> dict[str, set[str]]:
    """What each module under ``prefix`` imports directly, within ``package``."""
    graph = grimp.build_graph(package, cache_dir=None)
    return {
        module: set(graph.find_modules_directly_imported_by(module))
        for module in graph.modules
        if module == prefix or module.startswith(prefix + ".")
    }


def test_no_import_circle_in_flux_flex() -> None:
    assert circles("flux_flex") == []


def test_the_core_imports_nothing_above_it() -> None:
    upward = {
        (module, imported)
        for module, imported_set in imports_of("flux_flex", "flux_flex._core").items()
        for imported in imported_set
        if not imported.startswith("flux_flex._core") and imported not in BELOW_THE_CORE
    }
    assert upward == set()
    below = imports_of("flux_flex", "flux_flex.errors") | imports_of("flux_flex", "flux_flex.spec")
    assert all(not imported for imported in below.values())


@pytest.mark.parametrize(
    "layer", ["flux_flex._drivers", "flux_flex._async_driver", "flux_flex._batch"]
)
def test_drivers_and_the_batch_engine_never_reach_up(layer: str) -> None:
    above = {"flux_flex.client", "flux_flex.async_client", "flux_flex", "flux_flex.cli"}
    if layer != "flux_flex._batch":
        above.add("flux_flex.models")  # drivers report the core's Reports, not snapshots
    reached = {
        (module, imported)
        for module, imported_set in imports_of("flux_flex", layer).items()
        for imported in imported_set
        if imported in above or imported.startswith("flux_flex.cli.")
    }
    assert reached == set()


def test_the_checks_see_circles_hidden_in_functions_and_type_checking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rules above must be able to fail: a package whose circle hides where the old
    # client layer hid its own (a function-level import, a TYPE_CHECKING import).
    package = tmp_path / "knotted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "client.py").write_text("def run():\n    from knotted import batch\n")
    (package / "batch.py").write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from knotted.models import Result
            """
        )
    )
    (package / "models.py").write_text("from knotted.client import run\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("knotted", None)
    assert ("knotted.batch", "knotted.client") in circles("knotted")
    assert ("knotted.batch", "knotted.models") in circles("knotted")
