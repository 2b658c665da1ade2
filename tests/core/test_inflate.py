"""`flux_flex._core.inflate`: bodies inflated in pieces of at most `STEP` bytes, exactly."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest
from flux_flex._core.inflate import STEP, InflateError, UnsupportedEncoding, inflater


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


BODY = os.urandom(50_000) + bytes(3 * STEP + 17) + b"the end"
PACKED = {
    "gzip": gzip.compress(BODY),
    "x-gzip": gzip.compress(BODY),
    "deflate": zlib.compress(BODY),
    "Deflate": _raw_deflate(BODY),
    "gzip, deflate": zlib.compress(gzip.compress(BODY)),
    "identity, gzip": gzip.compress(BODY),
}


@pytest.mark.parametrize("encoding", list(PACKED))
@pytest.mark.parametrize("chunk", [1, 4096, 10**9])
def test_a_body_comes_back_whole_in_bounded_pieces(encoding: str, chunk: int) -> None:
    packed = PACKED[encoding]
    if chunk == 1:
        packed = packed[:2000]  # byte by byte: the start is enough
    undo = inflater(encoding)
    assert undo is not None
    pieces = [p for i in range(0, len(packed), chunk) for p in undo.feed(packed[i : i + chunk])]
    pieces += list(undo.end())
    assert max(len(p) for p in pieces) <= STEP
    assert BODY.startswith(b"".join(pieces))
    if chunk > 1:
        assert b"".join(pieces) == BODY


def test_one_small_chunk_of_a_bomb_is_handed_out_a_step_at_a_time() -> None:
    bomb = gzip.compress(bytes(64 * STEP), compresslevel=9)
    undo = inflater("gzip")
    assert undo is not None
    steps = undo.feed(bomb)
    assert len(next(steps)) == STEP  # inflating stops there until the next piece is asked
    assert sum(len(p) for p in steps) == 63 * STEP


@pytest.mark.parametrize("header", [None, "", "identity", " Identity "])
def test_no_encoding_needs_no_inflater(header: str | None) -> None:
    assert inflater(header) is None


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "gzip, br"])
def test_an_encoding_not_undone_in_bounded_steps_is_named(header: str) -> None:
    with pytest.raises(UnsupportedEncoding) as caught:
        inflater(header)
    assert caught.value.encoding in header.split(", ")


def test_corrupt_data_is_an_inflate_error() -> None:
    undo = inflater("gzip")
    assert undo is not None
    with pytest.raises(InflateError, match="corrupt"):
        list(undo.feed(gzip.compress(BODY)[:10] + b"\xff" * 100))
