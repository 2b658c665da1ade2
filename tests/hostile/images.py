"""Small valid images built with the standard library (zlib), for servers to hand out."""

from __future__ import annotations

import os
import struct
import zlib

__all__ = ["JPEG_HEAD", "WEBP_HEAD", "png"]

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"  # what a JPEG starts with (not a whole file)
WEBP_HEAD = b"RIFF\x00\x00\x00\x00WEBPVP8 "  # what a WebP starts with (not a whole file)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(
    width: int = 1,
    height: int = 1,
    rgb: tuple[int, int, int] = (200, 30, 30),
    *,
    noise: bool = False,
) -> bytes:
    """A valid ``width`` x ``height`` RGB PNG of one colour (Pillow opens it); with ``noise``,
    of random pixels instead: incompressible (about 3 bytes a pixel), so that a download of it
    streams in several chunks."""
    if noise:
        rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    else:
        rows = (b"\x00" + bytes(rgb) * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 1 if noise else -1))
        + _chunk(b"IEND", b"")
    )
