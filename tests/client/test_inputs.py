"""Input images: paths, bytes, URLs, base64 and data URIs → input_image … input_image_8, as
both clients send them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import respx
from flux_flex import FluxFlex, RequestValidationError, prepare_request

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


def test_each_image_is_measured_as_it_is_read(tmp_path: Path) -> None:
    # A PNG's size is in its IHDR chunk: 640 x 480 (0.31 MP) here. Read once, for the
    # request and its estimate alike, whatever form it was given in; a URL is not fetched.
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big")
    png = header + (480).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00" + bytes(64)
    path = tmp_path / "big.png"
    path.write_bytes(png)
    text = base64.b64encode(png).decode()
    request = prepare_request(
        "p", input_images=[path, png, text, f"data:image/png;base64,{text}", "https://x.example/a"]
    )
    assert request.input_sizes == ((640, 480),) * 4 + (None,)
    assert request.estimate().input_mp == round(4 * 0.3072 + 1.0, 2)  # the URL: assumed 1 MP
