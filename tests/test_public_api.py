"""The public surface: one export table, names that report the module users import them
from (as httpx's do), a clean ``dir()``, and a sync and an async client that take the same
parameters everywhere."""

from __future__ import annotations

import ast
import inspect
import pickle
import subprocess
import sys
from pathlib import Path

import flux_flex
import pytest
from flux_flex import AsyncFluxFlex, FluxFlex

INIT = Path(flux_flex.__file__)


def table_in_source() -> list[str]:
    """The names the ``if TYPE_CHECKING:`` block of ``__init__.py`` imports."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    assert alias.asname == alias.name, "re-export as itself: `X as X`"
                    names.append(alias.name)
    return names


def test_all_is_derived_from_the_one_export_table() -> None:
    names = table_in_source()
    assert len(names) == len(set(names)) >= 49
    assert flux_flex.__all__ == sorted(names)
    assert "__all__ =" not in INIT.read_text(encoding="utf-8")  # written nowhere else


def test_dir_lists_only_the_public_names() -> None:
    assert dir(flux_flex) == sorted([*flux_flex.__all__, "__version__"])
    for leaked in ("Any", "TYPE_CHECKING", "annotations", "importlib"):
        assert leaked not in dir(flux_flex)


def test_star_import_gives_exactly_the_public_names() -> None:
    code = "from flux_flex import *\nprint(sorted(n for n in dir() if not n.startswith('_')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(flux_flex.__all__)


@pytest.mark.parametrize("name", sorted(flux_flex.__all__))
def test_public_names_report_the_flux_flex_module(name: str) -> None:
    value = getattr(flux_flex, name)
    if isinstance(value, type) or inspect.isfunction(value):
        assert value.__module__ == "flux_flex", name


def test_a_fresh_process_sees_the_public_module_too() -> None:
    code = (
        "import flux_flex\n"
        "print(flux_flex.RetryPolicy.__module__, repr(flux_flex.RetryPolicy(max_retries=1)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("flux_flex RetryPolicy(max_retries=1")


def test_public_objects_pickle_by_their_public_name() -> None:
    policy = flux_flex.RetryPolicy(max_retries=3)
    assert b"cflux_flex\nRetryPolicy\n" in pickle.dumps(policy, protocol=0)
    assert pickle.loads(pickle.dumps(policy)) == policy
    error = flux_flex.ConfigurationError("no key")
    assert type(pickle.loads(pickle.dumps(error))) is flux_flex.ConfigurationError


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    } | {"__init__": inspect.signature(cls.__init__)}


def _shape(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_the_two_clients_take_the_same_parameters_everywhere() -> None:
    sync, asynchronous = _public_methods(FluxFlex), _public_methods(AsyncFluxFlex)
    asynchronous.pop("aclose")  # httpx's name for closing an async client; `close` too
    assert sync.keys() == asynchronous.keys()
    for name in sync:
        assert _shape(sync[name]) == _shape(asynchronous[name]), name
    assert "max_connections" in sync["__init__"].parameters


@pytest.mark.parametrize(
    "method",
    ["submit", "wait", "generate", "get_result", "download", "download_bytes", "credits"],
)
def test_the_async_client_awaits_what_does_io(method: str) -> None:
    assert inspect.iscoroutinefunction(getattr(AsyncFluxFlex, method))
    assert not inspect.iscoroutinefunction(getattr(FluxFlex, method))


def test_the_sync_client_sizes_its_pool_as_asked() -> None:
    with FluxFlex(api_key="k", max_connections=3) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 3
    with pytest.raises(flux_flex.ConfigurationError, match="max_connections"):
        FluxFlex(api_key="k", max_connections=0)
