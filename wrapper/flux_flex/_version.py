"""The installed distribution's version, read once when first asked (importlib.metadata is
slow to import, so neither `import flux_flex` nor building a client pays for it up front)."""

from __future__ import annotations

import functools

__all__ = ["package_version"]


@functools.cache
def package_version() -> str:
    """The flux-flex distribution's version; ``0+unknown`` in a tree never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flux-flex")
    except PackageNotFoundError:
        return "0+unknown"
