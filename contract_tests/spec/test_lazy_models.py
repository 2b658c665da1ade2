"""The generated models package imports each model on first use (templates/models_init.py.jinja):
one model costs one module, every name still resolves, and type checkers see them all."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import flux_flex_api.models as models
import pytest


def test_every_name_resolves_to_its_own_module() -> None:
    assert sorted(models.__all__) == sorted(models._MODULES)
    for name in models.__all__:
        value = getattr(models, name)
        assert value.__name__ == name
        assert value.__module__ == f"flux_flex_api.models{models._MODULES[name]}"
    assert set(models.__all__) <= set(dir(models))
    with pytest.raises(AttributeError, match="NoSuchModel"):
        models.NoSuchModel  # type: ignore[attr-defined]  # noqa: B018


def test_importing_one_model_does_not_import_the_others() -> None:
    code = textwrap.dedent(
        """
        import sys
        loaded = lambda: sorted(m for m in sys.modules if m.startswith("flux_flex_api.models."))
        import flux_flex_api.models
        print(loaded())
        from flux_flex_api.models import ReadyResult
        print(loaded())
        from flux_flex_api.models import *
        print(len(loaded()) == len(flux_flex_api.models.__all__), ReadyResult.__name__)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        "[]",
        "['flux_flex_api.models.ready_result']",
        "True ReadyResult",
    ]
