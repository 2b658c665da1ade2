"""Compare spec/ with the vendor's published OpenAPI document (``make upstream-check``).

    python scripts/upstream_check.py [PATH_OR_URL]   # default: https://api.bfl.ai/openapi.json

Only what describes our operations is compared: the FLEX request body, each operation's
answers (``get_result``'s two 200 shapes and its status enum, the submission's shapes, the
output-format enum), ``get_result``'s query, ``/v1/credits``, and who needs the key. The
comparison is structural, never by component name (the vendor's names, titles, ``$ref`` or
inline forms differ from ours), and on schemas reduced to what they allow: ``anyOf`` with an
empty schema ``{}`` allows any value, so FastAPI's ``anyOf: [{}, {type: null}]`` is the same
as no schema at all. What spec/ marks ``x-flux-flex`` is ours, not drift. Descriptions,
titles and examples are not compared.

The vendor's document also describes its other models and tools (FLUX 3, the other FLUX.2
endpoints, ``/v1/flux-tools/...``). Those are listed once, on stderr, as "other endpoints, not
followed"; they are never drift.

Exit 0: in step. Exit 1: drift, one difference per line on stdout, each named by its path
(``request.width: maximum added: 2048``). Exit 2: a document could not be read, with why.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "flux2-flex.openapi.yaml"
DEFAULT_SOURCE = "https://api.bfl.ai/openapi.json"
MARK = "x-flux-flex"
MAX_BYTES = 32 * 1024 * 1024  # the vendor's document is far smaller; a bound, not a guess

# Our name for an operation -> where it lives in both documents.
OPERATIONS = {
    "submit": ("/v1/flux-2-flex", "post"),
    "get_result": ("/v1/get_result", "get"),
    "credits": ("/v1/credits", "get"),
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Enums reported once under their own name, not under every path (every shape) using them.
ENUM_HOMES = {
    re.compile(r"get_result\.200(\[[^\]]*\])?\.status"): "status",
    re.compile(r"request\.output_format"): "output_format",
}


class Unreadable(Exception):
    """A document could not be read, parsed, or resolved; the message says why (one line)."""


# -- reading ------------------------------------------------------------------------------
def read_document(source: str, timeout: float = 20.0) -> dict[str, Any]:
    """The OpenAPI document at ``source`` (a path or an http(s) URL), JSON or YAML."""
    if source.startswith(("http://", "https://")):
        text = _fetch(source, timeout)
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Unreadable(f"cannot read the file: {exc}") from exc
    return parse_document(text)


def _fetch(url: str, timeout: float) -> str:
    """The body of a 200 answer, whole within ``timeout`` seconds (httpx's timeout bounds
    each read; a server dripping bytes is stopped by the overall deadline here)."""
    import httpx

    deadline = time.monotonic() + timeout
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise Unreadable(f"HTTP {response.status_code} from {url}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise Unreadable(f"{url} sent more than {MAX_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise Unreadable(f"{url} did not send its document within {timeout:g} s")
            return body.decode(response.encoding or "utf-8", errors="replace")
    except httpx.HTTPError as exc:
        raise Unreadable(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc


def parse_document(text: str) -> dict[str, Any]:
    """JSON first (what the vendor serves), YAML otherwise; it must look like OpenAPI."""
    import yaml

    try:
        document = json.loads(text)
    except ValueError as json_error:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            raise Unreadable(f"neither JSON nor YAML: {json_error}") from json_error
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        what = type(document).__name__ if not isinstance(document, dict) else "no `paths`"
        raise Unreadable(f"not an OpenAPI document ({what})")
    return document


# -- our marks ----------------------------------------------------------------------------
def without_ours(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` minus what it marks as ours: nodes with ``x-flux-flex: {ours: true}``
    (and ``$ref``s to them), the keys a node lists in ``x-flux-flex: {ours-keys: [...]}``,
    and the marks themselves; plus the vendor's keys a node leaves out and records in
    ``x-flux-flex: {vendor-keys: {...}}``. What is left is the vendor's document."""

    def ours(node: Any) -> bool:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            try:
                node = _pointer(document, node["$ref"])
            except Unreadable:
                return False
        return isinstance(node, dict) and bool((node.get(MARK) or {}).get("ours"))

    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node if not ours(item)]
        if not isinstance(node, dict):
            return node
        mark = node.get(MARK) or {}
        dropped = set(mark.get("ours-keys", ())) | {MARK}
        kept = {k: strip(v) for k, v in node.items() if k not in dropped and not ours(v)}
        return {**kept, **copy.deepcopy(mark.get("vendor-keys", {}))}

    return strip(document)  # type: ignore[no-any-return]


