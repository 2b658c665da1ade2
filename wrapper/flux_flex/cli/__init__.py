"""The ``flux-flex`` command line: generate, resume, batch, and the offline fake.

Only :func:`main` lives here. Everything heavy (click, rich, httpx, the fake) is imported
when a command needs it, so ``flux-flex --help`` starts fast and a missing ``cli`` extra
gives one line instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

MISSING_EXTRA = (
    "flux-flex: the command line needs its extra dependencies (click, rich): "
    "pip install 'flux-flex[cli]'"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flux-flex`` console script; returns the process exit code."""
    try:
        import click  # noqa: F401  (presence check; the app imports it for real)
        import rich  # noqa: F401
    except ImportError:
        print(MISSING_EXTRA, file=sys.stderr)
        return 2
    from flux_flex.cli.app import run

    return run(argv)
