"""The batch input file and the stable file name of each item's image (pure functions).

Format: UTF-8 text, one prompt per line, or one JSON object per line with ``prompt`` and
any ``submit`` parameter (``width``, ``seed``, ``output_format``, ``user``…) plus an
optional ``name``. Blank lines and lines starting with ``#`` are ignored; both forms may be
mixed.

File names: ``<slug>-<hash>.<ext>``: the slug is the prompt's first words (lowercase ASCII,
dashes, at most 40 characters), or the line's ``name``; the hash is the first 10 hex digits
of the SHA-256 of the item's canonical JSON (prompt and every parameter). The same request
always maps to the same file, whatever its line number, so a re-run finds what already
exists, and a changed parameter makes a new image (named lines included).

Every line is read before anything is decided: `parse_prompts` reports every bad line at
once (`PromptsFileError.problems`), each as ``line N: <key as written>: <what is wrong>``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from flux_flex._core.sniff import EXTENSIONS
from flux_flex.params import SubmitParams

__all__ = [
    "IMAGE_SUFFIXES",
    "SUBMIT_KEYS",
    "BatchItem",
    "PromptsFileError",
    "existing_image",
    "format_for_suffix",
    "line_of",
    "parse_prompts",
    "scan_prompts",
    "slugify",
    "suffix_for_format",
]

# Keys a JSON line may carry: `submit`'s parameters, less the webhook secret (a secret has
# no place in a prompts file; --webhook-secret-env sets it) and the blob path; plus ``name``.
SUBMIT_KEYS = frozenset(SubmitParams.__optional_keys__) - {
    "webhook_secret",
    "input_image_blob_path",
}
LINE_KEYS = SUBMIT_KEYS | {"prompt", "name"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_FORMAT_OF_SUFFIX = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_SLUG_LENGTH = 40
_QUOTE_LIMIT = 40


class PromptsFileError(ValueError):
    """The prompts file cannot be used as a batch. ``problems``: one line per bad line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("; ".join(self.problems))


@attrs.frozen
class BatchItem:
    """One request of a batch: where it came from, what to send, where its image goes.

    ``written`` maps each parameter to how the user wrote it (the JSON key of the line, or
    the command-line option that set it for every line), so errors use the user's words.
    """

    line: int
    prompt: str
    params: Mapping[str, Any]
    stem: str
    written: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    def request(self) -> dict[str, Any]:
        """The request as ``generate_many`` takes it: ``prompt`` plus submit parameters."""
        return {"prompt": self.prompt, **self.params}


def format_for_suffix(name: str) -> str | None:
    """The output format an image file name's extension asks for (``.jpg`` -> jpeg)."""
    return _FORMAT_OF_SUFFIX.get(Path(name).suffix.lower())


def suffix_for_format(output_format: str | None) -> str:
    """The extension of an image in ``output_format`` (the API's default is jpeg)."""
    return EXTENSIONS.get(output_format or "jpeg", ".jpg")