# -- schemas reduced to what is compared ----------------------------------------------------
FACTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "format",
    "default",
)


@dataclass
class Shape:
    """A schema as the check sees it: no names, titles, descriptions or examples."""

    types: tuple[str, ...] = ()  # sorted JSON types other than null
    nullable: bool = False
    anything: bool = False  # no constraint at all: any value, null included
    facts: dict[str, Any] = field(default_factory=dict)
    enum: tuple[Any, ...] | None = None
    properties: dict[str, Shape] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    closed: bool = False  # additionalProperties: false
    items: Shape | None = None
    variants: list[Shape] = field(default_factory=list)  # two or more non-null branches


def _pointer(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise Unreadable(f"only local $refs are supported, not {ref!r}")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise Unreadable(f"$ref {ref!r} does not resolve")
        node = node[part]
    return node


def _flat(node: Any, document: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """``node`` with its ``$ref`` followed (siblings win) and its ``allOf`` merged in."""
    if depth > 64:
        raise Unreadable("$ref or allOf nesting too deep (a cycle?)")
    if not isinstance(node, dict):
        return {}  # a boolean schema: nothing to compare
    if isinstance(node.get("$ref"), str):
        target = _flat(_pointer(document, node["$ref"]), document, depth + 1)
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "allOf" in node:
        merged: dict[str, Any] = {}
        for member in [*node["allOf"], {k: v for k, v in node.items() if k != "allOf"}]:
            flat = _flat(member, document, depth + 1)
            merged = {
                **merged,
                **flat,
                "properties": {**merged.get("properties", {}), **flat.get("properties", {})},
                "required": [*merged.get("required", []), *flat.get("required", [])],
            }
        node = merged
    return dict(node)


# Keywords that say nothing about which values a schema allows.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "example",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "nullable",  # on a schema that allows any value, null is allowed already
    }
)


def _allows_anything(raw: dict[str, Any]) -> bool:
    """True for a schema with no constraint at all: ``{}``, ``true``, or only annotations."""
    return all(k in _ANNOTATIONS or k.startswith("x-") for k in raw)


def shape_of(node: Any, document: dict[str, Any], depth: int = 0) -> Shape:
    """Reduce a schema of ``document`` to a Shape (3.1 and 3.0 nullability both understood).

    Normalised to what the schema allows, so two ways of writing the same thing compare
    equal: a schema that allows any value is ``Shape()`` (null is one of its values, so it is
    never "nullable" on top), however it is written (no keywords, ``{}``, ``true``, or an
    ``anyOf``/``oneOf`` with such a branch, as FastAPI writes ``Any | None``).
    """
    if depth > 64:
        raise Unreadable("schemas nested too deep (a cycle?)")
    raw = _flat(node, document)
    shape = Shape(facts=_facts(raw))
    branches = [_flat(b, document) for b in raw.get("anyOf", raw.get("oneOf", []))]
    outer = {k: v for k, v in raw.items() if k not in ("anyOf", "oneOf")}
    if _allows_anything(outer) and (not branches or any(map(_allows_anything, branches))):
        shape.anything = True
        return shape
    values = [b for b in branches if not _is_null(b)]
    shape.nullable = len(values) < len(branches) or raw.get("nullable") is True
    if len(values) == 1:
        inner = shape_of(values[0], document, depth + 1)
        inner.facts = {**inner.facts, **shape.facts}
        inner.nullable = inner.nullable or shape.nullable
        return inner
    if values:
        shape.variants = [shape_of(b, document, depth + 1) for b in values]
    types = raw.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    shape.nullable = shape.nullable or "null" in types
    shape.types = tuple(sorted(t for t in types if t != "null"))
    if "enum" in raw or "const" in raw:
        allowed = raw["enum"] if "enum" in raw else [raw["const"]]
        shape.nullable = shape.nullable or None in allowed
        shape.enum = tuple(v for v in allowed if v is not None)
    shape.properties = {
        name: shape_of(prop, document, depth + 1)
        for name, prop in (raw.get("properties") or {}).items()
    }
    shape.required = frozenset(raw.get("required", ()))
    shape.closed = raw.get("additionalProperties") is False
    if "items" in raw:
        shape.items = shape_of(raw["items"], document, depth + 1)
    return shape


