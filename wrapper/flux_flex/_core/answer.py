"""A Ready answer kept small: `AnswerView`, the ``raw`` of a result.

A result already holds the answer's task id, sample URL, prompt, seed and cost as fields;
keeping the parsed answer too held each of them twice, plus two dicts and their keys
(about 1.5 KB a result: 150 MB in a list of 100,000). `AnswerView` keeps only the rest of
the answer, as compact JSON text (shared between results whose rest is the same), and reads
like the original mapping: the same keys in the same order, the same values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["AnswerView", "compact_answer", "shared_number"]

# The answer's values that a result's fields hold, by where they sit in the answer.
_TOP = ("id", "cost")
_INNER = ("sample", "prompt", "seed")
_NOT_FILLED = 15  # a position that says "not filled": the key (if any) is in the rest
_LAYOUT = 3  # bytes before the rest's JSON: 4 bits of position for each of the 5 values
_SHARED: dict[bytes, bytes] = {}  # one copy of each rest seen lately (many rests repeat)
_SHARED_MAX = 256


class AnswerView(Mapping[str, Any]):
    """A Ready answer whose known values live in the result's fields; read-only."""

    __slots__ = ("_cost", "_id", "_prompt", "_rest", "_sample", "_seed")

    def __init__(
        self,
        rest: bytes,
        values: tuple[str | None, float | None, str | None, str | None, int | None],
    ) -> None:
        self._rest = rest  # the layout (where each value goes), then the rest as JSON
        self._id, self._cost, self._sample, self._prompt, self._seed = values

    def _position(self, slot: int) -> int:
        return (int.from_bytes(self._rest[:_LAYOUT], "big") >> (4 * slot)) & 0xF

    def _whole(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self._rest[_LAYOUT:])
        values = (self._id, self._cost, self._sample, self._prompt, self._seed)
        top = _refill(answer, [(self._position(i), _TOP[i], values[i]) for i in range(2)])
        inner = [(self._position(2 + i), _INNER[i], values[2 + i]) for i in range(3)]
        if type(top.get("result")) is dict:
            top["result"] = _refill(top["result"], inner)
        return top

    def __getitem__(self, key: str) -> Any:
        return self._whole()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())

    def __repr__(self) -> str:
        return repr(self._whole())

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self._whole(),))  # pickled as the plain dict it stands for


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
    raw: Mapping[str, Any],
    *,
    task_id: str | None,
    sample: str | None,
    prompt: str | None,
    seed: int | None,
    cost: float | None,
) -> Mapping[str, Any]:
    """``raw`` as an `AnswerView` over these field values; ``raw`` itself when it is not a
    plain JSON object (a caller's own mapping, values JSON cannot hold)."""
    if isinstance(raw, AnswerView):
        raw = raw._whole()
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
    if json.loads(text) != rest:  # a value JSON would change (a tuple, a non-str key...)
        return raw
    layout = sum(at << (4 * slot) for slot, at in enumerate(positions))
    encoded = layout.to_bytes(_LAYOUT, "big") + text.encode("utf-8")
    shared = _SHARED.setdefault(encoded, encoded)
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.clear()
    fields = (task_id, cost, sample, prompt, seed)
    values = tuple(
        field if at != _NOT_FILLED else None for field, at in zip(fields, positions, strict=True)
    )
    view = AnswerView(shared, values)  # type: ignore[arg-type]
    return view if view._whole() == raw else raw  # never a view that reads differently


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
