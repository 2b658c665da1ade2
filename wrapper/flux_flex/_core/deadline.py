"""A call's deadline: built once when a public call starts, handed to every flow it runs.

``timeout`` means one thing across the library and the CLI: the whole call, from its start
until it returns. ``generate`` submits, waits and saves within it; ``wait`` waits within it;
each request of a batch is submitted, waited for and saved within it, counted from when that
request starts. Every request a flow makes is bounded by the time left (see `flows`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

__all__ = ["Deadline"]


@attrs.frozen
class Deadline:
    """When a call must be over: ``timeout`` seconds after ``start`` (clock time)."""

    start: float
    timeout: float

    @classmethod
    def after(cls, timeout: float, clock: Callable[[], float]) -> Deadline:
        """The deadline ``timeout`` seconds from now; `ValueError` for a timeout that is not
        a finite number of seconds >= 0 (a call must never wait forever)."""
        if isinstance(timeout, bool) or not (
            isinstance(timeout, int | float) and 0 <= timeout < math.inf
        ):
            raise ValueError(f"timeout must be a finite number of seconds, not {timeout!r}")
        return cls(clock(), float(timeout))

    @property
    def at(self) -> float:
        """The clock time the call ends by."""
        return self.start + self.timeout

    def left(self, now: float) -> float:
        """Seconds left at ``now`` (0 once passed)."""
        return max(self.at - now, 0.0)
