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
    assert encoded == [B64, B64, B64, "https://x.example/a.png", B64, B64]


def test_unreadable_and_garbage_inputs_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    encoded, errors = encode_images(
        ["/nope/cat.png", empty, "just words", "data:image/png;base64,@@@", b""]
    )
    assert encoded == []
    assert [e.field for e in errors] == [f"input_images[{i}]" for i in range(5)]
    assert "/nope/cat.png" in errors[0].message
