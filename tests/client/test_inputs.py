"""Input images: paths, bytes, URLs, base64 and data URIs → input_image … input_image_8, as
both clients send them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import respx
from flux_flex import FluxFlex, RequestValidationError

from .answers import SUBMIT, accepted
from .conftest import PNG

B64 = base64.b64encode(PNG).decode()


def test_each_kind_is_encoded(mock: respx.MockRouter, client: FluxFlex, tmp_path: Path) -> None:
    route = mock.post(SUBMIT).mock(return_value=accepted())
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
    client.submit("p", input_images=images)
    body = json.loads(route.calls.last.request.content)
    sent = [body.pop("input_image")] + [body.pop(f"input_image_{i}") for i in range(2, 7)]
    assert sent == [B64, B64, B64, "https://x.example/a.png", B64, B64]
    assert body == {"prompt": "p"}


def test_unreadable_and_garbage_inputs_are_named(
    mock: respx.MockRouter, client: FluxFlex, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(RequestValidationError) as caught:
        client.submit(
            "p",
            input_images=["/nope/cat.png", empty, "just words", "data:image/png;base64,@@@", b""],
        )
    assert caught.value.fields == [f"input_images[{i}]" for i in range(5)]
    assert "/nope/cat.png" in caught.value.errors[0].message
    assert mock.calls.call_count == 0  # nothing encoded is sent
