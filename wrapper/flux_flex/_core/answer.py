"""A Ready answer kept small: what a result stores of its ``raw`` answer.

A result already holds the answer's task id, sample URL, prompt, seed and cost as fields;
keeping the parsed answer too held each of them twice, plus two dicts and their keys
(1.4 to 2 KB a result: up to 200 MB in a list of 100,000). `compact_answer` keeps only the
rest of the answer, as compact JSON bytes (shared between results whose rest is the same)
after 3 bytes saying where each field's value sat; `expand_answer` gives the answer back
whole: the same keys in the same order, the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["compact_answer", "expand_answer", "shared_number"]

# The answer's values that a result's fields hold, by where they sit in the answer.
_TOP = ("id", "cost")
_INNER = ("sample", "prompt", "seed")
_NOT_FILLED = 15  # a position that says "not filled": the key (if any) is in the rest
_LAYOUT = 3  # bytes before the rest's JSON: 4 bits of position for each of the 5 values
_SHARED: dict[bytes, bytes] = {}  # one copy of each rest seen lately (many rests repeat)
_SHARED_MAX = 256


def _position(rest: bytes, slot: int) -> int:
    return (int.from_bytes(rest[:_LAYOUT], "big") >> (4 * slot)) & 0xF


def expand_answer(
    stored: bytes | Mapping[str, Any],
    *,
    task_id: str | None,
    sample: str | None,
    prompt: str | None,
    seed: int | None,
    cost: float | None,
) -> Mapping[str, Any]:
    """The answer `compact_answer` stored, whole again (a new dict), with these fields'
    values put back where they were; a mapping that was stored as is, as it is."""
    if not isinstance(stored, bytes):
        return stored
    answer: dict[str, Any] = json.loads(stored[_LAYOUT:])
    top = _refill(
        answer, [(_position(stored, 0), "id", task_id), (_position(stored, 1), "cost", cost)]
    )
    inner = [
        (_position(stored, 2), "sample", sample),
        (_position(stored, 3), "prompt", prompt),
        (_position(stored, 4), "seed", seed),
    ]
    if type(top.get("result")) is dict:
        top["result"] = _refill(top["result"], inner)
    return top


def _refill(part: dict[str, Any], known: list[tuple[int, str, Any]]) -> dict[str, Any]:
    """``part`` with each known key put back at its position (ascending, so each lands
    where it was)."""
    wanted = sorted((at, key, value) for at, key, value in known if at != _NOT_FILLED)
    if not wanted:
        return part
    items = list(part.items())
    for at, key, value in wanted:
        items.insert(at, (key, value))
    return dict(items)


def _same(value: Any, field: Any) -> bool:
    return field is not None and type(value) is type(field) and value == field


def _take(part: dict[str, Any], keys: tuple[str, ...], fields: tuple[Any, ...]) -> list[int]:
    """Remove from ``part`` each key whose value its field holds; the positions they had."""
    order = list(part)
    positions = []
    for key, field in zip(keys, fields, strict=True):
        at = order.index(key) if key in part else _NOT_FILLED
        if at < _NOT_FILLED and _same(part[key], field):
            positions.append(at)
        else:
            positions.append(_NOT_FILLED)
    for key, at in zip(keys, positions, strict=True):
        if at != _NOT_FILLED:
            del part[key]
    return positions


def compact_answer(
    raw: Mapping[str, Any] | bytes,
    *,
    task_id: str | None,
    sample: str | None,
    prompt: str | None,
    seed: int | None,
    cost: float | None,
) -> bytes | Mapping[str, Any]:
    """``raw`` as compact bytes (see the module), given the fields' values that
    `expand_answer` will put back; ``raw`` itself when it is not a plain JSON object (a
    caller's own mapping, values JSON cannot hold) or is already compact."""
    if type(raw) is not dict or not raw:
        return raw
    rest = dict(raw)
    positions = _take(rest, _TOP, (task_id, cost))
    result = rest.get("result")
    if type(result) is dict:
        result = rest["result"] = dict(result)
        positions += _take(result, _INNER, (sample, prompt, seed))
    else:
        positions += [_NOT_FILLED] * len(_INNER)
    try:
        text = json.dumps(rest, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return raw
    layout = sum(at << (4 * slot) for slot, at in enumerate(positions))
    encoded = layout.to_bytes(_LAYOUT, "big") + text.encode("utf-8")
    again = expand_answer(
        encoded, task_id=task_id, sample=sample, prompt=prompt, seed=seed, cost=cost
    )
    if again != raw:  # never stored in a form that reads otherwise
        return raw
    shared = _SHARED.setdefault(encoded, encoded)
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.clear()
    return shared


_NUMBERS: dict[tuple[type, float], float] = {}


def shared_number(value: float | None) -> float | None:
    """``value``, as one object shared by every equal number seen lately (costs repeat:
    5.24 credits for every 1 MP image)."""
    if value is None:
        return None
    shared = _NUMBERS.setdefault((type(value), value), value)
    if len(_NUMBERS) > _SHARED_MAX:
        _NUMBERS.clear()
    return shared