def _facts(raw: dict[str, Any]) -> dict[str, Any]:
    facts = {k: raw[k] for k in FACTS if k in raw}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if facts.get(exclusive) is True and bound in facts:  # OpenAPI 3.0's boolean form
            facts[exclusive] = facts.pop(bound)
        elif facts.get(exclusive) is False:
            del facts[exclusive]
    return facts


def _is_null(raw: dict[str, Any]) -> bool:
    return raw.get("type") in ("null", ["null"]) or raw.get("enum") == [None]


# -- comparing shapes -----------------------------------------------------------------------
def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 5 is 5.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _types(shape: Shape) -> str:
    if shape.anything:
        return "any value"
    return " or ".join(shape.types) or ("one of several" if shape.variants else "any")


def _kind(shape: Shape) -> str:
    return f"{_types(shape)} or null" if shape.nullable else _types(shape)


def _summary(shape: Shape) -> str:
    """``integer (minimum 0, maximum 0)``, ``object with id, status``."""
    if shape.properties:
        return f"object with {', '.join(shape.properties)}"
    facts = ", ".join(f"{k} {_show(v)}" for k, v in shape.facts.items())
    return f"{_kind(shape)} ({facts})" if facts else _kind(shape)


def compare_shapes(path: str, ours: Shape, theirs: Shape) -> Iterator[str]:
    """Every difference between two shapes, as ``path: what changed`` (ours -> theirs)."""
    if ours.variants or theirs.variants:
        # Branches are compared pairwise; what is left is the outer node (null, default).
        yield from _compare_variants(path, _branches(ours), _branches(theirs))
        yield from compare_shapes(path, _outer(ours), _outer(theirs))
        return
    if ours.anything != theirs.anything:
        # One side allows any value: its null, types and fields have nothing to pair with.
        yield f"{path}: type changed: {_kind(ours)} -> {_kind(theirs)}"
        return
    if ours.types != theirs.types:
        yield f"{path}: type changed: {_types(ours)} -> {_types(theirs)}"
    if ours.nullable != theirs.nullable:
        yield f"{path}: null {'allowed' if theirs.nullable else 'no longer allowed'}"
    for key in sorted(set(ours.facts) | set(theirs.facts), key=FACTS.index):
        mine, vendor = ours.facts.get(key), theirs.facts.get(key)
        if key not in theirs.facts:
            yield f"{path}: {key} removed (was {_show(mine)})"
        elif key not in ours.facts:
            yield f"{path}: {key} added: {_show(vendor)}"
        elif not _same(mine, vendor):
            yield f"{path}: {key} changed: {_show(mine)} -> {_show(vendor)}"
    yield from _compare_enums(path, ours.enum, theirs.enum)
    for name in [*ours.properties, *(n for n in theirs.properties if n not in ours.properties)]:
        where = f"{path}.{name}"
        if name not in theirs.properties:
            yield f"{where}: removed"
        elif name not in ours.properties:
            required = ", required" if name in theirs.required else ""
            yield f"{where}: added ({_kind(theirs.properties[name])}{required})"
        else:
            if (name in ours.required) != (name in theirs.required):
                yield f"{where}: required {'added' if name in theirs.required else 'removed'}"
            yield from compare_shapes(where, ours.properties[name], theirs.properties[name])
    if ours.closed != theirs.closed:
        yield f"{path}: extra keys {'refused' if theirs.closed else 'allowed'}"
    if ours.items or theirs.items:
        yield from compare_shapes(f"{path}[]", ours.items or Shape(), theirs.items or Shape())


def _branches(shape: Shape) -> list[Shape]:
    if shape.variants:
        return shape.variants
    return [replace(shape, nullable=False, facts=_without_default(shape.facts))]


def _outer(shape: Shape) -> Shape:
    default = {"default": shape.facts["default"]} if "default" in shape.facts else {}
    return Shape(nullable=shape.nullable, facts=default)


def _without_default(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k != "default"}


