"""Undoing a body's ``Content-Encoding`` in bounded steps, whatever the compression ratio.

httpx's decoders inflate each network chunk in one call: 64 KiB of gzip may become 64 MB at
once, before any size cap can look at it. `Inflater` hands the inflated body out in pieces
of at most `STEP` bytes (zlib's ``max_length``), so a size cap that counts them stops a
compression bomb after one step past the cap, and memory stays bounded by a few steps.

Both drivers read the raw bytes (``iter_raw``/``aiter_raw``) and pass them through here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["ACCEPT_ENCODING", "STEP", "InflateError", "Inflater", "UnsupportedEncoding", "inflater"]

STEP = 256 * 1024
"""The most bytes one step of inflating hands out."""

ACCEPT_ENCODING = "gzip, deflate"
"""What the drivers ask for: the encodings `Inflater` undoes in bounded steps (httpx would
also ask for ``br`` or ``zstd`` when their packages are installed; those decoders inflate a
whole chunk at once)."""

_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})


class InflateError(ValueError):
    """The body is not valid for its ``Content-Encoding`` (corrupt or truncated data)."""


class UnsupportedEncoding(ValueError):
    """The body came in a ``Content-Encoding`` flux-flex does not undo; ``encoding`` names it."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unsupported Content-Encoding {encoding!r}")
        self.encoding = encoding


class _Stage:
    """One zlib layer: gzip, or deflate (zlib-wrapped or raw, told by its first two bytes)."""

    __slots__ = ("_head", "_inflating")

    def __init__(self, encoding: str) -> None:
        self._inflating: Any = None
        self._head = b""  # deflate's first bytes, until they tell which kind it is
        if encoding == "gzip":
            self._inflating = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The bytes ``data`` inflates to, in pieces of at most `STEP` bytes."""
        if self._inflating is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            # "deflate" is often sent raw (no zlib header), as browsers accept.
            zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inflating = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        inflating = self._inflating
        more = bool(data)
        while more and not inflating.eof:
            try:
                piece = inflating.decompress(data, STEP)
            except zlib.error as exc:
                raise InflateError(f"the compressed body is corrupt ({exc})") from None
            data = inflating.unconsumed_tail
            # A full step may leave output pending with all input taken (a long match).
            more = bool(data) or len(piece) == STEP
            if piece:
                yield piece

    def end(self) -> Iterator[bytes]:
        """What is left once the body has ended (a truncated body is not an error here,
        as with httpx: the framing and the checks downstream judge it)."""
        inflating = self._inflating
        while inflating is not None and not inflating.eof:
            try:
                piece = inflating.decompress(b"", STEP)
            except zlib.error as exc:
                raise InflateError(f"the compressed body is corrupt ({exc})") from None
            if not piece:
                break
            yield piece


class Inflater:
    """Undoes a chain of encodings (applied in the order listed, undone in reverse)."""

    __slots__ = ("_stages",)

    def __init__(self, encodings: list[str]) -> None:
        self._stages = [_Stage(e) for e in reversed(encodings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The inflated bytes of the next raw chunk, in pieces of at most `STEP` bytes."""
        return self._through(0, data)

    def end(self) -> Iterator[bytes]:
        """The inflated bytes left once the raw body has ended."""
        for index, stage in enumerate(self._stages):
            for piece in stage.end():
                yield from self._through(index + 1, piece)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._stages):
            yield data
            return
        for piece in self._stages[index].feed(data):
            yield from self._through(index + 1, piece)


def inflater(content_encoding: str | None) -> Inflater | None:
    """The `Inflater` for a ``Content-Encoding`` header's value; None when the body is not
    encoded. Raises `UnsupportedEncoding` for an encoding it does not undo (``br``,
    ``zstd``, anything unknown): a body that cannot be read within bounds is refused."""
    if content_encoding is None:
        return None
    encodings = []
    for part in content_encoding.split(","):
        name = part.strip().lower()
        if name in _IDENTITY:
            continue
        if name in _GZIP:
            encodings.append("gzip")
        elif name == "deflate":
            encodings.append("deflate")
        else:
            raise UnsupportedEncoding(part.strip())
    return Inflater(encodings) if encodings else None
