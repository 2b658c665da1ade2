"""The flux-flex command line (lands with its issue)."""

from __future__ import annotations


def main() -> int:
    """Entry point of the ``flux-flex`` console script."""
    print("flux-flex: the command line is not built yet.")
    return 0
