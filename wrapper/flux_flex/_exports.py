"""The public names of `flux_flex`, read from the one export table in its ``__init__.py``.

The table is the ``if TYPE_CHECKING:`` block of imports there: type checkers and
documentation tools read it as it stands, and this module reads it (once, on the first
attribute asked of the package) to import each name when it is first used. Hand-written,
after scientific-python's SPEC 1 (``lazy_loader.attach_stub`` reads a stub file the same
way), because the core depends only on httpx and attrs.

Every public name reports ``__module__ == "flux_flex"``, as httpx's do: tracebacks, reprs
and pickles name it where users import it from.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
from collections.abc import MutableMapping
from typing import Any

__all__ = ["public_names", "resolve", "table"]

PACKAGE = "flux_flex"


@functools.cache
def table(init_file: str) -> dict[str, tuple[str, str]]:
    """Each public name → (its module, its name there), from ``init_file``'s export table."""
    with open(init_file, encoding="utf-8") as file:
        tree = ast.parse(file.read(), init_file)
    names: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = (statement.module, alias.name)
    if not names:
        raise ImportError(f"{init_file} has no export table (an `if TYPE_CHECKING:` block)")
    return names


def public_names(init_file: str) -> list[str]:
    """What ``dir(flux_flex)`` lists: the exported names and ``__version__``."""
    return sorted([*table(init_file), "__version__"])


def resolve(namespace: MutableMapping[str, Any], name: str) -> Any:
    """The package attribute ``name``, imported and kept in ``namespace`` (its globals)."""
    init_file = namespace["__file__"]
    if name == "__version__":
        # Read when first asked: importlib.metadata is slow to import.
        from flux_flex._version import package_version

        return package_version()
    if name == "__all__":
        value: Any = sorted(table(init_file))
    else:
        where = table(init_file).get(name)
        if where is None:
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[0]), where[1])
        _publish(value)
    namespace[name] = value
    return value


def _publish(value: Any) -> None:
    """Report ``value`` as defined in `flux_flex` (classes and functions; not constants)."""
    if not (isinstance(value, type) or callable(value)):
        return
    if str(getattr(value, "__module__", "")).startswith(PACKAGE + "."):
        # A type alias or a builtin has no module to rename: left as it is.
        with contextlib.suppress(AttributeError, TypeError):
            value.__module__ = PACKAGE
