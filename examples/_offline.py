"""Lets every example run offline: ``python examples/<name>.py --mock``.

Without ``--mock`` the examples use the real API: ``BFL_API_KEY`` (and, if set,
``BFL_BASE_URL``) from the environment, exactly as `FluxFlex()` reads them. With ``--mock``
this starts the built-in fake API (``flux_flex.testing.FakeBFL``, needs the ``fake`` extra)
and points those two variables at it for the rest of the script.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def offline_if_requested(task_seconds: float = 0.5) -> Iterator[None]:
    """Run the block against a fake API when ``--mock`` is on the command line."""
    if "--mock" not in sys.argv[1:]:
        yield
        return
    sys.argv.remove("--mock")
    from flux_flex.testing import FakeBFL

    with FakeBFL(task_seconds=task_seconds) as fake:
        os.environ["BFL_BASE_URL"] = fake.base_url
        os.environ["BFL_API_KEY"] = fake.api_key
        print(f"(offline: the built-in fake API at {fake.base_url})")
        yield
