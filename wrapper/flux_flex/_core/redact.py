"""What may be shown: secrets masked in any text or JSON-like value, URLs made fit for logs.

The one masking rule of the project (errors, their attributes, messages built from answers):

* every secret (the API key, a webhook secret) of at least `MIN_SECRET` characters is
  replaced by ``***`` wherever it appears: as is, JSON-escaped (``\\"``, ``\\u00e9``…) and
  URL-encoded (``%2F`` and ``+`` forms), in strings, dict keys and values, lists, nested
  at any depth;
* any run of `MIN_FRAGMENT` or more consecutive characters of a secret is masked as well (a
  server that echoes a truncated key still leaks most of it). Shorter echoes stay: the
  "sk-ab…wxyz" style hint some APIs give names a key without revealing it, and masking every
  4-character coincidence would garble ordinary text;
* secrets shorter than `MIN_SECRET` characters are not masked (masking them would mask
  ordinary words), nor are base64 or other encodings of a secret.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Generator, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import attrs

__all__ = [
    "MASK",
    "MIN_FRAGMENT",
    "MIN_SECRET",
    "mask_answer",
    "mask_error",
    "mask_secrets",
    "masked_flow",
    "safe_url",
]

MASK = "***"
MIN_SECRET = 4
MIN_FRAGMENT = 8


def _usable(secrets: Iterable[object]) -> tuple[str, ...]:
    found = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET}
    # Longest first: a secret that contains another is masked whole.
    return tuple(sorted(found, key=len, reverse=True))


def _forms(secret: str) -> list[str]:
    """The secret as it may appear in text: raw, JSON-escaped, URL-encoded; longest first."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return sorted(forms, key=len, reverse=True)


def _mask_text(text: str, secrets: tuple[str, ...]) -> str:
    # Until nothing changes: a mask next to what is left could spell a secret again
    # ("x***" in "xx***"). Each change shortens the text, so this ends.
    while True:
        masked = _mask_once(text, secrets)
        if masked == text:
            return text
        text = masked


def _mask_once(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    covered: list[tuple[int, int]] = []
    for secret in secrets:
        if len(secret) < MIN_FRAGMENT:
            continue
        for start in range(len(secret) - MIN_FRAGMENT + 1):
            piece = secret[start : start + MIN_FRAGMENT]
            at = text.find(piece)
            while at != -1:
                covered.append((at, at + MIN_FRAGMENT))
                at = text.find(piece, at + 1)
    if not covered:
        return text
    # Overlapping fragments form one run, masked as one.
    covered.sort()
    out: list[str] = []
    done = 0
    run_start, run_end = covered[0]
    for begin, end in [*covered[1:], (len(text) + 1, len(text) + 1)]:
        if begin <= run_end:
            run_end = max(run_end, end)
            continue
        out.append(text[done:run_start])
        out.append(MASK)
        done = run_end
        run_start, run_end = begin, end
    out.append(text[done:])
    return "".join(out)


def _mask(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {
            (_mask_text(k, secrets) if isinstance(k, str) else k): _mask(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        masked = [_mask(v, secrets) for v in value]
        return masked if isinstance(value, list) else tuple(masked)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
        new = _mask_text(text, secrets)
        return value if new == text else new.encode("utf-8")
    if attrs.has(type(value)) and not isinstance(value, type):
        changes = {
            field.alias: _mask(getattr(value, field.name), secrets)
            for field in attrs.fields(type(value))
            if field.init and isinstance(getattr(value, field.name), str | Mapping | list | tuple)
        }
        return attrs.evolve(value, **changes) if changes else value
    return value


def mask_secrets(value: Any, secrets: Iterable[object]) -> Any:
    """``value`` with every secret masked: a string, or JSON-like data (dicts, lists, tuples,
    bytes, attrs instances) masked recursively into new objects. Other values are returned
    as they are."""
    usable = _usable(secrets)
    return _mask(value, usable) if usable else value


@functools.lru_cache(maxsize=64)
def _needles(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """What a text holds if it may show one of ``secrets``: every form of each, and every
    `MIN_FRAGMENT`-character run of it."""
    found: set[str] = set()
    for secret in secrets:
        found.update(_forms(secret))
        found.update(secret[i : i + MIN_FRAGMENT] for i in range(len(secret) - MIN_FRAGMENT + 1))
    return tuple(found)


def mask_answer(value: Any, content: bytes, secrets: Iterable[object]) -> Any:
    """`mask_secrets` for ``value`` parsed from the JSON ``content``, cheap when the answer
    holds no secret (every answer of a task goes through here): the bytes are searched
    first, and the parsed value is masked only when they may show one. JSON escapes
    (``\\``) could hide a secret from that search, so an answer with any is masked whole."""
    usable = _usable(secrets)
    if not usable:
        return value
    if b"\\" not in content:
        text = content.decode("utf-8", errors="replace")
        if not any(needle in text for needle in _needles(usable)):
            return value
    return _mask(value, usable)


def mask_error(error: BaseException, secrets: Iterable[object]) -> None:
    """Mask the secrets in ``error`` in place: its message (``args``), every attribute
    (``message``, ``body``, ``headers``, ``raw``, ``payload``, ``errors``…), and the same
    for the errors it was raised from (``__cause__``/``__context__``)."""
    usable = _usable(secrets)
    if not usable:
        return
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(_mask(arg, usable) for arg in current.args)
        for name, value in list(getattr(current, "__dict__", {}).items()):
            setattr(current, name, _mask(value, usable))
        current = current.__cause__ or current.__context__


YieldT = TypeVar("YieldT")
SendT = TypeVar("SendT")
ReturnT = TypeVar("ReturnT")


def masked_flow(
    flow: Generator[YieldT, SendT, ReturnT], secrets: Iterable[object]
) -> Generator[YieldT, SendT, ReturnT]:
    """``flow`` unchanged, except that any exception it raises has ``secrets`` masked
    (`mask_error`) on its way out: one place guarantees it for every error of a flow."""
    try:
        return (yield from flow)
    except Exception as error:
        mask_error(error, secrets)  # works out which secrets to mask only when needed
        raise


def safe_url(url: str) -> str:
    """``url`` fit for messages and logs: scheme, host, port and path only (no user info,
    no query: query strings may carry signatures or tokens)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        if parts.port is not None:
            host += f":{parts.port}"
    except ValueError:
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
