"""A session-wide tally of generated cases, printed at the end of the run (see conftest)."""

from __future__ import annotations

from collections import Counter

TALLY: Counter[str] = Counter()


def count(kind: str) -> None:
    """Count one generated case of ``kind`` (one hypothesis example, one matrix cell...)."""
    TALLY[kind] += 1
