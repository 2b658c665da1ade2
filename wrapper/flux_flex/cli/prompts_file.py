"""The batch input file and the stable file name of each item's image (pure functions).

Format: one prompt per line, or one JSON object per line with ``prompt`` and any
``submit`` parameter (``width``, ``seed``, ``output_format``…) plus an optional ``name``.
Blank lines and lines starting with ``#`` are ignored; both forms may be mixed.

File names: ``<slug>-<hash>.<ext>``: the slug is the prompt's first words (lowercase ASCII,
dashes, at most 40 characters) and the hash is the first 10 hex digits of the SHA-256 of
the item's canonical JSON (prompt and every parameter). The same request always maps to the
same file, whatever its line number, so a re-run skips what already exists and a changed
parameter makes a new image. A ``name`` given in the JSON line replaces ``<slug>-<hash>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from flux_flex.params import SubmitParams

__all__ = [
    "IMAGE_SUFFIXES",
    "BatchItem",
    "PromptsFileError",
    "existing_image",
    "parse_prompts",
    "slugify",
]

# Keys a JSON line may carry: `submit`'s parameters, less the webhook secret (a secret has
# no place in a prompts file; --webhook-secret-env sets it) and the blob path; plus ``name``.
SUBMIT_KEYS = frozenset(SubmitParams.__optional_keys__) - {
    "webhook_secret",
    "input_image_blob_path",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_SLUG_LENGTH = 40


class PromptsFileError(ValueError):
    """The prompts file cannot be read as a batch; the message names the line."""


@attrs.frozen
class BatchItem:
    """One request of a batch: where it came from, what to send, where its image goes."""

    line: int
    prompt: str
    params: Mapping[str, Any]
    stem: str

    def request(self) -> dict[str, Any]:
        """The request as ``generate_many`` takes it: ``prompt`` plus submit parameters."""
        return {"prompt": self.prompt, **self.params}


def slugify(text: str, length: int = _SLUG_LENGTH) -> str:
    """Lowercase ASCII words joined by dashes, cut at a dash within ``length``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > length:
        cut = slug[:length]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug or "image"


def _stem(prompt: str, params: Mapping[str, Any]) -> str:
    canonical = json.dumps({"prompt": prompt, **params}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    return f"{slugify(prompt)}-{digest}"


def _parse_line(number: int, text: str, defaults: Mapping[str, Any]) -> BatchItem:
    if not text.startswith("{"):
        return BatchItem(number, text, dict(defaults), _stem(text, defaults))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptsFileError(f"line {number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise PromptsFileError(f"line {number}: a JSON line must be an object")
    prompt = data.pop("prompt", None)
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptsFileError(f'line {number}: a JSON line needs a non-empty "prompt" string')
    name = data.pop("name", None)
    unknown = sorted(set(data) - SUBMIT_KEYS)
    if unknown:
        allowed = ", ".join(sorted(SUBMIT_KEYS | {"prompt", "name"}))
        raise PromptsFileError(
            f"line {number}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    params = {**defaults, **data}
    if name is None:
        return BatchItem(number, prompt, params, _stem(prompt, params))
    if not isinstance(name, str) or not name or Path(name).name != name or name in {".", ".."}:
        raise PromptsFileError(f'line {number}: "name" must be a plain file name')
    return BatchItem(number, prompt, params, Path(name).stem if Path(name).suffix else name)


def parse_prompts(
    lines: Iterable[str], defaults: Mapping[str, Any] | None = None
) -> list[BatchItem]:
    """The items of a prompts file. ``defaults`` apply where a line sets no value.

    Requests that map to the same file (the same prompt and parameters twice) are kept once.
    """
    items: list[BatchItem] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        item = _parse_line(number, text, defaults or {})
        if item.stem in seen:
            continue
        seen.add(item.stem)
        items.append(item)
    return items


def existing_image(out_dir: Path, stem: str) -> Path | None:
    """The image already saved for ``stem`` in ``out_dir`` (any image extension), if any."""
    for suffix in IMAGE_SUFFIXES:
        candidate = out_dir / f"{stem}{suffix}"
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None