def _compare_enums(
    path: str, ours: tuple[Any, ...] | None, theirs: tuple[Any, ...] | None
) -> Iterator[str]:
    if ours is None and theirs is None:
        return
    if theirs is None:
        yield f"{path}: enum removed (any value allowed)"
        return
    if ours is None:
        yield f"{path}: enum added: {', '.join(map(_show, theirs))}"
        return
    for value in theirs:
        if not any(_same(value, known) for known in ours):
            yield f"{path}: value added: {_show(value)}"
    for value in ours:
        if not any(_same(value, new) for new in theirs):
            yield f"{path}: value removed: {_show(value)}"


def _label(shape: Shape, siblings: list[Shape]) -> str:
    """A name-free label: an object shape by the fields only it has (``with cost``, or
    ``plain`` when it has none of its own), anything else by its summary."""
    others = [s for s in siblings if s is not shape]
    if shape.properties and others:
        own = [n for n in shape.properties if not all(n in s.properties for s in others)]
        return f"with {', '.join(own)}" if own else "plain"
    return _summary(shape)


def _compare_variants(path: str, ours: list[Shape], theirs: list[Shape]) -> Iterator[str]:
    """Pair each of our shapes with the vendor's closest one (fewest differences), then
    compare the pairs; an unpaired shape was added or removed."""

    def cost(a: Shape, b: Shape) -> int:
        return len(list(compare_shapes("", a, b)))

    def alone(s: Shape) -> float:
        # Half its size: a pair is kept while it differs in fewer places than it has.
        return (1 + len(s.properties) + len(s.facts)) / 2

    # Brute force over the pairings: an anyOf has a handful of branches at most.
    slots: list[int | None] = [*range(len(theirs)), *[None] * len(ours)]
    best: tuple[float, tuple[int | None, ...]] = (float("inf"), ())
    for choice in itertools.islice(itertools.permutations(slots, len(ours)), 50_000):
        pairs = zip(ours, choice, strict=True)
        total = sum(alone(a) if j is None else cost(a, theirs[j]) for a, j in pairs)
        total += sum(alone(b) for j, b in enumerate(theirs) if j not in choice)
        if total < best[0]:
            best = (total, choice)
    pairing = best[1]
    for a, j in zip(ours, pairing, strict=True):
        where = f"{path}[{_label(a, ours)}]"
        if j is None:
            yield f"{where}: shape removed"
        else:
            yield from compare_shapes(where, a, theirs[j])
    for j, b in enumerate(theirs):
        if j not in pairing:
            yield f"{path}: shape added: {_summary(b)}"


