"""Small valid images built with the standard library (zlib), for servers to hand out."""

from __future__ import annotations

import struct
import zlib

__all__ = ["JPEG_HEAD", "WEBP_HEAD", "png"]

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"  # what a JPEG starts with (not a whole file)
WEBP_HEAD = b"RIFF\x00\x00\x00\x00WEBPVP8 "  # what a WebP starts with (not a whole file)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 1, height: int = 1, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid ``width`` x ``height`` RGB PNG of one colour (Pillow opens it)."""
    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )
