"""``with`` and ``async with`` for whatever can be closed: `Closing`, `AsyncClosing`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncClosing", "Closing"]


class Closing:
    """``with thing:`` runs ``thing._enter()`` on the way in (nothing, by default) and
    ``thing.close()`` on the way out, whatever happened inside."""

    def close(self) -> None:
        """Release what this object holds (idempotent)."""
        raise NotImplementedError

    def _enter(self) -> None:
        """Start what the ``with`` block uses."""

    def __enter__(self) -> Self:
        self._enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClosing:
    """``async with thing:`` awaits ``thing._aenter()`` on the way in (nothing, by default)
    and ``thing.aclose()`` on the way out, whatever happened inside."""

    async def aclose(self) -> None:
        """Release what this object holds (idempotent)."""
        raise NotImplementedError

    async def _aenter(self) -> None:
        """Start what the ``async with`` block uses."""

    async def __aenter__(self) -> Self:
        await self._aenter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