def slugify(text: str, length: int = _SLUG_LENGTH) -> str:
    """Lowercase ASCII words joined by dashes, cut at a dash within ``length``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > length:
        cut = slug[:length]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug or "image"


def request_hash(prompt: str, params: Mapping[str, Any]) -> str:
    """The first 10 hex digits of the SHA-256 of the request's canonical JSON."""
    canonical = json.dumps({"prompt": prompt, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def _quote(text: str) -> str:
    shown = text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _unknown_key(key: str) -> str:
    if key == "webhook_secret":
        return "webhook_secret: a secret has no place in a prompts file; remove it"
    close = difflib.get_close_matches(key, sorted(LINE_KEYS), n=1, cutoff=0.6)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f"unknown key {_quote(key)}{hint}; allowed: {', '.join(sorted(LINE_KEYS))}"


def _name_problem(name: Any, params: Mapping[str, Any]) -> str | None:
    if not isinstance(name, str) or not name or Path(name).name != name or name in {".", ".."}:
        return 'name: must be a plain file name (no folder), e.g. "lake" or "lake.png"'
    suffix = Path(name).suffix.lower()
    wanted = params.get("output_format")
    asked = _FORMAT_OF_SUFFIX.get(suffix)
    if asked and wanted and asked != wanted:
        return (
            f"name: the extension {suffix} contradicts output_format {_quote(str(wanted))}; "
            "drop one of them"
        )
    return None


def _parse_line(
    number: int, text: str, defaults: Mapping[str, Any], options: Mapping[str, str]
) -> BatchItem | list[str]:
    """The item of one non-blank line, or the problems found in it."""
    default_written = {key: options.get(key, key) for key in defaults}
    if not text.startswith("{"):
        params = dict(defaults)
        stem = f"{slugify(text)}-{request_hash(text, params)}"
        return BatchItem(number, text, params, stem, default_written)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [
            f"line {number}: not valid JSON ({exc.msg} at column {exc.colno}); "
            "a line starting with { must be one JSON object"
        ]
    if not isinstance(data, dict):
        return [f"line {number}: a JSON line must be an object"]
    problems = [f"line {number}: {_unknown_key(key)}" for key in data if key not in LINE_KEYS]
    prompt = data.pop("prompt", None)
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(f'line {number}: prompt: a JSON line needs a non-empty "prompt" string')
    name = data.pop("name", None)
    params = {**defaults, **{k: v for k, v in data.items() if k in SUBMIT_KEYS}}
    if name is not None:
        name_problem = _name_problem(name, params)
        if name_problem:
            problems.append(f"line {number}: {name_problem}")
    if problems:
        return problems
    assert isinstance(prompt, str)
    written = {**default_written, **{key: key for key in data}}
    if name is None:
        stem = f"{slugify(prompt)}-{request_hash(prompt, params)}"
        return BatchItem(number, prompt, params, stem, written)
    asked = format_for_suffix(name)
    if asked and "output_format" not in params:  # "name": "lake.png" asks for a PNG
        params["output_format"] = asked
        written["output_format"] = "name"
    base = Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name
    return BatchItem(number, prompt, params, f"{base}-{request_hash(prompt, params)}", written)


def parse_prompts(
    lines: Iterable[str | bytes],
    defaults: Mapping[str, Any] | None = None,
    *,
    options: Mapping[str, str] | None = None,
) -> list[BatchItem]:
    """The items of a prompts file; raises `PromptsFileError` listing every bad line.

    See `scan_prompts` for the arguments.
    """
    items, problems = scan_prompts(lines, defaults, options=options)
    if problems:
        raise PromptsFileError(problems)
    return items


def scan_prompts(
    lines: Iterable[str | bytes],
    defaults: Mapping[str, Any] | None = None,
    *,
    options: Mapping[str, str] | None = None,
) -> tuple[list[BatchItem], list[str]]:
    """The items of the good lines of a prompts file, and a problem for each bad line.

    ``defaults`` apply where a line sets no value. ``lines`` may be bytes (decoded as
    UTF-8; a line that is not is reported) or text. ``options`` maps a default's key to the
    option that set it (for messages). Requests that map to the same file (the same prompt
    and parameters twice) are kept once.
    """
    items: list[BatchItem] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(
                    f"line {number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                )
                continue
        text = (raw.lstrip("\ufeff") if number == 1 else raw).strip()
        if not text or text.startswith("#"):
            continue
        parsed = _parse_line(number, text, defaults or {}, options or {})
        if isinstance(parsed, list):
            problems.extend(parsed)
            continue
        if parsed.stem in seen:
            continue
        seen.add(parsed.stem)
        items.append(parsed)
    return items, problems


def line_of(problem: str) -> int:
    """The line number a problem (``line N: ...``) is about, to sort problems by line."""
    match = re.match(r"line (\d+):", problem)
    return int(match.group(1)) if match else 0


def existing_image(out_dir: Path, stem: str) -> Path | None:
    """The image already saved for ``stem`` in ``out_dir`` (any image extension), if any."""
    for suffix in IMAGE_SUFFIXES:
        candidate = out_dir / f"{stem}{suffix}"
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None
