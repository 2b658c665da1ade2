"""Input images: paths, bytes, URLs, base64 and data URIs → input_image … input_image_8."""

from __future__ import annotations

import base64
from pathlib import Path

from flux_flex._inputs import encode_images

from .conftest import PNG

B64 = base64.b64encode(PNG).decode()


def test_each_kind_is_encoded(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    images = [
        str(path),
        path,
        PNG,
        "https://x.example/a.png",
        B64,
        f"data:image/png;base64,{B64}",
    ]
    encoded, errors = encode_images(images)
    assert errors == []
    assert [image for image, _ in encoded] == [B64, B64, B64, "https://x.example/a.png", B64, B64]


def test_each_image_is_measured_where_its_bytes_are_at_hand(tmp_path: Path) -> None:
    # A PNG's size is in its IHDR chunk: 640 x 480 here.
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big")
    png = header + (480).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00" + bytes(64)
    path = tmp_path / "big.png"
    path.write_bytes(png)
    text = base64.b64encode(png).decode()
    encoded, errors = encode_images([path, png, text, f"data:image/png;base64,{text}", URL])
    assert errors == []
    assert [size for _, size in encoded] == [(640, 480)] * 4 + [None]  # a URL: not fetched


URL = "https://x.example/a.png"


def test_unreadable_and_garbage_inputs_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    encoded, errors = encode_images(
        ["/nope/cat.png", empty, "just words", "data:image/png;base64,@@@", b""]
    )
    assert encoded == []
    assert [e.field for e in errors] == [f"input_images[{i}]" for i in range(5)]
    assert "/nope/cat.png" in errors[0].message
