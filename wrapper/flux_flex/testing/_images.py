"""Real, cheap, deterministic sample images (Pillow), cached by what determines them."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

__all__ = ["MAX_RENDER_PIXELS", "MEDIA_TYPES", "image_size_of", "render_sample"]

# The fake renders up to 16 MP (4096²); bigger tasks end in `Error` instead of eating memory.
MAX_RENDER_PIXELS = 4096 * 4096
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
"""``output_format`` -> the sample's Content-Type."""


def _palette(prompt: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\x00{prompt}".encode("utf-8", "surrogatepass")).digest()


@lru_cache(maxsize=64)
def render_sample(prompt: str, seed: int, width: int, height: int, output_format: str) -> bytes:
    """A ``width`` × ``height`` PNG, WebP or JPEG (any other format), the same bytes for the
    same prompt and seed.

    Two linear gradients and a solid channel, tinted and banded from a hash of prompt and
    seed: built from Pillow primitives, so even a 4 MP image takes milliseconds.
    """
    from PIL import Image, ImageChops, ImageDraw

    digest = _palette(prompt, seed)
    ramp = Image.linear_gradient("L")  # 256×256, black at the top to white at the bottom
    red = ramp.rotate(90 * (digest[0] % 4)).resize((width, height))
    green = ramp.rotate(90 * (digest[1] % 4) + 45, expand=False).resize((width, height))
    blue = Image.new("L", (width, height), digest[2])
    image = Image.merge("RGB", (red, green, blue))
    tint = Image.new("RGB", (width, height), (digest[3], digest[4], digest[5]))
    image = ImageChops.blend(image, tint, 0.35)
    draw = ImageDraw.Draw(image)
    for i in range(3):  # a few deterministic bands, so different seeds differ visibly
        a, b, c = digest[6 + 3 * i : 9 + 3 * i]
        x0, y0 = a * width // 256, b * height // 256
        draw.rectangle(
            (x0, y0, x0 + width // 6, y0 + height // 8), fill=(c, 255 - c, (a + b) % 256)
        )
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif output_format == "webp":
        image.save(buffer, format="WEBP", quality=80, method=0)  # method 0: fastest encoder
    else:
        image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def image_size_of(data: str) -> tuple[int, int] | None:
    """Width and height of a base64 (or ``data:`` URL) image; None for URLs or garbage.

    Read from the image's header by ``flux_flex._core.imagesize`` (PNG, JPEG, WebP, GIF),
    the same reader the client's cost estimates use.
    """
    import base64
    import binascii

    from flux_flex._core.imagesize import image_size

    if data.startswith(("http://", "https://")):
        return None
    if data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return image_size(raw)