# -- comparing documents ------------------------------------------------------------------
def compare_documents(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Every difference between our spec (marks honoured) and the vendor's document."""
    ours = without_ours(ours)
    out: list[str] = []
    for name, (route, method) in OPERATIONS.items():
        mine = (ours["paths"].get(route) or {}).get(method)
        vendor = (theirs["paths"].get(route) or {}).get(method)
        if vendor is None:
            out.append(f"{name}: operation removed ({method.upper()} {route})")
        elif mine is not None:
            out += _compare_operation(name, (ours, mine), (theirs, vendor))
    return _move_enums_home(out)


def other_endpoints(theirs: dict[str, Any]) -> list[str]:
    """The vendor's operations this check does not follow (``POST /v1/flux-3-image``…), in
    the document's order: its other models and tools, never drift."""
    followed = {(route, method) for route, method in OPERATIONS.values()}
    return [
        f"{method.upper()} {route}"
        for route, item in theirs["paths"].items()
        for method in HTTP_METHODS
        if isinstance(item, dict) and method in item and (route, method) not in followed
    ]


Side = tuple[dict[str, Any], dict[str, Any]]  # (document, operation)


def _compare_operation(name: str, ours: Side, theirs: Side) -> Iterator[str]:
    yield from _compare_security(name, ours, theirs)
    for where in ("query", "path", "header"):
        yield from compare_shapes(
            f"{name}.{where}", _parameters(ours, where), _parameters(theirs, where)
        )
    yield from _compare_bodies(
        "request" if name == "submit" else f"{name}.request", _body(ours), _body(theirs)
    )
    mine, vendor = _responses(ours), _responses(theirs)
    for status in sorted(set(mine) | set(vendor)):
        where = f"{name}.{status}"
        if status not in vendor:
            yield f"{where}: response removed"
        elif status not in mine:
            yield f"{where}: response added"
        else:
            yield from _compare_bodies(where, mine[status], vendor[status])


def _compare_bodies(path: str, ours: Shape | None, theirs: Shape | None) -> Iterator[str]:
    if ours is None and theirs is not None:
        yield f"{path}: JSON body added"
    elif ours is not None and theirs is None:
        yield f"{path}: JSON body removed"
    elif ours is not None and theirs is not None:
        yield from compare_shapes(path, ours, theirs)


def _resolved(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node = _pointer(document, node["$ref"])
    return node


def _json_shape(document: dict[str, Any], holder: Any) -> Shape | None:
    """The shape of the ``application/json`` content of a request body or a response."""
    content = (_resolved(document, holder) or {}).get("content") or {}
    media = next((v for k, v in content.items() if k.split(";")[0].strip().endswith("json")), None)
    if media is None or "schema" not in media:
        return None
    return shape_of(media["schema"], document)


def _body(side: Side) -> Shape | None:
    document, operation = side
    return _json_shape(document, operation.get("requestBody"))


def _responses(side: Side) -> dict[str, Shape | None]:
    document, operation = side
    return {str(k): _json_shape(document, v) for k, v in operation.get("responses", {}).items()}


def _parameters(side: Side, where: str) -> Shape:
    """The operation's parameters in ``where`` as one object shape (name -> schema)."""
    document, operation = side
    params = [_resolved(document, p) for p in operation.get("parameters", [])]
    params = [p for p in params if p.get("in") == where]
    return Shape(
        properties={p["name"]: shape_of(p.get("schema", {}), document) for p in params},
        required=frozenset(p["name"] for p in params if p.get("required")),
    )


def _compare_security(name: str, ours: Side, theirs: Side) -> Iterator[str]:
    mine, vendor = _security(ours), _security(theirs)
    for scheme in sorted(vendor - mine):
        yield f"{name}: security added: {scheme}"
    for scheme in sorted(mine - vendor):
        yield f"{name}: security removed: {scheme}"


def _security(side: Side) -> set[str]:
    """How the operation wants to be authenticated, by scheme (not by scheme name)."""
    document, operation = side
    requirements = operation.get("security", document.get("security")) or []
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    out = set()
    for requirement in requirements:
        for scheme_name in requirement:
            scheme = _resolved(document, schemes.get(scheme_name, {}))
            parts = (scheme.get("type"), scheme.get("in"), scheme.get("name"), scheme.get("scheme"))
            out.add(" ".join(str(p) for p in parts if p) or scheme_name)
    return out


def _move_enums_home(lines: list[str]) -> list[str]:
    """Report the status and output-format enums once, under their own names."""
    out: list[str] = []
    for line in lines:
        path, _, what = line.partition(": ")
        if what.startswith(("value ", "enum ")):
            home = next((h for p, h in ENUM_HOMES.items() if p.fullmatch(path)), path)
            line = f"{home}: {what}"
        if line not in out:
            out.append(line)
    return out


# -- command line ---------------------------------------------------------------------------
def _compare_or_refuse(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The differences and the other endpoints, or Unreadable."""
    try:
        return compare_documents(ours, theirs), other_endpoints(theirs)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # A node of the wrong kind where OpenAPI puts an object, a list or a name.
        raise Unreadable(f"not a usable OpenAPI document ({type(exc).__name__}: {exc})") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=DEFAULT_SOURCE, help="path or http(s) URL")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds for a URL")
    args = parser.parse_args(argv)
    try:
        ours = read_document(str(SPEC))
    except Unreadable as exc:
        print(f"upstream-check: cannot read spec/: {exc}", file=sys.stderr)
        return 2
    try:
        differences, others = _compare_or_refuse(ours, read_document(args.source, args.timeout))
    except Unreadable as exc:
        why = " ".join(str(exc).split())
        print(f"upstream-check: cannot use {args.source}: {why}", file=sys.stderr)
        return 2
    revision = ours["info"].get("x-vendor-revision", "?")
    if differences:
        print("\n".join(differences), flush=True)
    else:
        print(f"spec/ is in step with {args.source} (vendor revision {revision}).", flush=True)
    if others:  # after the verdict, on stderr: stdout stays the verdict alone
        listed = "".join(f"\n  {endpoint}" for endpoint in others)
        print(f"other endpoints, not followed ({len(others)}):{listed}", file=sys.stderr)
    if not differences:
        return 0
    print(
        f"upstream-check: {len(differences)} difference(s) between spec/ (vendor revision "
        f"{revision}) and {args.source}. Update spec/ (docs/maintainers/vendor.md).",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
