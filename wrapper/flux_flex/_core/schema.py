"""A tiny JSON-Schema interpreter for the subset the request body's schema uses.

Hand-written on purpose: the core may depend only on httpx and attrs, so `jsonschema` is not
available at run time. It covers what `Flux2FlexInputs` uses — ``type`` (``null``
included), ``anyOf``, ``$ref`` (local), ``enum``, ``minimum``/``maximum``,
``minLength``/``maxLength``, ``format: uri``, ``required``, ``properties`` and
``additionalProperties`` (``false``, or a schema the other members must match) — and
refuses to guess about anything else (an unknown keyword raises, so a spec change that
needs more is noticed by the tests rather than silently ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flux_flex._core.uri import is_uri

__all__ = ["Violation", "check", "vet"]


_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "example", "deprecated", "readOnly"}
)
_HANDLED = frozenset(
    {
        "type",
        "anyOf",
        "$ref",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "format",
        "required",
        "properties",
        "additionalProperties",
    }
)


@attrs.frozen
class Violation:
    """One failed rule: ``path`` (dotted), ``rule`` (the keyword), a readable ``message``.

    ``requirement`` is the bound as a phrase (``">= 64"``), so the branches of a failed
    ``anyOf`` can be joined into one sentence.
    """

    path: str
    rule: str
    message: str
    requirement: str = ""


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name == "null":
        return value is None
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "object":
        return isinstance(value, Mapping)
    if type_name == "array":
        return isinstance(value, list | tuple)
    raise ValueError(f"schema type {type_name!r} is not supported by this interpreter")


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def _fmt(value: Any) -> str:
    return (
        repr(value) if not isinstance(value, str) or len(value) < 60 else repr(value[:57] + "...")
    )


def _refuse_unknown_keywords(schema: Mapping[str, Any], path: str) -> None:
    unknown = (
        {k for k in schema if not k.startswith("x-")}
        - _HANDLED
        - _ANNOTATIONS
        - {
            "components",
            "$defs",
        }
    )
    if unknown:
        raise ValueError(f"schema keywords {sorted(unknown)} are not supported at {path or '/'}")


def vet(schema: Mapping[str, Any]) -> None:
    """Raise `ValueError` when ``schema``, or any schema in it or that it refers to, uses a
    keyword this interpreter does not know: what `check` raises on reaching one. A schema
    vetted once may be checked with ``vetted=True``, which skips that test at every node
    (a third of the time of checking a small body)."""
    seen: set[int] = set()

    def walk(node: Mapping[str, Any], path: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        _refuse_unknown_keywords(node, path)
        if "$ref" in node:
            walk(_resolve(node["$ref"], schema), path)
        for sub in node.get("anyOf", ()):
            walk(sub, path)
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}" if path else name)
        extra = node.get("additionalProperties", True)
        if isinstance(extra, Mapping):
            walk(extra, f"{path}.*" if path else "*")

    walk(schema, "")


def check(
    value: Any,
    schema: Mapping[str, Any],
    *,
    root: Mapping[str, Any] | None = None,
    path: str = "",
    vetted: bool = False,
) -> list[Violation]:
    """Every violation of ``schema`` by ``value`` (empty when valid); ``vetted``: `vet`
    accepted ``schema`` already."""
    root = root if root is not None else schema
    if not vetted:
        _refuse_unknown_keywords(schema, path)
    where = path or "body"
    if "$ref" in schema:
        found = check(value, _resolve(schema["$ref"], root), root=root, path=path, vetted=vetted)
        if found:
            return found
    if "anyOf" in schema:
        branches = [
            check(value, sub, root=root, path=path, vetted=vetted) for sub in schema["anyOf"]
        ]
        if all(branches):
            return [_best(branches, where, value)]
    violations: list[Violation] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return [
                Violation(
                    where,
                    "type",
                    f"{where} must be of type {' or '.join(types)}, "
                    f"not {type(value).__name__} ({_fmt(value)})",
                )
            ]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        violations.append(
            Violation(where, "enum", f"{where} must be one of {allowed}, not {_fmt(value)}")
        )
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    low, high = schema.get("minimum"), schema.get("maximum")
    if is_number and low is not None and low == high:
        if value != low:  # a 0..0 range: one allowed value (width/height's "model chooses")
            rule = "minimum" if value < low else "maximum"
            violations.append(
                Violation(where, rule, f"{where} must be {low}, not {value}", f"{low}")
            )
    else:
        if is_number and low is not None and value < low:
            violations.append(
                Violation(where, "minimum", f"{where} must be >= {low}, not {value}", f">= {low}")
            )
        if is_number and high is not None and value > high:
            violations.append(
                Violation(where, "maximum", f"{where} must be <= {high}, not {value}", f"<= {high}")
            )
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            violations.append(
                Violation(
                    where,
                    "minLength",
                    f"{where} must have at least "
                    f"{schema['minLength']} characters, not {len(value)}",
                )
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            violations.append(
                Violation(
                    where,
                    "maxLength",
                    f"{where} must have at most {schema['maxLength']} characters, not {len(value)}",
                )
            )
        if schema.get("format") == "uri" and not is_uri(value):
            violations.append(
                Violation(where, "format", f"{where} must be an absolute URI, not {_fmt(value)}")
            )
    if isinstance(value, Mapping):
        for name in schema.get("required", ()):
            if name not in value:
                field = f"{path}.{name}" if path else name
                violations.append(Violation(field, "required", f"{field} is required"))
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in value:
                field = f"{path}.{name}" if path else name
                violations.extend(check(value[name], sub, root=root, path=field, vetted=vetted))
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            for name in value:
                if name in properties:
                    continue
                field = f"{path}.{name}" if path else str(name)
                if extra is False:
                    violations.append(_unknown_field(field, str(name), properties))
                else:  # a schema every other member must match
                    violations.extend(
                        check(value[name], extra, root=root, path=field, vetted=vetted)
                    )
    return violations


def _unknown_field(field: str, name: str, properties: Mapping[str, Any]) -> Violation:
    import difflib  # only on this rare path: it is not free to import

    close = difflib.get_close_matches(name, list(properties), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return Violation(field, "additionalProperties", f"{field} is not an allowed field{hint}")


def _best(branches: list[list[Violation]], where: str, value: Any) -> Violation:
    """One readable violation for a failed ``anyOf``: the branch that got furthest.

    A branch that failed on ``type`` did not apply; among the others, a single violation
    (e.g. ``minimum``) is the most telling.
    """
    applicable = [b for b in branches if not any(v.rule == "type" for v in b)]
    if not applicable:
        return Violation(where, "type", branches[0][0].message)
    first = applicable[0][0]
    rest = [v for b in applicable[1:] for v in b]
    if not rest:
        return first
    if all(len(b) == 1 and b[0].requirement for b in applicable):
        either = " or ".join(b[0].requirement for b in applicable)
        return Violation(where, first.rule, f"{where} must be {either}, not {value}", either)
    return Violation(
        where, first.rule, f"{first.message} (or: {'; '.join(v.message for v in rest)})"
    )
